"""Where a downloaded notebook runs (sitebuild/notebook_links.py): its
install cell, its links outside the site, its Colab address."""

import pytest

from sitebuild.notebook_links import (
    absolute_links,
    colab_url,
    install_cell,
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
    repo = install_cell({"repo_url": "https://github.com/o/c"}).source
    assert (
        '%pip install --quiet "vitlesson @ git+https://github.com/o/c"' in repo
    )
    bare = install_cell({"repo_url": ""}).source
    assert "%pip" not in bare and "raise ModuleNotFoundError(" in bare
    compile(bare, "cell", "exec")  # without a repository, plain Python
