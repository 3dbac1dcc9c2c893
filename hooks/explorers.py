"""MkDocs hook: the data of the in-page explorers, made at build time and cached.

The patch, attention and position explorers (docs/javascripts/explorers.js) load one small
script each, which this hook adds to the site in memory (never committed): the sample
photograph, the trained tiny ViT's attention for two test images (one of each class), and
the cosine similarities of three position tables. Scripts, not .json files, because a page
opened from disk may not fetch() files. They are made by hooks/explorer_data.py on a cache miss; the cache in
``.cache/explorers/`` is keyed on the package source, the shipped weights and the recipes.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
import time
from importlib.metadata import version
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.explorers")
HOOKS = Path(__file__).resolve().parent
ROOT = HOOKS.parent
FILES = [
    "explorers/patches-data.js",
    "explorers/attention-data.js",
    "explorers/positions-data.js",
]


def cache_key() -> str:
    digest = hashlib.sha256()
    sources = sorted((ROOT / "vitlesson").rglob("*.py")) + sorted(
        (ROOT / "vitlesson" / "weights").glob("*")
    )
    for source in [
        *sources,
        HOOKS / "explorer_data.py",
        Path(__file__).resolve(),
    ]:
        digest.update(source.read_bytes())
    for package in ("torch", "pillow", "numpy"):
        digest.update(version(package).encode())
    return digest.hexdigest()[:16]


def on_files(files, config):
    cache = ROOT / ".cache" / "explorers" / cache_key()
    start = time.perf_counter()
    if not all((cache / path).exists() for path in FILES):
        if str(HOOKS) not in sys.path:
            sys.path.insert(0, str(HOOKS))
        for path, content in (
            importlib.import_module("explorer_data").render().items()
        ):
            (cache / path).parent.mkdir(parents=True, exist_ok=True)
            (cache / path).write_bytes(content)
        log.info(f"explorers: data made ({time.perf_counter() - start:.1f} s)")
    for path in FILES:
        files.append(
            File.generated(config, path, content=(cache / path).read_bytes())
        )
    return files
