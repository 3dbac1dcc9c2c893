"""Notebooks as a learner meets them: downloaded from a page of the built
site, answers typed into their TODO cells, run top to bottom in a Jupyter
kernel ("Run all"), their printed lines read back."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.support import ROOT

# Run before each notebook in the shared kernel: an empty namespace.
RESET = nbformat.v4.new_notebook(
    cells=[nbformat.v4.new_code_cell("%reset -f")]
)


def downloaded_notebook(site, page: str, kind: str = "download") -> Path:
    """The file behind a page's download (``kind="solutions"``: its
    solutions) button, in the built ``site``."""
    html = (site / page / "index.html").read_text(encoding="utf-8")
    link = re.search(
        rf'<a class="md-button vl-{kind}" href="([^"]+)" download', html
    )
    assert link, f"{page} has no {kind} link"
    return (site / page / link.group(1)).resolve()


def downloaded(site, page: str, kind: str = "download"):
    """The notebook behind a page's download (or solutions) button, read."""
    return nbformat.read(downloaded_notebook(site, page, kind), as_version=4)


def defines(cell) -> str | None:
    """The function or class a code cell defines at its top level, if any."""
    match = re.match(r"(?:def|class) (\w+)", cell.source)
    return match.group(1) if cell.cell_type == "code" and match else None


def check_the_two_downloads(site, page: str, tasks: list[str]) -> None:
    """A page's two notebooks, as its buttons download them: each defines
    ``tasks`` once each and in that order, in TODO cells in the learner's
    and by their solutions in the other; both ship without outputs; the
    learner's has no solution cell; nothing else differs."""
    exercise = downloaded(site, page)
    solutions = downloaded(site, page, "solutions")
    for notebook, todo in ((exercise, True), (solutions, False)):
        defined = [defines(cell) for cell in notebook.cells if defines(cell)]
        assert defined == tasks, (page, defined)
        for cell in notebook.cells:
            if defines(cell):
                assert ("raise NotImplementedError" in cell.source) == todo
            assert not cell.get("outputs")  # shipped clean
    assert not any(
        "solution" in cell.metadata.get("tags", []) for cell in exercise.cells
    )
    rest = [
        [
            cell.source
            for cell in notebook.cells[1:]
            if not defines(cell) and cell.id != "markdown-solutions"
        ]
        for notebook in (exercise, solutions)
    ]
    assert rest[0] == rest[1]


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


def printed(notebook) -> str:
    """Everything the notebook's code cells printed."""
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("name") == "stdout"
    )


def run_all(notebooks: dict, stopped: tuple[str, ...]) -> dict:
    """Run each notebook top to bottom, one after another in one kernel
    whose namespace is emptied before each (torch is imported once). The
    notebooks named in ``stopped`` must stop at an error, kept under
    ``"errors"``; any other error fails the run."""
    errors = {}

    async def execute(notebook, km, kc) -> None:
        client = NotebookClient(
            notebook, km=km, timeout=600, kernel_name="python3"
        )
        client.kc = kc  # the shared kernel's client: none is started
        await client.async_execute()

    async def run() -> None:
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(ROOT))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        try:
            for label, notebook in notebooks.items():
                await execute(RESET, km, kc)
                try:
                    await execute(notebook, km, kc)
                except CellExecutionError as error:
                    if label not in stopped:
                        raise
                    errors[label] = error
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    asyncio.run(run())
    missing = set(stopped) - set(errors)
    assert not missing, f"these ran to the end: {sorted(missing)}"
    return {**notebooks, "errors": errors}
