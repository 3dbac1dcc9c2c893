"""Every lesson and exercise as a downloadable notebook, and light notebook pages:
the build's events, each concern in a module of its own (how a page becomes a
notebook, :mod:`sitebuild.notebook_convert`; where a notebook runs,
:mod:`sitebuild.notebook_links`; a failing notebook in one line,
:mod:`sitebuild.notebook_failures`; the pruned notebook pages,
:mod:`sitebuild.notebook_pages`).

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

import logging
from pathlib import Path, PurePosixPath

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
from sitebuild.notebook_convert import page_to_notebook, source_to_notebooks
from sitebuild.notebook_failures import (  # noqa: F401
    executed_cell_lines,  # read by tests/site/test_build_mistakes.py
    notebook_failure,
)
from sitebuild.notebook_links import (  # noqa: F401
    DOWNLOADS,
    INSTALL_MARKER,
    NOTEBOOKS_BRANCH,  # read by tests/site/test_publishing.py
    OFFLINE_SCRIPT,
    colab_url,
    install_command,
    is_offline_copy,
    offline_script,
)
from sitebuild.notebook_pages import (  # noqa: F401
    lighten,
    without_stderr,  # read by tests/notebooks/test_notebooks.py
)

log = logging.getLogger("mkdocs.hooks.notebooks")
LESSON_PAGES = "lessons/"
NOTEBOOK_SOURCES = "notebooks/"

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
            if is_offline_copy(config):  # saved by notebook.js from disk
                files.append(
                    File.generated(
                        config,
                        f"{DOWNLOADS}{name}{OFFLINE_SCRIPT}",
                        content=offline_script(name, content),
                    )
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


def on_post_page(output, page, config):
    if not (
        page.file.src_uri.startswith(NOTEBOOK_SOURCES)
        and page.file.src_uri.endswith(".py")
    ):
        return output

    def warn(line: str) -> None:
        log.warning(f"{page.file.src_uri}: {line}")

    output, uri, css = lighten(output, page.file.url, warn)
    _stylesheets[uri] = css
    return output


def on_post_build(config):
    for uri, css in _stylesheets.items():
        target = Path(config["site_dir"]) / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")
