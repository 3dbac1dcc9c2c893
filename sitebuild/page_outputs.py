"""What each python block of a page prints, shown right under it.

At build time every page with python blocks is run top to bottom in one
namespace, exactly as the test suite runs it (:func:`lesson_code.run_fence`),
and each block that printed something gets an output block under it
(``<div class="result">``). Nothing on a page is typed by hand.

Running the pages costs seconds, so the outputs are cached in
``.cache/outputs/`` under a key made of everything that can change them: the
page's code (its python blocks, include lines expanded), the package modules
that code imports and the data files they read (:func:`cache.code_inputs`),
the pymdownx.snippets settings (where include lines read from), the code
that runs the pages and the libraries' versions. Not the page's prose, not
the navigation or the site's settings in mkdocs.yml, not another page: an
edit there runs nothing. The Sybil run of the tests compares what each block
prints with this cache, so the page and the code cannot disagree.
``VITLESSON_OUTPUT_CACHE=off`` always runs the pages.

Every include line of every page is expanded before anything is rendered (in
``on_files``): a typo stops the build in one line naming the page's line. A
block that fails while the build runs it is one line naming its line too.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import time
import traceback
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from sitebuild import ROOT, cache, lesson_code

CACHE = ROOT / ".cache" / "outputs"
log = logging.getLogger("mkdocs.hooks.page_outputs")
# The code that runs a page: part of every page's key.
RUNNER = [
    Path(lesson_code.__file__).resolve(),
    Path(__file__).resolve(),
    ROOT / "sitebuild" / "__init__.py",
]


def code_settings(config) -> str:
    """The Markdown settings that change the code a page runs: those of
    pymdownx.snippets (where include lines read from), folders named
    relative to the checkout; ``auto_append`` adds the glossary, no code."""
    settings = dict(config["mdx_configs"].get("pymdownx.snippets", {}))
    settings.pop("auto_append", None)

    def named(value) -> str:
        path = Path(str(value))
        return _relative(path) if path.is_absolute() else str(value)

    return json.dumps(settings, sort_keys=True, default=named)


def _relative(path: Path) -> str:
    resolved = path.resolve()
    if resolved.is_relative_to(ROOT):
        return resolved.relative_to(ROOT).as_posix() or "."
    return resolved.as_posix()


@functools.cache
def _mkdocs_markdown():
    """mkdocs.yml's snippet preprocessor and code settings, its plugins not
    loaded (the tests look a page's outputs up once per block)."""
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"), plugins=[])
    return lesson_code.snippet_preprocessor(config), code_settings(config)


def code_key(fences: list[lesson_code.Fence], settings: str) -> str:
    """The key of a page's outputs: its code and what that code reaches."""
    code, uses = [], set()
    for fence in fences:
        code.append(f"fence {len(fence.segments)}")
        for segment in fence.segments:
            code += [str(segment.module), str(segment.runnable)]
            code.append(segment.source)
            if segment.module is not None:
                uses.add(segment.module)
    page_code = [
        segment.source
        for fence in fences
        for segment in fence.segments
        if segment.module is None
    ]
    return cache.key(
        *code,
        settings,
        *cache.code_inputs(*page_code, uses=uses),
        *RUNNER,
        *cache.versions(*cache.LIBRARIES),
    )


def cache_key(page_text: str, config=None) -> str:
    """The key of a page's outputs (``config``: mkdocs.yml's by default)."""
    if config is None:
        preprocessor, settings = _mkdocs_markdown()
    else:
        preprocessor = lesson_code.snippet_preprocessor(config)
        settings = code_settings(config)
    fences = lesson_code.python_fences(
        page_text, "page.md", ROOT, preprocessor
    )
    return code_key(fences, settings)


def cached(page_text: str, config=None) -> list[str] | None:
    """The outputs shown for a page, or None if it has not been run."""
    return _load(cache_key(page_text, config))


def store(page_text: str, outputs: list[str], config=None) -> None:
    _save(cache_key(page_text, config), outputs)


def _load(key: str) -> list[str] | None:
    path = CACHE / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def _save(key: str, outputs: list[str]) -> None:
    from vitlesson._io import write_text  # after a run: torch is loaded

    CACHE.mkdir(parents=True, exist_ok=True)
    write_text(CACHE / f"{key}.json", json.dumps(outputs, ensure_ascii=False))


def run_page(fences) -> list[str]:
    """Run a page's fences in one fresh namespace; what each one printed."""
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__main__"}
    return [lesson_code.run_fence(fence, namespace) for fence in fences]


def output_block(text: str, indent: str) -> str:
    """At the top of a page, one line of raw HTML (so that blank lines
    cannot split it). Indented (inside a fold or a tab), Markdown does not
    take raw HTML as a block: it would wrap it in a paragraph and put the
    glossary's abbreviations into the output. There the output is a fence
    of class ``result``, longer than any run of backticks in it."""
    if not indent:
        body = html.escape(text.rstrip("\n")).replace("\n", "&#10;")
        return (
            '<div class="result" markdown="0"><pre><code>'
            f"{body}</code></pre></div>"
        )
    runs = [len(run) for run in re.findall("`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    lines = [f"{fence} {{.text .result}}", *text.rstrip("\n").split("\n")]
    return "\n".join(f"{indent}{line}" for line in [*lines, fence])


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
    return with_outputs(markdown, page.file.src_uri, config)


def with_outputs(markdown: str, uri: str, config) -> str:
    """The page ``uri`` (``lessons/patches.md``) with what each of its
    python blocks prints right under it: what the build shows, and what
    ``python -m sitebuild`` writes."""
    where = f"docs/{uri}"
    preprocessor = lesson_code.snippet_preprocessor(config)
    try:
        fences = lesson_code.python_fences(markdown, where, ROOT, preprocessor)
    except lesson_code.IncludeError as error:
        raise PluginError(str(error)) from None  # one line, no traceback
    if not fences:
        return markdown
    use_cache = os.environ.get("VITLESSON_OUTPUT_CACHE", "on") != "off"
    key = code_key(fences, code_settings(config))
    outputs = _load(key) if use_cache else None
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
        log.info(f"outputs: ran {uri} ({time.perf_counter() - start:.1f} s)")
        if use_cache:
            _save(key, outputs)
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
