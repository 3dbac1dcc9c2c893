"""A lesson page, or an exercise's jupytext source, as notebooks.

A page's prose becomes Markdown cells (MkDocs-only syntax made plain, figures
embedded as attachments, quizzes as text with their answers) and every python
fence a code cell, include lines expanded exactly as the page shows them. An
exercise source becomes the learner's copy (no solutions) and, where it has
solutions, a solutions notebook. Every notebook starts with the install cell
(:mod:`sitebuild.notebook_links`) and is written the same way on every build
(stable cell ids, sorted keys).
"""

from __future__ import annotations

import base64
import itertools
import json
import posixpath
import re
from pathlib import Path, PurePosixPath

import jupytext
import nbformat
from mkdocs.exceptions import PluginError

from sitebuild import ROOT, lesson_code, quizzes
from sitebuild.notebook_links import (
    absolute_links,
    install_cell,
    page_path,
    site_url_of,
)

ADMONITION = re.compile(
    r"^[ \t]*(?:!!!|\?\?\?\+?)[ \t]+(?P<kind>[\w-]+)(?:[ \t]+\"(?P<title>[^\"]*)\")?[ \t]*$"
)
TAB = re.compile(r"^[ \t]*===\+?[ \t]+\"(?P<title>[^\"]*)\"[ \t]*$")
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)")
ATTRIBUTES = re.compile(r"\{[ \t]*[.#:][^}]*\}")


def _cell_id(kind: str, index: int) -> str:
    return f"{kind}-{index}"


def quiz_as_text(match, where: str, first_line: int) -> str:
    """A quiz fence as plain Markdown: each question, its options, the answer and why.

    Errors name the page ``where`` and the line at fault, counted from the
    body's ``first_line``."""
    lines = []
    for number, question in enumerate(
        quizzes.parse(match["body"], where, first_line), start=1
    ):
        lines.append(f"{number}. {question['question']}")
        for option in question["options"]:
            mark = "**right**" if option["correct"] else "not quite"
            lines.append(f"    - {option['text']} ({mark}: {option['why']})")
    return "\n".join(lines)


def markdown_cell(
    text: str,
    page_uri: str,
    files,
    site_url: str,
    index: int,
    first_line: int = 1,
):
    """Prose with MkDocs-only syntax turned into plain Jupyter Markdown.

    ``first_line`` is the line of the page at which ``text`` starts."""

    def quiz(match) -> str:
        body_line = first_line + text.count("\n", 0, match.start()) + 1
        return quiz_as_text(match, f"docs/{page_uri}", body_line)

    text = quizzes.FENCE.sub(quiz, text)
    lines, attachments, in_fence = [], {}, False
    for line in text.splitlines():
        if re.match(r"^[ \t]*(```|~~~)", line):
            in_fence = not in_fence
        if not in_fence:
            if match := ADMONITION.match(line):
                line = f"**{match['title'] or match['kind'].capitalize()}**"
            elif match := TAB.match(line):
                line = f"**{match['title']}**"
            line = ATTRIBUTES.sub("", line.strip())
        else:
            line = (
                line.strip()
                if line.strip().startswith(("```", "~~~"))
                else line
            )
        for image in IMAGE.finditer(line):
            uri = posixpath.normpath(
                posixpath.join(posixpath.dirname(page_uri), image["src"])
            )
            figure = files.get_file_from_path(uri)
            if figure is None:
                raise PluginError(
                    f"docs/{page_uri}: the image {image['src']} is not a "
                    f"file of the site ({uri})"
                )
            name = PurePosixPath(uri).name
            mime = "image/webp" if name.endswith(".webp") else "image/png"
            attachments[name] = {
                mime: base64.b64encode(figure.content_bytes).decode()
            }
            line = line.replace(
                image.group(0), f"![{image['alt']}](attachment:{name})"
            )
        lines.append((line, in_fence))
    # Links outside code, made absolute run by run: a link's text may span
    # two lines of the page.
    runs = [
        "\n".join(line for line, _ in run)
        if fenced
        else absolute_links(
            "\n".join(line for line, _ in run),
            page_uri,
            site_url,
            source_relative=True,
        )
        for fenced, run in itertools.groupby(lines, key=lambda pair: pair[1])
    ]
    cell = nbformat.v4.new_markdown_cell(
        "\n".join(runs).strip("\n"), id=_cell_id("markdown", index)
    )
    if attachments:
        cell.attachments = attachments
    return cell


def code_cell(fence: lesson_code.Fence, index: int):
    parts = []
    for segment in fence.segments:
        if segment.module is None:
            parts.append(segment.source)
        elif (
            not segment.runnable
        ):  # a method shown alone: it runs as part of its module
            shown = "".join(
                f"# {line}\n" if line.strip() else "#\n"
                for line in segment.source.splitlines()
            )
            parts.append(
                f"# {segment.module}: part of a class, shown on the page (it runs when the\n"
                f"# package is imported):\n{shown}"
            )
        else:  # the package's own code, with the imports and helpers it uses in its module
            parts.append(
                f"# {segment.module}: the package's source, shown on the page\n"
                f"from {segment.module} import *  # noqa: F403\n\n{segment.source}"
            )
    return nbformat.v4.new_code_cell(
        "".join(parts).rstrip("\n"), id=_cell_id("code", index)
    )


def page_to_notebook(text: str, page_uri: str, files, config) -> str:
    site_url = site_url_of(config)
    fences = lesson_code.python_fences(
        text,
        f"docs/{page_uri}",
        ROOT,
        lesson_code.snippet_preprocessor(config),
    )
    page = (
        f"{site_url}{page_path(page_uri)}"
        if site_url
        else f"*{page_path(page_uri)}*"
    )
    cells = [
        install_cell(config),
        nbformat.v4.new_markdown_cell(
            f"*Generated from the course page {page} by the site build: the page's code, in its order, "
            "with the package's own source where the page shows it. The cell above installs the "
            "package if it is missing.*",
            id="markdown-source",
        ),
    ]
    position = 0
    for index, fence in enumerate(fences):
        prose = text[position : fence.start]
        if prose.strip():
            cells.append(
                markdown_cell(
                    prose,
                    page_uri,
                    files,
                    site_url,
                    index,
                    text.count("\n", 0, position) + 1,
                )
            )
        cells.append(code_cell(fence, index))
        position = fence.end
    if text[position:].strip():
        cells.append(
            markdown_cell(
                text[position:],
                page_uri,
                files,
                site_url,
                len(fences),
                text.count("\n", 0, position) + 1,
            )
        )
    return _write(nbformat.v4.new_notebook(cells=cells))


def _write(notebook) -> str:
    notebook.metadata = {
        "kernelspec": {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return (
        json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True)
        + "\n"
    )


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def source_to_notebooks(path: Path, uri: str, config) -> dict[str, str]:
    """A jupytext percent source as clean .ipynb files (no outputs, stable cell ids), by file name.

    ``<name>.ipynb`` is the learner's copy: every cell except the ones tagged
    ``solution``, so no solution can redefine what the learner wrote before a check
    runs it. Where the source has solutions, ``<name>-solutions.ipynb`` has every
    cell except the TODO cells (tagged ``exercise``): the complete solution."""
    source = jupytext.read(path)
    site_url, base = site_url_of(config), page_path(uri)
    for cell in source.cells:
        if cell.cell_type == "markdown":
            cell.source = absolute_links(
                cell.source, base, site_url, source_relative=False
            )
    stem = PurePosixPath(uri).stem
    variants = {f"{stem}.ipynb": "solution"}
    if any("solution" in _tags(cell) for cell in source.cells):
        variants[f"{stem}-solutions.ipynb"] = "exercise"
    notebooks = {}
    for name, left_out in variants.items():
        cells = [install_cell(config)]
        if left_out == "exercise":
            exercise = f"{site_url}{base}" if site_url else f"*{base}*"
            cells.append(
                nbformat.v4.new_markdown_cell(
                    f"*The solutions of the exercise {exercise}: each one stands where the exercise has "
                    f"its TODO cell. Try the exercise first: its notebook, `{stem}.ipynb`, has no solutions, "
                    "so its checks run your code.*",
                    id="markdown-solutions",
                )
            )
        for index, cell in enumerate(
            cell for cell in source.cells if left_out not in _tags(cell)
        ):
            cell = nbformat.from_dict(dict(cell))
            cell.id = _cell_id(cell.cell_type, index)
            cells.append(cell)
        notebook = nbformat.v4.new_notebook(cells=cells)
        notebooks[name] = _write(notebook)
    return notebooks
