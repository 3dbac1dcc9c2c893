"""Where a downloaded notebook runs (sitebuild/notebook_links.py): its
install cell, its links outside the site, its Colab address."""

import json
import subprocess

import pytest

from sitebuild import ROOT, notebook_links
from sitebuild.notebook_links import (
    absolute_links,
    built_commit,
    colab_url,
    install_cell,
    offline_script,
    page_path,
)


@pytest.mark.parametrize(
    "uri, path",
    [
        ("index.md", ""),
        ("lessons/patches.md", "lessons/patches/"),
        (
            "notebooks/flexible-patch-embedding.py",
            "notebooks/flexible-patch-embedding/",
        ),
        ("figures/patches.webp", "figures/patches.webp"),
    ],
)
def test_a_source_page_has_its_published_address(uri, path):
    assert page_path(uri) == path


def test_links_point_at_the_published_site_or_name_the_page():
    text = "See [part 2](attention.md#keys) and [the paper](https://x.org)."
    published = absolute_links(
        text, "lessons/patches.md", "https://e.org/c/", source_relative=True
    )
    assert published == (
        "See [part 2](https://e.org/c/lessons/attention/#keys) and "
        "[the paper](https://x.org)."
    )
    local = absolute_links(text, "lessons/patches.md", "", True)
    assert local.startswith("See part 2 (course page *lessons/attention/*)")


def test_colab_opens_the_notebooks_branch_of_a_github_repository_only():
    config = {"repo_url": "https://github.com/owner/course.git"}
    assert colab_url(config, "downloads/patches.ipynb") == (
        "https://colab.research.google.com/github/owner/course/blob/"
        "notebooks/patches.ipynb"
    )
    assert colab_url({"repo_url": "https://gitlab.com/o/c"}, "d.ipynb") is None


def test_the_install_cell_installs_from_the_repository_or_says_how():
    repo = install_cell({"repo_url": "https://github.com/o/c"}, "a" * 40)
    assert (
        '%pip install --quiet "vitlesson @ git+https://github.com/o/c@'
        + "a" * 40
        + '"'
    ) in repo.source
    bare = install_cell({"repo_url": ""}).source
    assert "%pip" not in bare and "raise ModuleNotFoundError(" in bare
    compile(bare, "cell", "exec")  # without a repository, plain Python


def test_the_install_cell_pins_the_commit_the_notebook_was_built_from(
    monkeypatch, tmp_path
):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = {"repo_url": "https://github.com/o/c"}
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    assert built_commit(None, ROOT) == head
    assert f'git+https://github.com/o/c@{head}"' in install_cell(config).source
    # The publishing workflow names the commit it builds.
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef" * 2 + "01234567")
    assert (
        '@0123456789abcdef0123456789abcdef01234567"'
        in install_cell(config).source
    )
    with pytest.raises(ValueError, match="GITHUB_SHA: expected a commit's 40"):
        built_commit("main", ROOT)
    # Without git (a folder that is no checkout), the head, said plainly.
    assert built_commit(None, tmp_path) is None
    monkeypatch.delenv("GITHUB_SHA")
    monkeypatch.setattr(notebook_links, "ROOT", tmp_path)
    unpinned = install_cell(config).source
    assert 'git+https://github.com/o/c"' in unpinned
    assert "from the repository's head (the site was built" in unpinned
    assert "without git, so the commit of this notebook is not known" in (
        unpinned
    )


def test_the_offline_copy_carries_each_notebook_as_a_script():
    notebook = '{"cells": [], "note": "</script> \u2028 é"}'
    script = offline_script("patches.ipynb", notebook)
    prefix = 'window.vitlessonNotebooks["patches.ipynb"] = '
    line = script.split("\n")[1]
    assert line.startswith(prefix) and line.endswith(";")
    assert json.loads(line[len(prefix) : -1]) == notebook
