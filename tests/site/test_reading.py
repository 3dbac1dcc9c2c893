"""Reading times are computed from the rendered page, never typed."""

from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from sitebuild import reading


def test_reading_time_follows_prose_code_and_figures():
    words = "<p>" + " ".join(["word"] * 400) + "</p>"
    assert reading.reading_seconds(words) == 120  # 400 words at 200 a minute
    code = "<pre><code>a = 1\nb = 2\nc = 3\n</code></pre>"
    assert reading.reading_seconds(words + code) == 120 + 3 * 10
    figure = '<img src="x.png" alt="a figure">'
    assert reading.reading_seconds(words + figure) == 120 + 12
    assert reading.reading_minutes(words + code) == 3  # 150 s, rounded up


def test_printed_output_is_skimmed_not_read_as_code():
    output = '<div class="result"><pre><code>1\n2\n</code></pre></div>'
    assert reading.reading_seconds(output) == 2 * 2


# A section's time: the stand-ins below are what MkDocs hands the events.


def _page(uri: str, path: str = "", meta: dict | None = None):
    return SimpleNamespace(
        is_page=True,
        file=SimpleNamespace(src_uri=uri, abs_src_path=path),
        meta=meta or {},
        content="",
    )


def _time_section(pages: dict, contents: dict[str, str]) -> str:
    """Run the hook's events over one "Lesson 1.2" section of ``pages``
    and return what a page's time marker becomes."""
    section = SimpleNamespace(
        is_section=True,
        title="Lesson 1.2: a lesson",
        children=list(pages.values()),
    )
    reading.on_nav(SimpleNamespace(items=[section]), {}, None)
    for uri, page in pages.items():
        reading.on_page_content(contents[uri], page, {}, None)
    home = _page("index.md")
    home.content = "<p>The lesson <!-- vitlesson:time Lesson 1.2 -->.</p>"
    reading.on_page_context({}, home, {}, None)
    return home.content


def test_a_section_time_is_its_pages_reading_plus_declared_exercises(
    tmp_path,
):
    notebook = tmp_path / "exercise.py"
    notebook.write_text(
        "# ---\n# jupyter:\n#   exercise_minutes: 20\n# ---\n\n"
        "# %% [markdown]\n# # An exercise\n",
        encoding="utf-8",
    )
    pages = {
        "lessons/a.md": _page("lessons/a.md", meta={"exercise_minutes": 7}),
        "notebooks/exercise.py": _page("notebooks/exercise.py", str(notebook)),
    }
    words = "<p>" + "word " * 400 + "</p>"  # 2 min of reading
    solution = (  # folded on the page, written by the learner: not read
        '<div class="jp-Cell celltag_solution"><pre><code>'
        + "x = 1\n" * 60
        + "</code></pre></div>"
    )
    contents = {
        "lessons/a.md": words,
        "notebooks/exercise.py": words + words + solution,
    }
    assert reading.reading_minutes(words + words + solution) == 4
    shown = _time_section(pages, contents)
    assert shown == (
        "<p>The lesson (33 min: 6 of reading, 27 of exercises).</p>"
    )
    # A page made longer makes the lesson longer, by its shown minutes.
    contents["lessons/a.md"] = words * 3  # 6 min instead of 2
    shown = _time_section(pages, contents)
    assert "(37 min: 10 of reading, 27 of exercises)" in shown

    pages["lessons/a.md"].meta = {"exercise_minutes": "ten"}
    with pytest.raises(PluginError, match=r"docs/lessons/a\.md: exercise_"):
        _time_section(pages, contents)
    pages["lessons/a.md"].meta = {}
    home = _page("index.md")
    home.content = "<!-- vitlesson:time Lesson 9 -->"
    with pytest.raises(PluginError, match="expected one of 'Lesson 1.2'"):
        reading.on_page_context({}, home, {}, None)


def test_a_section_without_exercises_states_its_reading():
    pages = {"lessons/a.md": _page("lessons/a.md")}
    shown = _time_section(pages, {"lessons/a.md": "<p>word</p>"})
    assert shown == "<p>The lesson (1 min of reading).</p>"
