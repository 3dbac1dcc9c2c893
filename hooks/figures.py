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

A maintainer's mistake stops the build in one line before anything is rendered: a
figure whose recipe figure_recipes.py does not define (or whose encoding its name
contradicts), an image a page shows that is neither a file of docs/ nor a registered
figure, a figure that is also a file of docs/. A recipe that fails is one line naming
its line in figure_recipes.py.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import logging
import os
import posixpath
import re
import sys
import time
import traceback
from importlib.metadata import version
from pathlib import Path

from mkdocs.exceptions import PluginError
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
ENCODINGS = {"png": ".png", "webp": ".webp"}
RECIPES = HOOKS / "figure_recipes.py"
IMAGE = re.compile(r"!\[[^\]]*\]\((?P<src>[^)\s]+)")
FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][\w+.-]*:|/|#)")  # https:, data:, /x, #x


def recipe_lines() -> dict[str, int]:
    """Each recipe of figure_recipes.py and the line of its ``def``, read
    from the source (so that nothing is imported)."""
    tree = ast.parse(RECIPES.read_text(encoding="utf-8"))
    return {
        node.name: node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name != "render"
        and not node.name.startswith("_")
    }


def check_registry() -> None:
    """Every registered figure names a recipe that figure_recipes.py defines
    and an encoding its file name ends with. Read from the source, so that a
    mistake stops the build before anything is rendered (and before torch is
    imported)."""
    recipes = recipe_lines()
    registry = Path(__file__).read_text(encoding="utf-8").splitlines()
    for path, (recipe, encoding) in FIGURES.items():
        line = next(
            (n for n, text in enumerate(registry, 1) if f'"{path}"' in text),
            None,
        )
        where = "hooks/figures.py" + ("" if line is None else f":{line}")
        if recipe not in recipes:
            raise PluginError(
                f"{where}: the figure {path} names the recipe "
                f"{recipe!r}, which hooks/figure_recipes.py does not define "
                f"(its recipes: {', '.join(sorted(recipes))})"
            )
        if ENCODINGS.get(encoding) != posixpath.splitext(path)[1]:
            raise PluginError(
                f"{where}: the figure {path} is encoded as "
                f"{encoding!r}: expected one of {sorted(ENCODINGS)} "
                "matching the end of its file name"
            )


def check_images(files) -> None:
    """Every image a page shows is a file of docs/ or a registered figure,
    and no registered figure is also a file of docs/ (one would hide the
    other)."""
    for path in FIGURES:
        if files.get_file_from_path(path) is not None:
            raise PluginError(
                f"docs/{path} is a file of docs/ and also a figure that "
                "hooks/figures.py makes: remove one of them"
            )
    for file in files.documentation_pages():
        if not file.src_uri.endswith(".md"):
            continue
        text = file.content_string
        in_fence = False
        for number, line in enumerate(text.splitlines(), start=1):
            if FENCE_LINE.match(line):
                in_fence = not in_fence
            if in_fence:
                continue
            for image in IMAGE.finditer(line):
                src = image["src"].split("#")[0]
                if EXTERNAL.match(src):
                    continue
                uri = posixpath.normpath(
                    posixpath.join(posixpath.dirname(file.src_uri), src)
                )
                if uri not in FIGURES and not files.get_file_from_path(uri):
                    raise PluginError(
                        f"docs/{file.src_uri}:{number}: the image {src} is "
                        f"neither a file of docs/ nor a figure registered "
                        f"in FIGURES of hooks/figures.py ({uri})"
                    )


def render(path: str) -> tuple[bytes, dict]:
    """A figure drawn by its recipe; a failing recipe is one line naming
    the recipe's line and the error."""
    if str(HOOKS) not in sys.path:
        sys.path.insert(0, str(HOOKS))
    recipe, encoding = FIGURES[path]
    try:
        recipes = importlib.import_module("figure_recipes")
        return recipes.render(recipe, encoding)
    except Exception as error:
        lines = [  # the recipe's own lines, not the dispatching render()
            frame.lineno
            for frame in traceback.extract_tb(error.__traceback__)
            if Path(frame.filename).resolve() == RECIPES
            and frame.name != "render"
        ] or [recipe_lines().get(recipe)]
        where = "hooks/figure_recipes.py" + (
            f":{lines[-1]}" if lines[-1] else ""
        )
        message = " ".join(str(error).split())
        raise PluginError(
            f"{where}: the recipe {recipe!r} of {path} failed: "
            f"{type(error).__name__}: {message}"
        ) from None


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


def on_config(config):
    check_registry()  # before any hook renders anything
    return config


def on_files(files, config):
    check_images(files)
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
