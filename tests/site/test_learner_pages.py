"""What a learner reads about the lesson on the built site: its stated time
(the sum of what its pages show and declare) and each part's name."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import yaml
from mkdocs.utils.meta import get_data

from tests.support import ROOT

DOCS = ROOT / "docs"
META = re.compile(r'class="vl-page-meta">([^<]*)<')
OFFERED = re.compile(r"^<!-- vitlesson:exercise (\S+) -->", re.MULTILINE)
LESSON_CAP_MINUTES = 150  # issue 34 §3: reading and exercises together


def section_times(site: Path, section: str) -> tuple[int, int, int]:
    """Pages, reading minutes shown and exercise minutes declared of a
    section of the built site, read from each page and its source (with
    the exercise notebooks a page offers at its end)."""
    pages = reading = exercises = 0
    for built in sorted(site.rglob("index.html")):
        shown = META.search(built.read_text(encoding="utf-8"))
        if not shown or not shown[1].startswith(f"{section} · part "):
            continue
        pages += 1
        reading += int(re.search(r"(\d+) min read$", shown[1])[1])
        stem = DOCS / built.parent.relative_to(site)
        if stem.with_suffix(".md").exists():
            text = stem.with_suffix(".md").read_text(encoding="utf-8")
            declared = get_data(text)[1]
            for source in OFFERED.findall(text):  # the box at its end
                notebook = jupytext.read(DOCS / source).metadata
                exercises += notebook["exercise_minutes"]
        else:
            declared = jupytext.read(stem.with_suffix(".py")).metadata
        exercises += declared.get("exercise_minutes", 0)
    return pages, reading, exercises


def test_the_stated_lesson_time_is_the_sum_of_its_pages(site):
    pages, reading, exercises = section_times(site, "Lesson 1.2")
    total = reading + exercises
    print(
        f"Lesson 1.2: {total} min ({reading} of reading, {exercises} of "
        "exercises)"
    )
    assert pages == 6 and exercises > 0
    stated = f"({total} min: {reading} of reading, {exercises} of exercises)"
    home = (site / "index.html").read_text(encoding="utf-8")
    part_1 = (site / "lessons/patches/index.html").read_text(encoding="utf-8")
    assert stated in home
    assert f"By the end of the six parts {stated} you can:" in part_1
    assert "vitlesson:time" not in home + part_1
    assert total <= LESSON_CAP_MINUTES, (
        f"Lesson 1.2 takes {total} min ({reading} of reading, {exercises} "
        f"of exercises): over its {LESSON_CAP_MINUTES} min"
    )

    lab_pages, lab_reading, lab_exercises = section_times(site, "Lab")
    print(f"Lab: {lab_reading} min of reading, {lab_exercises} of exercises")
    assert lab_pages == 3 and lab_exercises == 0
    assert f"after the lesson\n({lab_reading} min of reading):" in home


def lesson_nav() -> list[tuple[str, str]]:
    """(title, source) of each part of Lesson 1.2 in mkdocs.yml's nav."""

    class Loader(yaml.SafeLoader):  # !ENV and !relative: not needed here
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load(
        (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader
    )
    section = next(
        entries
        for item in config["nav"]
        for title, entries in item.items()
        if title.startswith("Lesson 1.2")
    )
    return [next(iter(entry.items())) for entry in section]


def built_page(site: Path, source: str) -> str:
    folder = site / Path(source).with_suffix("")
    return (folder / "index.html").read_text(encoding="utf-8")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_every_part_is_named_by_its_number_everywhere(site):
    """The exercise notebook's own heading has no "4 ·": the nav's title
    names it in the browser's title, the navigation and the footer."""
    parts = lesson_nav()
    assert [title.split(" · ")[0] for title, _ in parts] == list("123456")
    for index, (title, source) in enumerate(parts):
        page = text_of(built_page(site, source))
        assert f"<title>{title} - " in page, source
        assert re.search(
            rf'md-nav__link--active"> <span class="md-ellipsis"> '
            rf"{re.escape(title)} </span>",
            page,
        ), source
        neighbours = [parts[i] for i in (index - 1, index + 1) if 0 <= i < 6]
        for _, other in neighbours:
            footer = text_of(built_page(site, other)).split("md-footer")[1:]
            assert f'<div class="md-ellipsis"> {title} </div>' in "".join(
                footer
            ), (other, title)
