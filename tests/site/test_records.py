"""A recorded result measured before a change to its code says so on its
page (sitebuild/records.py), and only then."""

import json
import shutil
from pathlib import Path

import pytest

from sitebuild import records
from sitebuild.records import RECORDS, annotate, provenance, report, stale

ROOT = records.ROOT
NOTE = "Recorded before the code changed"
PAGES = sorted(
    path
    for path in (ROOT / "docs").rglob("*.md")
    if "includes" not in path.relative_to(ROOT / "docs").parts
)


def page(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the package whose records are all stamped with the code
    of the copy: nothing in it is stale yet."""
    shutil.copytree(
        ROOT / "vitlesson",
        tmp_path / "vitlesson",
        ignore=shutil.ignore_patterns("__pycache__", "*.pt", "*.json"),
    )
    stamps: dict[str, dict] = {}
    for record in RECORDS:
        if record.writer not in stamps:
            stamps[record.writer] = provenance.stamp(
                tmp_path / record.writer, root=tmp_path
            )
        code = stamps[record.writer]
        content = (
            {"first": {"code": code}, "second": {"code": code}}
            if record.runs
            else {"code": code}
        )
        (tmp_path / record.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / record.path).write_text(json.dumps(content))
    return tmp_path


def edit(project: Path, module: str, old: str, new: str) -> None:
    file = project / module
    source = file.read_text(encoding="utf-8")
    assert old in source, f"{module} no longer has {old!r}"
    file.write_text(source.replace(old, new, 1), encoding="utf-8")


def test_a_change_to_measured_code_puts_the_note_on_its_page(project):
    performance, patches = page("performance.md"), page("lessons/patches.md")
    assert stale(project) == []
    assert annotate(performance, performance, stale(project)) == performance

    # prose in the measured code, code in a module no record imported
    edit(project, "vitlesson/vit.py", '"""', '"""Reworded. ')
    edit(
        project,
        "vitlesson/figures/plots.py",
        "\nimport",
        "\nLIMIT = 1\nimport",
    )
    assert stale(project) == []

    edit(project, "vitlesson/vit.py", "\nimport", "\nDRIFT = 1\nimport")
    found = stale(project)
    assert {item.record.path for item in found} == {
        record.path for record in RECORDS
    }  # every run builds a ViT
    noted = annotate(performance, performance, found)
    assert NOTE in noted and "`vitlesson/vit.py`" in noted
    assert "`docs/data/bench.json`" in noted
    assert "tiny-shapes.json" not in noted  # not shown on that page
    assert noted.startswith("# Performance") and NOTE in noted  # under it
    assert annotate(patches, patches, found) == patches
    assert any("vitlesson/vit.py" in line for line in report(found))


def test_a_change_to_one_commands_code_notes_only_its_records(project):
    edit(
        project,
        "vitlesson/lab/dino/loss.py",
        "\nimport",
        "\nDRIFT = 1\nimport",
    )
    found = stale(project)
    assert {item.record.path for item in found} == {
        "vitlesson/weights/dino-tiny.json",
        "vitlesson/weights/dino-supervised.json",
        "vitlesson/weights/dino-ablations.json",
        "vitlesson/weights/dino-throughput.json",
    }
    assert all(
        item.changed == ("vitlesson/lab/dino/loss.py",) for item in found
    )
    for name in ("performance.md", "lessons/learned-positions.md"):
        assert annotate(page(name), page(name), found) == page(name)
    learned = annotate(
        page("lessons/what-dino-learned.md"),
        page("lessons/what-dino-learned.md"),
        found,
    )
    assert learned.count("`vitlesson/lab/dino/loss.py`") == 3  # three records


def test_a_record_without_a_stamp_is_noted_as_such(project):
    record = project / "vitlesson/weights/tiny-shapes.json"
    record.write_text(json.dumps({"command": "python -m vitlesson.lab.train"}))
    [item] = stale(project)
    assert "does not name the code it was measured with" in item.sentence()
    broken = project / "docs/data/bench.json"
    broken.write_text(json.dumps({"code": {"date": "2026-12-06"}}))
    with pytest.raises(Exception, match="docs/data/bench.json: the stamp"):
        stale(project)


def test_every_record_is_shown_by_a_page():
    sources = [path.read_text(encoding="utf-8") for path in PAGES]
    for record in RECORDS:
        assert any(
            sign in source for source in sources for sign in record.shown_by
        ), f"no page shows {record.path} any more: update its signs"


def test_built_pages_carry_the_notes_that_are_due(site):
    found = stale()
    for path in PAGES:
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT / "docs").with_suffix("")
        html = site / (
            "index.html" if name == Path("index") else name / "index.html"
        )
        if not html.is_file():  # made from a source by a hook
            continue
        built = html.read_text(encoding="utf-8")
        due = records.shown_on(source, found)
        assert (NOTE in built) == bool(due), path
        for item in due:
            assert f"<code>{item.record.path}</code>" in built, path
