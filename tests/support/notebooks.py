"""Notebooks as a learner meets them: downloaded from a page of the built
site, answers typed into their TODO cells, their printed lines read back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat


def downloaded_notebook(site, page: str, kind: str = "download") -> Path:
    """The file behind a page's download (``kind="solutions"``: its
    solutions) button, in the built ``site``."""
    html = (site / page / "index.html").read_text(encoding="utf-8")
    link = re.search(
        rf'<a class="md-button vl-{kind}" href="([^"]+)" download', html
    )
    assert link, f"{page} has no {kind} link"
    return (site / page / link.group(1)).resolve()


def defines(cell) -> str | None:
    """The function or class a code cell defines at its top level, if any."""
    match = re.match(r"(?:def|class) (\w+)", cell.source)
    return match.group(1) if cell.cell_type == "code" and match else None


def typed_in(notebook, answers: dict[str, str], tasks=None):
    """The notebook with ``answers`` (name -> code) typed into the TODO
    cells that define those names; ``tasks``, when given, are the names
    the TODO cells must define, no more and no fewer."""
    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))
    todo = {
        defines(cell): cell
        for cell in notebook.cells
        if "exercise" in cell.metadata.get("tags", [])
    }
    if tasks is not None:
        assert sorted(todo) == sorted(tasks)
    for name, code in answers.items():
        todo[name].source = code
    return notebook


def stdout(notebook) -> list[str]:
    """What each code cell printed, one string per code cell."""
    return [
        "".join(
            o.get("text", "")
            for o in cell.get("outputs", [])
            if o.get("name") == "stdout"
        )
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
