"""What each python block of a page prints, shown right under it.

At build time every page with python blocks is run top to bottom in one
namespace, exactly as the test suite runs it (:func:`lesson_code.run_fence`),
and each block that printed something gets an output block under it
(``<div class="result">``). Nothing on a page is typed by hand.

Running the pages costs seconds, so the outputs are cached in
``.cache/outputs/`` under a key made of everything that can change them: the
page's text, the package source and shipped weights, the recorded benchmark,
mkdocs.yml, the code that runs the pages and the torch version. The Sybil run
of the tests compares what each block prints with this cache, so the page and
the code cannot disagree. ``VITLESSON_OUTPUT_CACHE=off`` always runs the pages.

Every include line of every page is expanded before anything is rendered (in
``on_files``): a typo stops the build in one line naming the page's line. A
block that fails while the build runs it is one line naming its line too.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
import traceback
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from sitebuild import ROOT, cache, lesson_code
from vitlesson._io import write_text
from vitlesson.tools.bench import RECORDED

CACHE = ROOT / ".cache" / "outputs"
log = logging.getLogger("mkdocs.hooks.page_outputs")


def cache_key(page_text: str) -> str:
    return cache.key(
        page_text,
        *cache.package_source(),
        cache.WEIGHTS,
        RECORDED,
        ROOT / "mkdocs.yml",
        Path(lesson_code.__file__).resolve(),
        Path(__file__).resolve(),
        *cache.versions("torch"),
    )


def cached(page_text: str) -> list[str] | None:
    """The outputs shown for a page, or None if it has not been run."""
    path = CACHE / f"{cache_key(page_text)}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def store(page_text: str, outputs: list[str]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    write_text(
        CACHE / f"{cache_key(page_text)}.json",
        json.dumps(outputs, ensure_ascii=False),
    )


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


def check_includes(text: str, where: str, preprocessor) -> None:
    """Expand every include line of a page, in python fences or not: an
    include that cannot be expanded raises :class:`lesson_code.IncludeError`
    naming the page's line."""
    fences = lesson_code.python_fences(text, where, ROOT, preprocessor)
    spans = [(fence.start, fence.end) for fence in fences]
    offset = 0
    for number, line in enumerate(text.splitlines(True), start=1):
        inside = any(start <= offset < end for start, end in spans)
        offset += len(line)
        if not inside and lesson_code.INCLUDE.match(line.rstrip("\n")):
            lesson_code.expand_include(
                line.rstrip("\n"), ROOT, preprocessor, f"{where}:{number}"
            )


@event_priority(100)  # before any figure, notebook or page is made
def on_files(files, config):
    preprocessor = lesson_code.snippet_preprocessor(config)
    for file in files.documentation_pages():
        if not file.src_uri.endswith(".md"):
            continue
        text = file.content_string
        try:
            check_includes(text, f"docs/{file.src_uri}", preprocessor)
        except lesson_code.IncludeError as error:
            raise PluginError(str(error)) from None
    return files


def failing_line(error: Exception, where: str) -> int | None:
    """The line of the page ``where`` at which a block failed, if it did
    there (and not in the package code it called)."""
    if isinstance(error, SyntaxError) and error.filename == where:
        return error.lineno
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == where
    ]
    return lines[-1] if lines else None


def on_page_markdown(markdown, page, config, files):
    where = f"docs/{page.file.src_uri}"
    preprocessor = lesson_code.snippet_preprocessor(config)
    try:
        fences = lesson_code.python_fences(markdown, where, ROOT, preprocessor)
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
            line = failing_line(error, where)
            raise PluginError(
                f"{where}{'' if line is None else f':{line}'}: a python block "
                f"failed while the build ran it: {type(error).__name__}: "
                f"{' '.join(str(error).split())} (run pytest {where} for "
                "the traceback)"
            ) from None
        log.info(
            f"outputs: ran {page.file.src_uri} "
            f"({time.perf_counter() - start:.1f} s)"
        )
        if use_cache:
            store(markdown, outputs)
    for fence, printed in reversed(list(zip(fences, outputs, strict=True))):
        if not printed:
            continue
        opening = markdown[fence.start : markdown.index("\n", fence.start)]
        indent = opening[: len(opening) - len(opening.lstrip())]
        block = output_block(printed, indent)
        markdown = (
            f"{markdown[: fence.end]}\n\n{block}\n{markdown[fence.end :]}"
        )
    return markdown
