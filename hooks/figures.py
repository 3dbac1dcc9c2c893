"""MkDocs hook: render the lesson's figures at build time and add them to the site.

The figures are produced in memory from the package's plotting functions and
handed to MkDocs as generated files, so nothing is written into docs/ (which
would make ``mkdocs serve`` rebuild forever) and nothing rendered is committed.

Rendered bytes are cached in ``.cache/figures/`` under a key made of everything
that produces them (the package source and shipped weights, this hook, the recorded
benchmark results, library versions): editing a
figure function re-renders, an unrelated page edit does not. Set
``VITLESSON_FIGURE_CACHE=off`` to always render.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from importlib.metadata import version
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from mkdocs.structure.files import File  # noqa: E402

from vitlesson.images import normalize, sample_image  # noqa: E402
from vitlesson.bench import RECORDED  # noqa: E402
from vitlesson.plots import (  # noqa: E402
    attention_maps_figure,
    benchmark_figure,
    figure_bytes,
    patch_sizes_figure,
    patches_figure,
    position_embedding_figure,
)
from vitlesson.position import PositionalEmbedding, sincos_2d_position_embedding  # noqa: E402
from vitlesson.shapes import make_shapes, normalize_shapes  # noqa: E402
from vitlesson.train import TEST_SEED, WEIGHTS, load_trained, tiny_vit  # noqa: E402
from vitlesson.vit import vit_small  # noqa: E402

log = logging.getLogger("mkdocs.hooks.figures")
ROOT = Path(__file__).resolve().parent.parent


def _position_embeddings():
    torch.manual_seed(0)
    learnable = PositionalEmbedding(n_patches=196, embed_dim=768).position_embeddings[0, 1:]  # drop CLS
    return position_embedding_figure(
        {"learnable, at initialisation": learnable, "fixed 2-D sin-cos": sincos_2d_position_embedding(14, 768)},
        grid_size=14,
    )


def _untrained_attention():
    torch.manual_seed(0)
    model = vit_small(patch_size=16).eval()
    photo = sample_image(224)
    with torch.no_grad():
        attention = model.get_last_selfattention(normalize(photo)[None])  # (1, 6, 197, 197)
    return attention_maps_figure(photo, attention[0, :, 0, 1:], patch_size=16,
                                 title="CLS attention, last block of an untrained ViT-S/16")


def _trained_position_embeddings():
    torch.manual_seed(0)
    untrained, (trained, _) = tiny_vit(), load_trained()
    return position_embedding_figure(
        {
            "random init": untrained.pos_embed.detach()[0, 1:],
            "trained on shapes": trained.pos_embed.detach()[0, 1:],
            "fixed 2-D sin-cos": sincos_2d_position_embedding(8, 64),
        },
        grid_size=8,
    )


def _trained_attention():
    model, _ = load_trained()
    images, labels = make_shapes(4, seed=TEST_SEED)
    with torch.no_grad():
        attention = model.get_last_selfattention(normalize_shapes(images))  # (4, 4 heads, 65, 65)
        answers = model(normalize_shapes(images)).argmax(dim=1)
    names = ["square right", "square left"]
    return attention_maps_figure(
        images, attention[:, :, 0, 1:], patch_size=4,
        labels=[f"{names[y]} (model: {names[a].split()[1]})" for y, a in zip(labels.tolist(), answers.tolist())],
        title="CLS attention in the last block of the trained tiny ViT",
    )


def _benchmarks():
    return benchmark_figure(json.loads(RECORDED.read_text(encoding="utf-8")))


# site path -> (function returning a Figure, encoding)
FIGURES = {
    "figures/patches.webp": (lambda: patches_figure(sample_image(224), patch_size=16), "webp"),
    "figures/patch-sizes.webp": (patch_sizes_figure, "webp"),
    "figures/position-embeddings.png": (_position_embeddings, "png"),
    "figures/attention-untrained.png": (_untrained_attention, "png"),
    "figures/benchmarks.png": (_benchmarks, "png"),
    "figures/position-embeddings-trained.png": (_trained_position_embeddings, "png"),
    "figures/attention-trained.png": (_trained_attention, "png"),
}


def render(path: str) -> bytes:
    make_figure, encoding = FIGURES[path]
    return figure_bytes(make_figure(), encoding)


def cache_key() -> str:
    digest = hashlib.sha256()
    sources = sorted((ROOT / "vitlesson").rglob("*.py")) + sorted(WEIGHTS.parent.glob("*"))
    for source in sources + [Path(__file__).resolve(), RECORDED]:
        digest.update(source.read_bytes())
    for package in ("torch", "matplotlib", "numpy", "pillow"):
        digest.update(version(package).encode())
    return digest.hexdigest()[:16]


def on_files(files, config):
    use_cache = os.environ.get("VITLESSON_FIGURE_CACHE", "on") != "off"
    cache = ROOT / ".cache" / "figures" / cache_key()
    start, rendered = time.perf_counter(), 0
    for path in FIGURES:
        cached = cache / path
        if use_cache and cached.exists():
            content = cached.read_bytes()
        else:
            content, rendered = render(path), rendered + 1
            if use_cache:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(content)
        files.append(File.generated(config, path, content=content))
    log.info(f"figures: {rendered} rendered, {len(FIGURES) - rendered} cached ({time.perf_counter() - start:.2f} s)")
    return files
