"""Where a downloaded notebook runs: its install cell, links that work
outside the site, the Colab address, and the home page's install command.

A notebook leaves the site: in Colab or a learner's Jupyter, the course
package may be missing and the site's relative links lead nowhere. Its first
cell installs the package where it is missing (from ``REPO_URL``) and does
nothing where ``vitlesson`` imports; its links point at the published site
(``SITE_URL``) or, without one, name the page in plain text. Colab opens a
notebook from a GitHub path only: the notebooks branch that
``.github/workflows/publish.yml`` fills with ``site/downloads/``.

The install cell installs the commit the notebook was built from (the
publishing workflow's ``GITHUB_SHA``, else ``git rev-parse HEAD`` of the
checkout), not the repository's head, which moves on after the notebook is
written; without git, the cell says that it installs the head.

From the copy opened from disk (``make build-offline``), Chromium ignores a
link's ``download`` attribute on another ``file://`` address (even in the same
folder) and opens the notebook's JSON instead. That copy therefore also
carries each notebook as a script (``downloads/<name>.ipynb.js``), which
``docs/javascripts/notebook.js`` loads on the click and saves under its name.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
import subprocess
from pathlib import Path, PurePosixPath

import nbformat

from sitebuild import ROOT

DOWNLOADS = "downloads/"
# The branch the publishing workflow pushes site/downloads/ to; the Colab links open it.
NOTEBOOKS_BRANCH = "notebooks"
COLAB = "https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{path}"
GITHUB_REPOSITORY = re.compile(
    r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$"
)
INSTALL_MARKER = "<!-- vitlesson:install -->"
COMMIT = re.compile(r"^[0-9a-f]{40}$")
# What the copy opened from disk adds to each notebook's name: its script.
OFFLINE_SCRIPT = ".js"


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


@functools.cache
def built_commit(github_sha: str | None, root: Path) -> str | None:
    """The commit the site is built from: ``github_sha`` (the publishing
    workflow's ``GITHUB_SHA``) when given, else the checkout's HEAD at
    ``root``; None where ``root`` is not a git checkout or git is missing."""
    if github_sha:
        if not COMMIT.match(github_sha):
            raise ValueError(
                "GITHUB_SHA: expected a commit's 40 hexadecimal digits, "
                f"got {github_sha!r}"
            )
        return github_sha
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            # Never the HEAD of a repository above the checkout.
            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(root.parent)},
        )
    except OSError:  # no git
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and COMMIT.match(commit) else None


def install_cell(config, commit: str | None = None):
    """First cell of every downloaded notebook: the package, installed only
    where it is missing, at ``commit`` (by default :func:`built_commit` of
    this checkout)."""
    repo = (config.get("repo_url") or "").rstrip("/")
    if repo:
        commit = commit or built_commit(os.environ.get("GITHUB_SHA"), ROOT)
        if commit:
            target = f"{repo}@{commit}"
            why = (
                "# The course package `vitlesson`, where it is missing (in "
                "Colab, for\n# instance): installed at the commit this "
                f"notebook was built from,\n# {commit[:12]}."
            )
        else:
            target = repo
            why = (
                "# The course package `vitlesson`, where it is missing (in "
                "Colab, for\n# instance): installed from the repository's "
                "head (the site was built\n# without git, so the commit of "
                "this notebook is not known).\n#"
            )
        body = (
            '    %pip install --quiet "vitlesson @ git+' + target + '"\n'
            "    importlib.invalidate_caches()\n"
        )
    else:
        body = (
            "    raise ModuleNotFoundError(\n"
            '        "This notebook needs the course package vitlesson: clone the "\n'
            '        "course repository, run `make serve` in it, and run the notebook "\n'
            '        "with the Python of its .venv (.venv/bin/pip install jupyterlab, "\n'
            '        "then .venv/bin/jupyter lab)."\n'
            "    )\n"
        )
        why = (
            "# The course package `vitlesson`: where it is missing, this "
            "cell says\n# how to get it."
        )
    source = (
        f"{why} Where it imports, this cell does nothing.\n"
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


def is_offline_copy(config) -> bool:
    """Whether this build is the copy opened from disk (Material's offline
    plugin enabled: ``make build-offline``)."""
    plugin = config.plugins.get("material/offline")
    return bool(plugin is not None and plugin.config.enabled)


def offline_script(name: str, notebook: str) -> str:
    """A notebook as a script that the copy opened from disk can load
    (``fetch()`` of a ``file://`` address is refused): it files the
    notebook's text under its name in ``window.vitlessonNotebooks``."""
    return (
        "window.vitlessonNotebooks = window.vitlessonNotebooks || {};\n"
        f"window.vitlessonNotebooks[{json.dumps(name)}] = "
        f"{json.dumps(notebook, ensure_ascii=False)};\n"
    )
