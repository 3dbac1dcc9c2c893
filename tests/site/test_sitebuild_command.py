"""``python -m sitebuild OUTDIR``: the build's generated files without
MkDocs, the same bytes as the MkDocs build's, for any other site builder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sitebuild.__main__ import main
from tests.support import ROOT

# What both the command and the MkDocs build write, folder by folder.
SHARED = ("figures", "explorers", "live", "downloads")


@pytest.fixture(scope="module")
def generated(site, tmp_path_factory):
    """The command's folder, made after the site's build (so from the same
    caches: what differs is the code that hands the files on)."""
    folder = tmp_path_factory.mktemp("generated") / "out"
    subprocess.run(
        [sys.executable, "-m", "sitebuild", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return folder


def relative_files(folder, below: str) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in (folder / below).rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("below", SHARED)
def test_the_command_writes_the_same_files_as_the_build(
    site, generated, below
):
    names = relative_files(generated, below)
    assert names and names == relative_files(site, below)
    for name in sorted(names):
        assert (generated / name).read_bytes() == (site / name).read_bytes(), (
            name
        )


def test_the_pages_carry_their_outputs_and_quizzes(generated):
    """Each page as the build hands it on to be rendered: what the blocks
    print under them, the quizzes in HTML, the glossary page made."""
    patches = (generated / "pages" / "lessons" / "patches.md").read_text(
        encoding="utf-8"
    )
    assert '<div class="result" markdown="0"><pre><code>' in patches
    assert "```quiz" not in patches and 'class="vl-quiz' in patches
    assert (generated / "pages" / "glossary.md").is_file()
    sources = {
        path.relative_to(ROOT / "docs").as_posix()
        for path in (ROOT / "docs").rglob("*.md")
        if "includes" not in path.parts
    }
    assert sources <= relative_files(generated / "pages", ".")


@pytest.mark.parametrize("kind", ["a folder with a file", "a file"])
def test_an_outdir_with_something_in_it_is_refused_in_one_line(
    tmp_path, capsys, kind
):
    target = tmp_path / "out"
    if kind == "a file":
        target.write_text("mine")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as raised:
        main([str(target)])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(
        "python -m sitebuild: error: OUTDIR must be a new or empty folder"
    )
    assert str(target) in error
    assert target.exists() and (
        target.is_file() or len(list(target.iterdir())) == 1
    )


def test_an_outdir_whose_parent_is_missing_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([str(tmp_path / "missing" / "out")])
    assert raised.value.code == 2
    assert "the folder above OUTDIR does not exist" in capsys.readouterr().err
