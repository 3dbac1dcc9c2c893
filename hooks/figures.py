"""MkDocs hook: render the lesson's figures at build time and add them to the site.

The figures are produced in memory from the package's plotting functions (the recipes
are in figure_recipes.py) and handed to MkDocs as generated files, so nothing is
written into docs/ (which would make ``mkdocs serve`` rebuild forever) and nothing
rendered is committed.

Rendered bytes are cached in ``.cache/figures/`` under a key made of everything that
produces them (the package source and shipped weights, the recorded benchmark results,
the recipes, this hook, library versions): editing a figure function re-renders, an
unrelated page edit does not, and a warm build never imports torch. Set
``VITLESSON_FIGURE_CACHE=off`` to always render.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.figures")
HOOKS = Path(__file__).resolve().parent
ROOT = HOOKS.parent

# site path -> (recipe in figure_recipes.py, encoding)
FIGURES = {
    "figures/patches.webp": ("patches", "webp"),
    "figures/patch-sizes.webp": ("patch_sizes", "webp"),
    "figures/position-embeddings.png": ("position_embeddings", "png"),
    "figures/attention-untrained.png": ("untrained_attention", "png"),
    "figures/benchmarks.png": ("benchmarks", "png"),
    "figures/position-embeddings-trained.png": (
        "trained_position_embeddings",
        "png",
    ),
    "figures/attention-trained.png": ("trained_attention", "png"),
    "figures/vit-pipeline.png": ("vit_pipeline", "png"),
    "figures/encoder-block.png": ("encoder_block", "png"),
    "figures/patchify-axes.png": ("patchify_axes", "png"),
    "figures/attention-matrix.png": ("attention_matrix", "png"),
    "figures/dino-step.png": ("dino_step", "png"),
    "figures/dino-views.png": ("dino_views", "png"),
    "figures/dino-training.png": ("dino_training", "png"),
    "figures/dino-ablation.png": ("dino_ablation", "png"),
    "figures/dino-attention.png": ("dino_attention", "png"),
    "figures/dino-heads.png": ("dino_heads", "png"),
}
# Width, resolution and smallest text of every figure, for the test that
# checks how large its text appears on the page.
FIGURE_META = "figures/figures.json"


def render(path: str) -> tuple[bytes, dict]:
    if str(HOOKS) not in sys.path:
        sys.path.insert(0, str(HOOKS))
    recipes = importlib.import_module("figure_recipes")
    return recipes.render(*FIGURES[path])


def cache_key() -> str:
    digest = hashlib.sha256()
    sources = sorted((ROOT / "vitlesson").rglob("*.py")) + sorted(
        (ROOT / "vitlesson" / "weights").glob("*")
    )
    sources += [
        ROOT / "docs" / "data" / "bench.json",
        HOOKS / "figure_recipes.py",
        Path(__file__).resolve(),
    ]
    for source in sources:
        digest.update(source.read_bytes())
    for package in ("torch", "matplotlib", "numpy", "pillow"):
        digest.update(version(package).encode())
    return digest.hexdigest()[:16]


def on_files(files, config):
    use_cache = os.environ.get("VITLESSON_FIGURE_CACHE", "on") != "off"
    cache = ROOT / ".cache" / "figures" / cache_key()
    start, rendered, metas = time.perf_counter(), 0, {}
    for path in FIGURES:
        cached, cached_meta = cache / path, cache / f"{path}.json"
        if use_cache and cached.exists() and cached_meta.exists():
            content = cached.read_bytes()
            meta = json.loads(cached_meta.read_text(encoding="utf-8"))
        else:
            (content, meta), rendered = render(path), rendered + 1
            if use_cache:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(content)
                cached_meta.write_text(json.dumps(meta), encoding="utf-8")
        metas[path] = meta
        files.append(File.generated(config, path, content=content))
    files.append(
        File.generated(
            config,
            FIGURE_META,
            content=json.dumps(metas, indent=1, sort_keys=True),
        )
    )
    log.info(
        f"figures: {rendered} rendered, {len(FIGURES) - rendered} cached ({time.perf_counter() - start:.2f} s)"
    )
    return files
