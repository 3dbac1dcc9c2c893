"""The exercise at the end of a part: a box that offers its notebook.

Part 4 of the lesson is an exercise page of its own; the other parts end with
a short exercise, offered where the learner finishes reading. A part names
its exercise notebook with one line,

    <!-- vitlesson:exercise notebooks/attention-by-hand.py -->

which becomes a box with the exercise's title (the notebook's ``# Exercise:``
heading), its working time (``exercise_minutes`` in the notebook's header,
also counted in the part's and the lesson's time by
:mod:`sitebuild.reading`), the notebook's first paragraph (Markdown, its links
reduced to their text), and its links:
the exercise's page (run by the build, solutions folded), the learner's
download, the solutions and, when published from GitHub, Colab. The downloads
are those :mod:`sitebuild.notebooks` offers for the notebook's own page, so
the box's buttons are the page's buttons (and save from disk the same way,
``docs/javascripts/notebook.js``).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import jupytext
from mkdocs.exceptions import PluginError
from mkdocs.utils import get_relative_url

from sitebuild.notebook_links import colab_url

MARKER = re.compile(
    r"^<!-- vitlesson:exercise (?P<source>\S+) -->[ \t]*$", re.MULTILINE
)
MINUTES = "exercise_minutes"
TITLE = re.compile(r"^#\s+Exercise:\s*(?P<title>.+?)\s*$")
# A link of the notebook's first paragraph: relative to the notebook's page,
# not the part's, so the box keeps its text only.
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\([^)\s]+\)")


def offered(markdown: str) -> list[str]:
    """The exercise notebooks (``notebooks/x.py``) a page offers, in order."""
    return [match["source"] for match in MARKER.finditer(markdown)]


def describe(path: Path) -> dict:
    """Title, working minutes and first paragraph of an exercise notebook
    source (jupytext percent format)."""
    notebook = jupytext.read(path)
    minutes = notebook.metadata.get(MINUTES)
    markdown = next(
        (
            cell.source
            for cell in notebook.cells
            if cell.cell_type == "markdown"
        ),
        "",
    )
    lines = markdown.strip().splitlines()
    title = TITLE.match(lines[0]) if lines else None
    if title is None:
        raise ValueError(
            f"its first Markdown cell should start with '# Exercise: "
            f"<title>', got {lines[0][:60] if lines else 'no text'!r}"
        )
    if type(minutes) is not int or minutes <= 0:
        raise ValueError(
            f"its header should give {MINUTES}: a whole number of minutes, "
            f"got {minutes!r}"
        )
    paragraph = []
    for line in lines[1:]:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            break
    return {
        "title": title["title"],
        "minutes": minutes,
        "summary": LINK.sub(r"\g<text>", " ".join(paragraph)),
    }


def box(source: str, page, files, config, downloads: dict) -> str:
    """The box offering the exercise notebook ``source`` on ``page``."""
    file = files.get_file_from_path(source)
    where = f"docs/{page.file.src_uri}"
    if file is None or source not in downloads:
        raise PluginError(
            f"{where}: the exercise marker names {source}, which is not an "
            "exercise notebook of docs/ (expected notebooks/<name>.py)"
        )
    try:
        about = describe(Path(file.abs_src_path))
    except ValueError as error:
        raise PluginError(f"docs/{source}: {error}") from None

    def link(target: str) -> str:
        return html.escape(get_relative_url(target, page.file.url))

    offered = downloads[source]
    buttons = [
        f'<a class="md-button md-button--primary" href="{link(file.url)}">'
        "Open the exercise</a>",
        f'<a class="md-button vl-download" href="{link(offered["notebook"])}"'
        " download>Download notebook (.ipynb)</a>",
    ]
    if "solutions" in offered:
        buttons.append(
            f'<a class="md-button vl-solutions" '
            f'href="{link(offered["solutions"])}" download>Solutions '
            "(.ipynb)</a>"
        )
    colab = colab_url(config, offered["notebook"])
    if colab:
        buttons.append(
            f'<a class="md-button vl-colab" href="{html.escape(colab)}" '
            'target="_blank" rel="noopener">Open in Colab</a>'
        )
    title = html.escape(f"Exercise · {about['minutes']} min: {about['title']}")
    return (
        f'<div class="admonition example vl-exercise" markdown>\n'
        f'<p class="admonition-title">{title}</p>\n\n'
        f"{about['summary']}\n\n"
        f'<p class="vl-exercise-links">{" ".join(buttons)}</p>\n'
        "</div>"
    )


def minutes(markdown: str, files) -> int:
    """The working minutes of the exercises a page offers (a marker that
    names no notebook is reported by its box)."""
    total = 0
    for source in offered(markdown):
        file = files.get_file_from_path(source)
        if file is not None:
            try:
                total += describe(Path(file.abs_src_path))["minutes"]
            except ValueError as error:
                raise PluginError(f"docs/{source}: {error}") from None
    return total


def on_page_markdown(markdown, page, config, files):
    from sitebuild.notebooks import _downloads

    return MARKER.sub(
        lambda match: box(match["source"], page, files, config, _downloads),
        markdown,
    )
