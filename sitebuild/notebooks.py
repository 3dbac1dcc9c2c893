"""Every lesson and exercise as a downloadable notebook, and light notebook pages.

* Each lesson page (``lessons/*.md``) is converted into a notebook at build time:
  prose becomes Markdown cells (figures embedded as attachments), every python
  fence becomes a code cell, include lines expanded exactly as the page shows them.
* Each exercise notebook source (``notebooks/*.py``, jupytext percent format) is
  offered as a clean ``.ipynb`` without outputs, in two files: the learner's copy,
  with the TODO cells and no solution (so every check runs the learner's own
  code, whatever they type), and ``<name>-solutions.ipynb``, with each solution in
  place of its TODO. The page on the site (and the tests) run the source with its
  solutions, folded there by ``docs/javascripts/notebook.js``.
* Every downloaded notebook starts with a cell that installs the package when it
  is missing (from ``REPO_URL``, in Colab for instance) and does nothing where
  ``vitlesson`` imports; its links are absolute (to ``SITE_URL``) or, without a
  published site, plain text naming the page.
* Every such page gets a download link (``page.download_url``, used by
  ``overrides/main.html``) and, when ``REPO_URL`` is a GitHub repository, an
  "Open in Colab" link (``page.colab_url``) to the same file on the
  :data:`NOTEBOOKS_BRANCH` branch, which ``.github/workflows/publish.yml`` fills
  with ``site/downloads/``. Without ``REPO_URL`` the page says how to get the code.
* The home page's install command (the ``<!-- vitlesson:install -->`` marker) is
  written from ``REPO_URL``.
* mkdocs-jupyter inlines about 575 KB of JupyterLab CSS into each notebook page;
  it is moved into one shared, cacheable stylesheet. Its MathJax loader (an empty
  ``<script src="">``) and its CDN mermaid loader are removed: the site renders maths
  with its own KaTeX and has no diagrams.
* What mkdocs-jupyter's options can do, they do (``mkdocs.yml``): ``no_prompt``
  drops the "In [n]:" column, so code cells get the page's 79 columns. In 0.26.3
  no option moves the inlined CSS, drops the two loaders or leaves out stderr
  outputs (library warnings), so those stay here, each checked to match exactly
  once. mkdocs-jupyter 0.27.0 is on PyPI, but not yet on the package index this
  project installs from; its options are to be read again when it is.
* mkdocs-jupyter's cache key ignores the ``vitlesson`` package its notebooks
  import, so its cache directory is keyed here on the package modules the
  notebook sources import and the data files those read
  (:func:`cache.code_inputs`): a change to one of them re-executes the
  notebooks, a change elsewhere does not.
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
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url
from nbclient.exceptions import (
    CellExecutionError,
    CellTimeoutError,
    DeadKernelError,
)

from sitebuild import ROOT, cache, lesson_code, quizzes

log = logging.getLogger("mkdocs.hooks.notebooks")
LESSON_PAGES = "lessons/"
NOTEBOOK_SOURCES = "notebooks/"
DOWNLOADS = "downloads/"
STYLE = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.DOTALL)
UNUSED_SCRIPTS = {
    "MathJax loader": re.compile(
        r"<!-- Load mathjax -->\s*<script src=\"\">\s*</script>\s*"
    ),
    "MathJax configuration": re.compile(
        r"<!-- MathJax configuration -->\s*<script type=\"text/x-mathjax-config\">.*?</script>\s*"
        r"(<!-- End of mathjax configuration -->)?",
        re.DOTALL,
    ),
    "mermaid loader": re.compile(
        r"<script type=\"module\">\s*document\.addEventListener\(\"DOMContentLoaded\", "
        r"async \(\) => \{\s*const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid.*?</script>\s*",
        re.DOTALL,
    ),
}

# The branch the publishing workflow pushes site/downloads/ to; the Colab links open it.
NOTEBOOKS_BRANCH = "notebooks"
COLAB = "https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{path}"
GITHUB_REPOSITORY = re.compile(
    r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$"
)
INSTALL_MARKER = "<!-- vitlesson:install -->"

_downloads: dict[
    str, dict[str, str]
] = {}  # page src_uri -> {"notebook": uri, "solutions": uri}
_stylesheets: dict[str, str] = {}  # site uri -> css


def on_config(config):
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        docs = Path(config["docs_dir"])
        sources = sorted(
            path
            for pattern in jupyter.config["include"]
            for path in docs.glob(pattern)
            if path.suffix == ".py"
        )
        key = cache.key(
            *cache.code_inputs(
                *(path.read_text(encoding="utf-8") for path in sources)
            ),
            *cache.versions(*cache.LIBRARIES),
        )
        jupyter.config["cache_dir"] = str(
            ROOT / ".cache" / "mkdocs-jupyter" / key
        )
    return config


# --- Where a notebook runs: install cell, absolute links, Colab --------------------------------


def site_url_of(config) -> str:
    """The published site's address with a trailing slash, or "" for a local build."""
    url = config.get("site_url") or ""
    return url.rstrip("/") + "/" if url else ""


def colab_url(config, download: str) -> str | None:
    """Colab's address of a downloaded notebook on the notebooks branch, or None without a GitHub REPO_URL."""
    match = GITHUB_REPOSITORY.match(config.get("repo_url") or "")
    if match is None:
        return None
    return COLAB.format(
        owner=match["owner"],
        repo=match["repo"],
        branch=NOTEBOOKS_BRANCH,
        path=PurePosixPath(download)
        .relative_to(DOWNLOADS.rstrip("/"))
        .as_posix(),
    )


def install_cell(config):
    """First cell of every downloaded notebook: the package, installed only where it is missing."""
    repo = (config.get("repo_url") or "").rstrip("/")
    if repo:
        body = (
            '    %pip install --quiet "vitlesson @ git+' + repo + '"\n'
            "    importlib.invalidate_caches()\n"
        )
        why = "installed from the course repository where it is missing (in Colab,\n# for instance)"
    else:
        body = (
            "    raise ModuleNotFoundError(\n"
            '        "This notebook needs the course package vitlesson: clone the "\n'
            '        "course repository, run `make serve` in it, and run the notebook "\n'
            '        "with the Python of its .venv (.venv/bin/pip install jupyterlab, "\n'
            '        "then .venv/bin/jupyter lab)."\n'
            "    )\n"
        )
        why = "where it is missing, this cell says how to get it"
    source = (
        f"# The course package `vitlesson`: {why}; where it imports, this\n"
        "# cell does nothing.\n"
        "import importlib\n"
        "import importlib.util\n\n"
        'if importlib.util.find_spec("vitlesson") is None:\n' + body
    )
    return nbformat.v4.new_code_cell(source.rstrip("\n"), id="code-install")


LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
NOT_SITE_RELATIVE = re.compile(
    r"^(?:[a-zA-Z][\w+.-]*:|#)"
)  # https:, mailto:, attachment:, in-page anchor


def page_path(uri: str) -> str:
    """The URL path of a source page on the published site (directory URLs): lessons/patches/."""
    path = PurePosixPath(uri)
    if path.suffix in (".md", ".py", ".ipynb"):
        path = path.with_suffix("")
        if path.name == "index":
            path = path.parent
        return "" if str(path) == "." else f"{path.as_posix()}/"
    return path.as_posix()


def absolute_links(
    text: str, base: str, site_url: str, source_relative: bool
) -> str:
    """Markdown links of a notebook, made to work outside the site.

    ``base`` is what relative targets resolve against: the page's source file
    (``lessons/patches.md``, targets name sources such as ``attention.md``) when
    ``source_relative``, else the page's URL (``notebooks/x/``, targets are URLs such
    as ``../../lessons/patches/``). With a published site each link points there;
    without one, the link becomes its text and the page it names."""

    def replace(match):
        target = match["target"]
        if NOT_SITE_RELATIVE.match(target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        folder = (
            posixpath.dirname(base) if source_relative else base.rstrip("/")
        )
        resolved = posixpath.normpath(posixpath.join(folder, path))
        resolved = "" if resolved == "." else resolved
        if source_relative:
            resolved = page_path(resolved)
        elif path.endswith("/") and resolved:
            resolved += "/"
        if site_url:
            return f"[{match['text']}]({site_url}{resolved}{'#' + anchor if anchor else ''})"
        return f"{match['text']} (course page *{resolved or 'home'}*)"

    return LINK.sub(replace, text)


def install_command(config) -> str:
    """The home page's one command that gets, installs and serves the course."""
    repo = (config.get("repo_url") or "").rstrip("/")
    if repo:
        return (
            "One command clones the course, installs everything into `.venv` and serves\n"
            "the site at http://127.0.0.1:8000:\n\n"
            f"```bash\ngit clone {repo} vitlesson \\\n  && cd vitlesson && make serve\n```\n"
        )
    return (
        "This copy of the site was built without the repository's address (`REPO_URL`):\n"
        "get the course repository from whoever gave you the site, then, in its folder,\n"
        "one command installs everything into `.venv` and serves the site at\n"
        "http://127.0.0.1:8000:\n\n```bash\nmake serve\n```\n"
    )


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "index.md":
        return markdown
    if markdown.count(INSTALL_MARKER) != 1:
        log.warning(
            f"index.md: expected one {INSTALL_MARKER} line for the install command, "
            f"found {markdown.count(INSTALL_MARKER)}"
        )
        return markdown
    return markdown.replace(INSTALL_MARKER, install_command(config))


# --- Markdown page -> notebook -------------------------------------------------------------

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
        if not in_fence:
            line = absolute_links(
                line, page_uri, site_url, source_relative=True
            )
        lines.append(line)
    cell = nbformat.v4.new_markdown_cell(
        "\n".join(lines).strip("\n"), id=_cell_id("markdown", index)
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


def downloads(files, config) -> dict[str, dict[str, str]]:
    """The notebooks offered for download, by the page that offers them
    (source uri -> {file name: notebook}); the learner's copy first. What
    the build adds under downloads/, and what ``python -m sitebuild``
    writes."""
    offered = {}
    for file in list(files):
        uri = file.src_uri
        if uri.startswith(LESSON_PAGES) and uri.endswith(".md"):
            text = Path(file.abs_src_path).read_text(encoding="utf-8")
            try:
                notebook = page_to_notebook(text, uri, files, config)
            except (lesson_code.IncludeError, quizzes.QuizError) as error:
                raise PluginError(str(error)) from None
            offered[uri] = {f"{PurePosixPath(uri).stem}.ipynb": notebook}
        elif uri.startswith(NOTEBOOK_SOURCES) and uri.endswith(".py"):
            offered[uri] = source_to_notebooks(
                Path(file.abs_src_path), uri, config
            )
    return offered


def on_files(files, config):
    _downloads.clear()
    for uri, notebooks in downloads(files, config).items():
        for name, content in notebooks.items():
            files.append(
                File.generated(config, f"{DOWNLOADS}{name}", content=content)
            )
        names = list(notebooks)
        _downloads[uri] = {"notebook": f"{DOWNLOADS}{names[0]}"}
        if len(names) > 1:
            _downloads[uri]["solutions"] = f"{DOWNLOADS}{names[1]}"
    return files


def on_page_context(context, page, config, nav):
    downloads = _downloads.get(page.file.src_uri)
    if downloads:
        page.download_url = get_relative_url(
            downloads["notebook"], page.file.url
        )
        page.colab_url = colab_url(config, downloads["notebook"])
        if "solutions" in downloads:
            page.solutions_url = get_relative_url(
                downloads["solutions"], page.file.url
            )
    return context


# --- A notebook that fails while the build runs it -------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line (\d+)")
CELL_MARKER = re.compile(r"^# %%")
CHAINED = re.compile(
    r"The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:"
)


def executed_cell_lines(path: Path) -> list[int]:
    """For each code cell the kernel runs, in order, the line of the
    jupytext source just before the cell's first line (its ``# %%`` line).

    The kernel numbers the cells it runs 1, 2, ... (``Cell In[3]``), skipping
    the empty ones, and a percent-format cell keeps the source's lines one
    for one (a commented ``# %magic`` line included). Empty where the
    source's ``# %%`` lines are not one per cell."""
    notebook = jupytext.read(path)
    markers = [
        number
        for number, line in enumerate(
            path.read_text(encoding="utf-8").splitlines(), start=1
        )
        if CELL_MARKER.match(line)
    ]
    if len(markers) != len(notebook.cells):
        return []
    return [
        marker
        for marker, cell in zip(markers, notebook.cells, strict=True)
        if cell.cell_type == "code" and cell.source.strip()
    ]


def notebook_failure(path: Path, where: str, error: Exception) -> str:
    """One line for a notebook the build could not run: the source line in
    the cell that failed, the line that raised first where that is in
    another cell (a function defined there, or a chained exception), and the
    error."""
    if not isinstance(error, CellExecutionError):  # timeout, dead kernel
        reason = " ".join(ANSI.sub("", str(error)).split()[:40])
        return (
            f"{where}: the build could not run the notebook: "
            f"{type(error).__name__}: {reason}"
        )
    starts = executed_cell_lines(path)

    def last_line(traceback: str) -> int | None:
        frames = CELL_FRAME.findall(traceback)
        if not frames:
            return None
        cell, offset = (int(value) for value in frames[-1])
        return starts[cell - 1] + offset if 0 < cell <= len(starts) else None

    tracebacks = CHAINED.split(ANSI.sub("", error.traceback))
    failed, first = last_line(tracebacks[-1]), last_line(tracebacks[0])
    value = " ".join(ANSI.sub("", error.evalue).split())
    return (
        f"{where}{'' if failed is None else f':{failed}'}: a cell failed "
        f"while the build ran the notebook: {error.ename}: {value}"
        + ("" if first in (None, failed) else f" (raised at line {first})")
    )


@event_priority(-100)  # after mkdocs-jupyter has set the page's render
def on_pre_page(page, config, files):
    if not (
        page.file.src_uri.startswith(NOTEBOOK_SOURCES)
        and page.file.src_uri.endswith(".py")
    ):
        return page
    render = page.render

    def render_or_one_line(config, files):
        try:
            render(config, files)
        except (
            CellExecutionError,
            CellTimeoutError,
            DeadKernelError,
        ) as error:
            raise PluginError(
                notebook_failure(
                    Path(page.file.abs_src_path),
                    f"docs/{page.file.src_uri}",
                    error,
                )
            ) from None

    page.render = render_or_one_line
    return page


# --- Light notebook pages ----------------------------------------------------------------------

STDERR_OUTPUT = re.compile(r'<div class="jp-OutputArea-child[^"]*">')


def without_stderr(html: str) -> str:
    """Remove every output of a notebook page that came from stderr (library warnings, log lines):
    a published page shows what the code computes, not the noise of the machine that built it."""
    pieces, position = [], 0
    for match in STDERR_OUTPUT.finditer(html):
        if match.start() < position:
            continue  # inside an output already removed
        depth, cursor = 0, match.start()
        for tag in re.finditer(r"<(/?)div\b", html[match.start() :]):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                cursor = (
                    match.start()
                    + tag.end()
                    + html[match.start() + tag.end() :].index(">")
                    + 1
                )
                break
        if "application/vnd.jupyter.stderr" in html[match.start() : cursor]:
            pieces.append(html[position : match.start()])
            position = cursor
    return "".join(pieces) + html[position:]


COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
KEPT_AT_RULES = (
    "@font-face",
    "@keyframes",
    "@-webkit-keyframes",
    "@page",
    "@property",
    "@import",
    "@charset",
)


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
    present = {
        name
        for value in re.findall(r'class="([^"]*)"', html)
        for name in value.split()
    }
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
        elif any(
            set(re.findall(r"\.(-?[_a-zA-Z][\w-]*)", selector)) <= present
            for selector in prelude.split(",")
        ):
            kept.append(css[position:end].strip())
        position = end
    return "\n".join(kept)


def on_post_page(output, page, config):
    if not (
        page.file.src_uri.startswith(NOTEBOOK_SOURCES)
        and page.file.src_uri.endswith(".py")
    ):
        return output
    output = without_stderr(output)
    for name, pattern in UNUSED_SCRIPTS.items():
        output, found = pattern.subn("", output)
        if found != 1:
            log.warning(
                f"{page.file.src_uri}: expected one {name} from mkdocs-jupyter, found {found}"
            )
    css = used_css(
        "\n".join(match.group(1).strip() for match in STYLE.finditer(output)),
        output,
    )
    uri = f"assets/stylesheets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:10]}.css"
    _stylesheets[uri] = css
    link = f'<link rel="stylesheet" href="{get_relative_url(uri, page.file.url)}">\n'
    first = STYLE.search(output)
    output = (
        output[: first.start()] + link + STYLE.sub("", output[first.start() :])
    )
    return output


def on_post_build(config):
    for uri, css in _stylesheets.items():
        target = Path(config["site_dir"]) / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")
