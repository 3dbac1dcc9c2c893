"""MkDocs hook: every lesson and exercise as a downloadable notebook, and light notebook pages.

* Each lesson page (``lessons/*.md``) is converted into a notebook at build time:
  prose becomes Markdown cells (figures embedded as attachments), every python
  fence becomes a code cell, include lines expanded exactly as the page shows them.
* Each exercise notebook source (``notebooks/*.py``, jupytext percent format) is
  offered as a clean ``.ipynb`` without outputs.
* Every such page gets a download link (``page.download_url``, used by
  ``overrides/main.html``).
* mkdocs-jupyter inlines about 575 KB of JupyterLab CSS into each notebook page;
  it is moved into one shared, cacheable stylesheet. Its MathJax loader (an empty
  ``<script src="">``) and its CDN mermaid loader are removed: the site renders maths
  with its own KaTeX and has no diagrams.
* mkdocs-jupyter's cache key ignores the ``vitlesson`` package its notebooks
  import, so its cache directory is keyed on the package source here: a change to
  the package always re-executes the notebooks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import posixpath
import re
from pathlib import Path, PurePosixPath

import jupytext
import nbformat
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

import lesson_code
import quizzes

log = logging.getLogger("mkdocs.hooks.notebooks")
ROOT = Path(__file__).resolve().parent.parent
LESSON_PAGES = "lessons/"
NOTEBOOK_SOURCES = "notebooks/"
DOWNLOADS = "downloads/"
STYLE = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.DOTALL)
UNUSED_SCRIPTS = {
    "MathJax loader": re.compile(r"<!-- Load mathjax -->\s*<script src=\"\">\s*</script>\s*"),
    "MathJax configuration": re.compile(
        r"<!-- MathJax configuration -->\s*<script type=\"text/x-mathjax-config\">.*?</script>\s*"
        r"(<!-- End of mathjax configuration -->)?",
        re.DOTALL,
    ),
    "mermaid loader": re.compile(r"<script type=\"module\">\s*document\.addEventListener\(\"DOMContentLoaded\", "
                                 r"async \(\) => \{\s*const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid.*?</script>\s*",
                                 re.DOTALL),
}

_downloads: dict[str, str] = {}  # page src_uri -> download uri
_stylesheets: dict[str, str] = {}  # site uri -> css


def package_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted((ROOT / "vitlesson").rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def on_config(config):
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        jupyter.config["cache_dir"] = str(ROOT / ".cache" / "mkdocs-jupyter" / package_digest())
    return config


# --- Markdown page -> notebook -------------------------------------------------------------

ADMONITION = re.compile(r"^[ \t]*(?:!!!|\?\?\?\+?)[ \t]+(?P<kind>[\w-]+)(?:[ \t]+\"(?P<title>[^\"]*)\")?[ \t]*$")
TAB = re.compile(r"^[ \t]*===\+?[ \t]+\"(?P<title>[^\"]*)\"[ \t]*$")
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)")
PAGE_LINK = re.compile(r"\]\((?P<target>[\w./-]+\.md)(?P<anchor>#[\w-]+)?\)")
ATTRIBUTES = re.compile(r"\{[ \t]*[.#:][^}]*\}")


def _cell_id(kind: str, index: int) -> str:
    return f"{kind}-{index}"


def quiz_as_text(match) -> str:
    """A quiz fence as plain Markdown: each question, its options, the answer and why."""
    lines = []
    for number, question in enumerate(quizzes.parse(match["body"], "notebook"), start=1):
        lines.append(f"{number}. {question['question']}")
        for option in question["options"]:
            mark = "**right**" if option["correct"] else "not quite"
            lines.append(f"    - {option['text']} ({mark}: {option['why']})")
    return "\n".join(lines)


def markdown_cell(text: str, page_uri: str, files, site_url: str, index: int):
    """Prose with MkDocs-only syntax turned into plain Jupyter Markdown."""
    text = quizzes.FENCE.sub(quiz_as_text, text)
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
            line = line.strip() if line.strip().startswith(("```", "~~~")) else line
        for image in IMAGE.finditer(line):
            uri = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), image["src"]))
            figure = files.get_file_from_path(uri)
            name = PurePosixPath(uri).name
            mime = "image/webp" if name.endswith(".webp") else "image/png"
            attachments[name] = {mime: base64.b64encode(figure.content_bytes).decode()}
            line = line.replace(image.group(0), f"![{image['alt']}](attachment:{name})")
        line = PAGE_LINK.sub(
            lambda m: f"]({site_url}{PurePosixPath(page_uri).parent.joinpath(m['target']).with_suffix('').as_posix()}/"
                      f"{m['anchor'] or ''})",
            line,
        )
        lines.append(line)
    cell = nbformat.v4.new_markdown_cell("\n".join(lines).strip("\n"), id=_cell_id("markdown", index))
    if attachments:
        cell.attachments = attachments
    return cell


def code_cell(fence: lesson_code.Fence, index: int):
    parts = []
    for segment in fence.segments:
        if segment.module is None:
            parts.append(segment.source)
        elif not segment.runnable:  # a method shown alone: it runs as part of its module
            shown = "".join(f"# {line}\n" if line.strip() else "#\n" for line in segment.source.splitlines())
            parts.append(f"# {segment.module}: part of a class, shown on the page (it runs when the\n"
                         f"# package is imported):\n{shown}")
        else:  # the package's own code, with the imports and helpers it uses in its module
            parts.append(f"# {segment.module}: the package's source, shown on the page\n"
                         f"from {segment.module} import *  # noqa: F403\n\n{segment.source}")
    return nbformat.v4.new_code_cell("".join(parts).rstrip("\n"), id=_cell_id("code", index))


def page_to_notebook(text: str, page_uri: str, files, config) -> str:
    site_url = (config.get("site_url") or "/").rstrip("/") + "/"
    fences = lesson_code.python_fences(text, page_uri, ROOT, lesson_code.snippet_preprocessor(config))
    page_url = f"{site_url}{PurePosixPath(page_uri).with_suffix('').as_posix()}/"
    cells = [nbformat.v4.new_markdown_cell(
        f"*Generated from the course page {page_url} by the site build. Run it with the `vitlesson` "
        "package installed (`make serve` or `pip install -e .` in the course repository).*",
        id="markdown-source",
    )]
    position = 0
    for index, fence in enumerate(fences):
        prose = text[position : fence.start]
        if prose.strip():
            cells.append(markdown_cell(prose, page_uri, files, site_url, index))
        cells.append(code_cell(fence, index))
        position = fence.end
    if text[position:].strip():
        cells.append(markdown_cell(text[position:], page_uri, files, site_url, len(fences)))
    return _write(nbformat.v4.new_notebook(cells=cells))


def _write(notebook) -> str:
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def source_to_notebook(path: Path) -> str:
    """A jupytext percent source as a clean .ipynb (no outputs, stable cell ids)."""
    notebook = jupytext.read(path)
    for index, cell in enumerate(notebook.cells):
        cell.id = _cell_id(cell.cell_type, index)
    return _write(notebook)


def on_files(files, config):
    _downloads.clear()
    for file in list(files):
        uri = file.src_uri
        if uri.startswith(LESSON_PAGES) and uri.endswith(".md"):
            content = page_to_notebook(Path(file.abs_src_path).read_text(encoding="utf-8"), uri, files, config)
        elif uri.startswith(NOTEBOOK_SOURCES) and uri.endswith(".py"):
            content = source_to_notebook(Path(file.abs_src_path))
        else:
            continue
        download = f"{DOWNLOADS}{PurePosixPath(uri).stem}.ipynb"
        files.append(File.generated(config, download, content=content))
        _downloads[uri] = download
    return files


def on_page_context(context, page, config, nav):
    download = _downloads.get(page.file.src_uri)
    if download:
        page.download_url = get_relative_url(download, page.file.url)
    return context


# --- Light notebook pages ----------------------------------------------------------------------

PROMPT = re.compile(r'<div class="jp-(?:Input|Output)Prompt [^"]*">[^<]*</div>')
STDERR_OUTPUT = re.compile(r'<div class="jp-OutputArea-child[^"]*">')


def without_stderr(html: str) -> str:
    """Remove every output of a notebook page that came from stderr (library warnings, log lines):
    a published page shows what the code computes, not the noise of the machine that built it."""
    pieces, position = [], 0
    for match in STDERR_OUTPUT.finditer(html):
        if match.start() < position:
            continue  # inside an output already removed
        depth, cursor = 0, match.start()
        for tag in re.finditer(r"<(/?)div\b", html[match.start():]):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                cursor = match.start() + tag.end() + html[match.start() + tag.end():].index(">") + 1
                break
        if "application/vnd.jupyter.stderr" in html[match.start():cursor]:
            pieces.append(html[position:match.start()])
            position = cursor
    return "".join(pieces) + html[position:]


COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
KEPT_AT_RULES = ("@font-face", "@keyframes", "@-webkit-keyframes", "@page", "@property", "@import", "@charset")


def _block_end(css: str, opening: int) -> int:
    """Index just after the brace that closes the one at ``opening``."""
    depth = 0
    for index in range(opening, len(css)):
        depth += {"{": 1, "}": -1}.get(css[index], 0)
        if depth == 0:
            return index + 1
    return len(css)


def used_css(css: str, html: str) -> str:
    """The rules of ``css`` that can match something in ``html``.

    A selector can match only if every class it names occurs in the page; rules
    without classes (elements, :root variables), @font-face and @keyframes are kept,
    and @media/@supports blocks are filtered inside. JupyterLab's stylesheet is
    about 575 KB; a notebook page uses a small part of it."""
    present = {name for value in re.findall(r'class="([^"]*)"', html) for name in value.split()}
    css, kept, position = COMMENT.sub("", css), [], 0
    while (opening := css.find("{", position)) != -1:
        prelude, end = css[position:opening].strip(), _block_end(css, opening)
        if prelude.startswith(("@media", "@supports", "@layer", "@container")):
            inner = used_css(css[opening + 1 : end - 1], html)
            if inner.strip():
                kept.append(f"{prelude}{{{inner}}}")
        elif prelude.startswith("@"):
            if prelude.startswith(KEPT_AT_RULES):
                kept.append(css[position:end].strip())
        elif any(set(re.findall(r"\.(-?[_a-zA-Z][\w-]*)", selector)) <= present for selector in prelude.split(",")):
            kept.append(css[position:end].strip())
        position = end
    return "\n".join(kept)


def on_post_page(output, page, config):
    if not (page.file.src_uri.startswith(NOTEBOOK_SOURCES) and page.file.src_uri.endswith(".py")):
        return output
    # No "In [n]:" column: code cells get the full 79-character width of the lesson pages.
    output = PROMPT.sub("", without_stderr(output))
    for name, pattern in UNUSED_SCRIPTS.items():
        output, found = pattern.subn("", output)
        if found != 1:
            log.warning(f"{page.file.src_uri}: expected one {name} from mkdocs-jupyter, found {found}")
    css = used_css("\n".join(match.group(1).strip() for match in STYLE.finditer(output)), output)
    uri = f"assets/stylesheets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:10]}.css"
    _stylesheets[uri] = css
    link = f'<link rel="stylesheet" href="{get_relative_url(uri, page.file.url)}">\n'
    first = STYLE.search(output)
    output = output[: first.start()] + link + STYLE.sub("", output[first.start():])
    return output


def on_post_build(config):
    for uri, css in _stylesheets.items():
        target = Path(config["site_dir"]) / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")
