"""Sybil parser and evaluator: run every python fence of the docs the way MkDocs shows it.

Sybil's stock Markdown parser only collects fences whose info string is exactly
``python``; the lesson pages also use titles (``python title="..."``) and
pymdownx.snippets include lines. :mod:`sitebuild.lesson_code` finds, expands
and runs them (page code under the page's file and line numbers, package code
under the package file's).

What each fence prints is also compared with the build's cache of it
(:mod:`sitebuild.page_outputs`). That comparison is a determinism check, and
only that: the cache is keyed on the page's code, so it holds an entry only
where a build (or an earlier test run) ran this very code, and the check says
that running the same code again prints the same thing (no unseeded random
numbers, no timings, no memory addresses in a printed result). It cannot catch
a page edit: a changed ``print`` changes the key, finds no entry, and this run's
outputs are stored as the entry the next build shows. Nothing needs catching
there, since no output on the site is ever typed: the build prints it.
"""

from __future__ import annotations

import functools
import os
import traceback
from pathlib import Path

from mkdocs.config import load_config
from sybil import Region

from sitebuild import page_outputs
from sitebuild.lesson_code import (
    python_fences,
    run_fence,
    snippet_preprocessor,
)
from tests.support import ROOT


@functools.cache
def preprocessor():
    # The Markdown settings of mkdocs.yml; its plugins (mkdocs-jupyter and
    # nbconvert: a second of imports in each test worker) play no part.
    return snippet_preprocessor(
        load_config(str(ROOT / "mkdocs.yml"), plugins=[])
    )


class OutputMismatch(AssertionError):
    """What a fence printed differs from what the site shows under it."""


class BlockFailed(AssertionError):
    """A block of a page raised: the page line, the package lines involved, the error."""


def short_failure(error: BaseException) -> str:
    """The traceback frames that are the reader's (the page) or the package's, then the error."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.endswith(".md")
        or f"{os.sep}vitlesson{os.sep}" in frame.filename
    ]
    lines = [
        f"  {Path(f.filename).relative_to(ROOT) if f.filename.startswith(str(ROOT)) else f.filename}"
        f":{f.lineno}: {f.line}"
        for f in frames
    ]
    return "\n".join([*lines, f"{type(error).__name__}: {error}"])


def evaluate(example) -> None:
    index, count, fence = example.parsed
    try:
        printed = run_fence(fence, example.namespace)
    except Exception as error:
        raise BlockFailed(
            f"block {index + 1} of {count} failed:\n{short_failure(error)}"
        ) from None
    collected = example.namespace.setdefault("__printed__", [])
    collected.append(printed)
    shown = page_outputs.cached(example.document.text)
    if shown is not None:
        if len(shown) != count:
            raise OutputMismatch(
                f"the cached outputs have {len(shown)} entries for {count} fences"
            )
        if printed != shown[index]:
            raise OutputMismatch(
                f"block {index + 1} printed:\n{printed}\nbut the site shows:\n{shown[index]}"
            )
    elif index == count - 1 and len(collected) == count:
        page_outputs.store(example.document.text, collected)


def parse_python_fences(document):
    """Sybil parser: one region, hence one pytest item, per python fence."""
    fences = python_fences(document.text, document.path, ROOT, preprocessor())
    for index, fence in enumerate(fences):
        yield Region(
            fence.start, fence.end, (index, len(fences), fence), evaluate
        )
