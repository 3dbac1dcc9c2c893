"""The data of the in-page explorers, made at build time and cached.

The patch, attention and position explorers (docs/javascripts/explorers.js)
load one small script each, which this module adds to the site in memory
(never committed): the sample photograph, the trained tiny ViT's attention for
two test images (one of each class), and the cosine similarities of three
position tables. Scripts, not .json files, because a page opened from disk may
not fetch() files. They are made by explorer_data.py on a cache miss; the
cache in ``.cache/explorers/`` is keyed on explorer_data.py, the package
modules it imports and the data files they read (:func:`cache.code_inputs`)
and library versions.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mkdocs.structure.files import File

from sitebuild import ROOT, cache

log = logging.getLogger("mkdocs.hooks.explorers")
DATA = Path(__file__).resolve().with_name("explorer_data.py")
FILES = [
    "explorers/patches-data.js",
    "explorers/attention-data.js",
    "explorers/positions-data.js",
]


def cache_key() -> str:
    return cache.key(
        DATA,
        *cache.code_inputs(DATA.read_text(encoding="utf-8")),
        *cache.versions(*cache.LIBRARIES),
    )


def generated() -> dict[str, bytes]:
    """The explorers' data scripts (site path -> bytes), made on a cache
    miss only."""
    folder = ROOT / ".cache" / "explorers" / cache_key()
    start = time.perf_counter()
    if not all((folder / path).exists() for path in FILES):
        from sitebuild import explorer_data  # torch: on a cache miss only
        from vitlesson._io import write_bytes

        for path, content in explorer_data.render().items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            write_bytes(folder / path, content)
        log.info(f"explorers: data made ({time.perf_counter() - start:.1f} s)")
    return {path: (folder / path).read_bytes() for path in FILES}


def on_files(files, config):
    for path, content in generated().items():
        files.append(File.generated(config, path, content=content))
    return files
