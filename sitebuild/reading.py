"""Under each page's title, where the page stands and how long it takes.

"Lesson 1.2 · part 3 of 6 · 14 min read": the section and the part number come
from the navigation (counted within the page's own section, so moving a page in
mkdocs.yml renumbers it), the reading time from the rendered page itself:

* prose at :data:`WORDS_PER_MINUTE` (text outside code and output blocks,
  quizzes and their explanations included);
* every line of code at :data:`SECONDS_PER_CODE_LINE` (code is read slowly,
  and the learner runs it);
* every line a block prints at :data:`SECONDS_PER_OUTPUT_LINE`;
* every figure at :data:`SECONDS_PER_FIGURE`.

The solutions of an exercise (notebook cells tagged ``solution``, folded on the
page) are not counted: the learner writes them. What the learner needs to
write an exercise's answers is declared, as an estimate, by the page that
offers it: ``exercise_minutes: 25`` in a Markdown page's front matter or in an
exercise notebook's metadata (its jupytext header, under ``jupyter:``).
A part that ends with an exercise box (:mod:`sitebuild.exercise_boxes`) counts
the minutes its notebook declares.

A section's time, e.g. Lesson 1.2's, is the sum over its pages of the reading
minutes each page shows and of the exercise minutes each declares. A page
states it where it has the marker ``<!-- vitlesson:time Lesson 1.2 -->`` (the
section's title up to its colon), which becomes "(148 min: 128 of reading, 20 of
exercises)". Where the marker stays a comment (the page's notebook, made before
any page is timed), the sentence reads as well without it.

Nothing is typed into the pages: edit a page and its time changes with it,
and so do the totals.

Before anything is rendered, every page the nav names must be a file of docs/: a
typo stops the build in one line (MkDocs itself only warns, after every page).
"""

from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser

import jupytext
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from sitebuild import exercise_boxes

WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_LINE = 10
SECONDS_PER_OUTPUT_LINE = 2
SECONDS_PER_FIGURE = 12

# Blocks whose <pre> is something a block printed, not code to read.
OUTPUT_CLASSES = ("result", "jp-OutputArea")
SKIPPED_TAGS = ("script", "style", "template")
# An exercise notebook's solution cells (nbconvert's class for the tag).
SOLUTION_CLASS = "celltag_solution"
EXERCISE_MINUTES = "exercise_minutes"
NOTEBOOK_SUFFIXES = (".py", ".ipynb")
TIME_MARKER = re.compile(r"<!-- vitlesson:time (?P<section>[^<>]*?) -->")
VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
WORD = re.compile(r"[\w’'-]+")

# page.file.src_uri -> (section title, part number, parts in the section), set in on_nav.
_PLACES: dict[str, tuple[str, int, int]] = {}
# section title -> its pages' src_uri, in order, set in on_nav.
_SECTIONS: dict[str, list[str]] = {}
# page.file.src_uri -> (reading minutes shown, exercise minutes declared),
# set in on_page_content.
_TIMES: dict[str, tuple[int, int]] = {}


class _Counter(HTMLParser):
    """Words of prose, lines of code, lines of output and figures in a page's HTML."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.words = 0
        self.code_lines = 0
        self.output_lines = 0
        self.figures = 0
        self._stack: list[
            tuple[str, bool, bool, bool]
        ] = []  # (tag, in pre, in output, skipped)
        self._pre_text: list[str] = []

    def _state(self) -> tuple[bool, bool, bool]:
        return self._stack[-1][1:] if self._stack else (False, False, False)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.figures += 1
        if tag in VOID_TAGS:
            return
        in_pre, in_output, skipped = self._state()
        classes = (dict(attrs).get("class") or "").split()
        in_output = in_output or any(
            c.startswith(OUTPUT_CLASSES) for c in classes
        )
        skipped = skipped or tag in SKIPPED_TAGS or SOLUTION_CLASS in classes
        if tag == "pre" and not in_pre:
            self._pre_text = []
        self._stack.append((tag, in_pre or tag == "pre", in_output, skipped))

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        while self._stack:  # tolerate unclosed tags: pop to the matching one
            name, in_pre, in_output, skipped = self._stack.pop()
            if (
                name == "pre"
                and not (self._stack and self._stack[-1][1])
                and not skipped
            ):
                lines = [
                    line
                    for line in "".join(self._pre_text).splitlines()
                    if line.strip()
                ]
                if in_output:
                    self.output_lines += len(lines)
                else:
                    self.code_lines += len(lines)
            if name == tag:
                break

    def handle_data(self, data):
        in_pre, _, skipped = self._state()
        if skipped:
            return
        if in_pre:
            self._pre_text.append(data)
        else:
            self.words += len(WORD.findall(data))


def reading_seconds(content_html: str) -> float:
    """Seconds a learner needs for a page's rendered HTML (see the module docstring)."""
    if not isinstance(content_html, str):
        raise TypeError(
            f"content_html: expected str, got {type(content_html).__name__}"
        )
    counter = _Counter()
    counter.feed(content_html)
    counter.close()
    return (
        counter.words * 60 / WORDS_PER_MINUTE
        + counter.code_lines * SECONDS_PER_CODE_LINE
        + counter.output_lines * SECONDS_PER_OUTPUT_LINE
        + counter.figures * SECONDS_PER_FIGURE
    )


def reading_minutes(content_html: str) -> int:
    """Whole minutes, rounded up, never below 1."""
    return max(1, math.ceil(reading_seconds(content_html) / 60))


URL = re.compile(r"^[a-zA-Z][\w+.-]*:")


def nav_paths(items, titles=()):
    """``(titles, path)`` of every page named in mkdocs.yml's ``nav``."""
    for item in items or []:
        if isinstance(item, dict):
            for title, value in item.items():
                if isinstance(value, list):
                    yield from nav_paths(value, (*titles, title))
                else:
                    yield (*titles, title), value
        else:
            yield titles, item


@event_priority(90)  # before any figure, notebook or page is made
def on_files(files, config):
    """Every page mkdocs.yml's nav names is a file of docs/ (MkDocs itself
    would only warn, after rendering every page)."""
    for titles, path in nav_paths(config["nav"]):
        if not isinstance(path, str) or URL.match(path):
            continue
        if files.get_file_from_path(path.lstrip("/")) is None:
            entry = " > ".join(titles) or path
            raise PluginError(
                f"mkdocs.yml: the nav entry {entry!r} names {path}, "
                f"which is not a file of docs/"
            )
    return files


def on_nav(nav, config, files):
    _PLACES.clear()
    _SECTIONS.clear()
    for item in nav.items:
        if not getattr(item, "is_section", False):
            continue
        pages = [
            child
            for child in item.children
            if getattr(child, "is_page", False)
        ]
        short = item.title.split(":")[0].strip()
        _SECTIONS[short] = [page.file.src_uri for page in pages]
        for number, page in enumerate(pages, start=1):
            _PLACES[page.file.src_uri] = (short, number, len(pages))
    return nav


def exercise_minutes(page, files=None) -> int:
    """The working time a page declares for its exercises (0 without one):
    ``exercise_minutes`` in a Markdown page's front matter, or in an exercise
    notebook's metadata, plus the minutes of the exercise notebooks the page
    offers at its end (:mod:`sitebuild.exercise_boxes`)."""
    uri = page.file.src_uri
    if uri.endswith(NOTEBOOK_SUFFIXES):
        metadata = jupytext.read(page.file.abs_src_path).metadata
    else:
        metadata = page.meta or {}
    minutes = metadata.get(EXERCISE_MINUTES, 0)
    if type(minutes) is not int or minutes < 0:
        raise PluginError(
            f"docs/{uri}: {EXERCISE_MINUTES}: expected a whole number of "
            f"minutes, 0 or more, got {minutes!r}"
        )
    if files is not None and not uri.endswith(NOTEBOOK_SUFFIXES):
        minutes += exercise_boxes.minutes(page.file.content_string, files)
    return minutes


def section_time(section: str) -> tuple[int, int]:
    """Reading minutes and exercise minutes of a section's pages, summed."""
    times = [_TIMES[uri] for uri in _SECTIONS[section]]
    return sum(r for r, _ in times), sum(e for _, e in times)


def time_text(reading: int, exercises: int) -> str:
    """``148 min: 128 of reading, 20 of exercises`` (or ``106 min of
    reading`` without exercises)."""
    if not exercises:
        return f"{reading} min of reading"
    return (
        f"{reading + exercises} min: {reading} of reading, "
        f"{exercises} of exercises"
    )


def page_line(src_uri: str, minutes: int) -> str:
    """The text shown under the title, e.g. ``Lesson 1.2 · part 3 of 6 · 14 min read``."""
    parts = []
    if src_uri in _PLACES:
        section, number, total = _PLACES[src_uri]
        parts.append(f"{section} · part {number} of {total}")
    parts.append(f"{minutes} min read")
    return " · ".join(parts)


def on_page_content(content, page, config, files):
    minutes = reading_minutes(content)
    _TIMES[page.file.src_uri] = (minutes, exercise_minutes(page, files))
    line = html.escape(page_line(page.file.src_uri, minutes))
    meta = f'<p class="vl-page-meta">{line}</p>'
    end = content.find("</h1>")
    if end == -1:
        return meta + content
    end += len("</h1>")
    return content[:end] + meta + content[end:]


@event_priority(50)  # before the search plugin indexes the page's text
def on_page_context(context, page, config, nav):
    """Each time marker replaced with its section's time: every page's
    content has been rendered (and timed) before any page's context."""

    def replace(match):
        section = match["section"]
        if section not in _SECTIONS:
            raise PluginError(
                f"docs/{page.file.src_uri}: the marker {match[0]!r} names "
                f"the section {section!r}; expected one of "
                f"{', '.join(map(repr, _SECTIONS))}"
            )
        return html.escape(f"({time_text(*section_time(section))})")

    page.content = TIME_MARKER.sub(replace, page.content)
    return context
