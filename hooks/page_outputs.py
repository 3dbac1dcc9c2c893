"""MkDocs hook: show what each python block of a page prints, right under it.

At build time every page with python blocks is run top to bottom in one
namespace, exactly as the test suite runs it (:func:`lesson_code.run_fence`),
and each block that printed something gets an output block under it
(``<div class="result">``). Nothing on a page is typed by hand.

Running the pages costs seconds, so the outputs are cached in
``.cache/outputs/`` under a key made of everything that can change them: the
page's text, the package source and shipped weights, the recorded benchmark,
the code that runs the pages and the torch version. The Sybil run of the tests
compares what each block prints with this cache, so the page and the code
cannot disagree. ``VITLESSON_OUTPUT_CACHE=off`` always runs the pages.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

HOOKS = Path(__file__).resolve().parent
ROOT = HOOKS.parent
CACHE = ROOT / ".cache" / "outputs"
log = logging.getLogger("mkdocs.hooks.page_outputs")

if str(HOOKS) not in sys.path:
    sys.path.insert(0, str(HOOKS))

import lesson_code  # noqa: E402


def cache_key(page_text: str) -> str:
    digest = hashlib.sha256(page_text.encode())
    sources = sorted((ROOT / "vitlesson").rglob("*.py"))
    sources += sorted((ROOT / "vitlesson" / "weights").glob("*"))
    sources += [
        ROOT / "docs" / "data" / "bench.json",
        ROOT / "mkdocs.yml",
        HOOKS / "lesson_code.py",
        Path(__file__).resolve(),
    ]
    for source in sources:
        digest.update(source.read_bytes())
    digest.update(version("torch").encode())
    return digest.hexdigest()[:20]


def cached(page_text: str) -> list[str] | None:
    """The outputs shown for a page, or None if it has not been run."""
    path = CACHE / f"{cache_key(page_text)}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def store(page_text: str, outputs: list[str]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{cache_key(page_text)}.json"
    path.write_text(json.dumps(outputs, ensure_ascii=False), encoding="utf-8")


def run_page(fences) -> list[str]:
    """Run a page's fences in one fresh namespace; what each one printed."""
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__main__"}
    return [lesson_code.run_fence(fence, namespace) for fence in fences]


def output_block(text: str, indent: str) -> str:
    """One line of raw HTML (so that blank lines cannot split it)."""
    body = html.escape(text.rstrip("\n")).replace("\n", "&#10;")
    return (
        f'{indent}<div class="result" markdown="0"><pre><code>'
        f"{body}</code></pre></div>"
    )


def on_page_markdown(markdown, page, config, files):
    from mkdocs.exceptions import PluginError

    preprocessor = lesson_code.snippet_preprocessor(config)
    try:
        fences = lesson_code.python_fences(
            markdown, f"docs/{page.file.src_uri}", ROOT, preprocessor
        )
    except lesson_code.IncludeError as error:
        raise PluginError(str(error)) from None  # one line, no traceback
    if not fences:
        return markdown
    use_cache = os.environ.get("VITLESSON_OUTPUT_CACHE", "on") != "off"
    outputs = cached(markdown) if use_cache else None
    if outputs is None or len(outputs) != len(fences):
        start = time.perf_counter()
        try:
            outputs = run_page(fences)
        except Exception as error:
            raise PluginError(
                f"docs/{page.file.src_uri}: a python block failed "
                f"while the build ran it: {type(error).__name__}: "
                f"{error} (run pytest docs/{page.file.src_uri} "
                "for the traceback)"
            ) from None
        log.info(
            f"outputs: ran {page.file.src_uri} "
            f"({time.perf_counter() - start:.1f} s)"
        )
        if use_cache:
            store(markdown, outputs)
    for fence, printed in reversed(list(zip(fences, outputs))):
        if not printed:
            continue
        opening = markdown[fence.start : markdown.index("\n", fence.start)]
        indent = opening[: len(opening) - len(opening.lstrip())]
        block = output_block(printed, indent)
        markdown = (
            f"{markdown[: fence.end]}\n\n{block}\n{markdown[fence.end :]}"
        )
    return markdown
