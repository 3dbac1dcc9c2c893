"""The box that offers a part's exercise notebook at the end of the part."""

from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from sitebuild import exercise_boxes, reading

NOTEBOOK = """# ---
# jupyter:
#   exercise_minutes: 7
# ---

# %% [markdown]
# # Exercise: attention by hand
#
# You write scaled dot-product
# attention, as in [part 2](../../lessons/attention/), and check it.
#
# More text that is not the summary.
"""
MARKER = "<!-- vitlesson:exercise notebooks/by-hand.py -->"


@pytest.fixture
def site(tmp_path):
    docs = tmp_path / "docs"
    (docs / "notebooks").mkdir(parents=True)
    (docs / "lessons").mkdir()
    (docs / "notebooks/by-hand.py").write_text(NOTEBOOK, encoding="utf-8")
    (docs / "lessons/part.md").write_text(f"# Part\n\n{MARKER}\n")
    files = Files(
        [
            File(uri, str(docs), str(tmp_path / "site"), True)
            for uri in ("notebooks/by-hand.py", "lessons/part.md")
        ]
    )
    # mkdocs-jupyter makes a notebook source a page, at a page's address.
    files.get_file_from_path("notebooks/by-hand.py").url = "notebooks/by-hand/"
    page = SimpleNamespace(
        file=files.get_file_from_path("lessons/part.md"), meta={}
    )
    downloads = {
        "notebooks/by-hand.py": {
            "notebook": "downloads/by-hand.ipynb",
            "solutions": "downloads/by-hand-solutions.ipynb",
        }
    }
    return SimpleNamespace(files=files, page=page, downloads=downloads)


def test_the_box_offers_the_notebooks_page_downloads_and_time(site):
    config = {"repo_url": "https://github.com/someone/vitlesson"}
    html = exercise_boxes.box(
        "notebooks/by-hand.py", site.page, site.files, config, site.downloads
    )
    assert "Exercise · 7 min: attention by hand" in html
    summary = (
        "You write scaled dot-product attention, as in part 2, and check it."
    )
    assert f"\n\n{summary}\n\n" in html  # Markdown, its link now text
    assert 'href="../../notebooks/by-hand/"' in html
    assert (
        'class="md-button vl-download" href="../../downloads/by-hand.ipynb"'
        in html
    )
    assert 'href="../../downloads/by-hand-solutions.ipynb" download' in html
    assert "colab.research.google.com/github/someone/vitlesson" in html
    assert "More text" not in html


def test_without_a_github_repository_there_is_no_colab_button(site):
    html = exercise_boxes.box(
        "notebooks/by-hand.py", site.page, site.files, {}, site.downloads
    )
    assert "colab" not in html.lower()


def test_a_marker_naming_no_notebook_stops_the_build_in_one_line(site):
    with pytest.raises(PluginError) as caught:
        exercise_boxes.box(
            "notebooks/missing.py", site.page, site.files, {}, site.downloads
        )
    assert str(caught.value) == (
        "docs/lessons/part.md: the exercise marker names "
        "notebooks/missing.py, which is not an exercise notebook of docs/ "
        "(expected notebooks/<name>.py)"
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("#   exercise_minutes: 7\n", "#   title: none\n"),
            "exercise_minutes: a whole number",
        ),
        (
            ("# # Exercise: attention", "# # Attention"),
            "'# Exercise: <title>'",
        ),
    ],
)
def test_a_notebook_without_title_or_minutes_is_named(site, edit, expected):
    path = site.files.get_file_from_path("notebooks/by-hand.py").abs_src_path
    with open(path, "w", encoding="utf-8") as out:
        out.write(NOTEBOOK.replace(*edit))
    with pytest.raises(
        PluginError, match="docs/notebooks/by-hand.py: "
    ) as caught:
        exercise_boxes.box(
            "notebooks/by-hand.py", site.page, site.files, {}, site.downloads
        )
    assert expected in str(caught.value)


def test_the_parts_time_counts_the_exercise_it_offers(site):
    assert reading.exercise_minutes(site.page, site.files) == 7
    site.page.meta = {"exercise_minutes": 3}
    assert reading.exercise_minutes(site.page, site.files) == 10
