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

Nothing is typed into the pages: edit a page and its time changes with it.

Before anything is rendered, every page the nav names must be a file of docs/: a
typo stops the build in one line (MkDocs itself only warns, after every page).
"""

from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_LINE = 10
SECONDS_PER_OUTPUT_LINE = 2
SECONDS_PER_FIGURE = 12

# Blocks whose <pre> is something a block printed, not code to read.
OUTPUT_CLASSES = ("result", "jp-OutputArea")
SKIPPED_TAGS = ("script", "style", "template")
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
        skipped = skipped or tag in SKIPPED_TAGS
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
    for item in nav.items:
        if not getattr(item, "is_section", False):
            continue
        pages = [
            child
            for child in item.children
            if getattr(child, "is_page", False)
        ]
        short = item.title.split(":")[0].strip()
        for number, page in enumerate(pages, start=1):
            _PLACES[page.file.src_uri] = (short, number, len(pages))
    return nav


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
    line = html.escape(page_line(page.file.src_uri, minutes))
    meta = f'<p class="vl-page-meta">{line}</p>'
    end = content.find("</h1>")
    if end == -1:
        return meta + content
    end += len("</h1>")
    return content[:end] + meta + content[end:]
