"""A notebook that fails while the build runs it, as one line.

nbclient reports a failing cell by the kernel's count (``Cell In[3], line 2``);
the maintainer needs the line of the jupytext source. A percent-format cell
keeps the source's lines one for one, so the count and the offset map back to
it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
from nbclient.exceptions import CellExecutionError

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line (\d+)")
CELL_MARKER = re.compile(r"^# %%")
CHAINED = re.compile(
    r"The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:"
)


def executed_cell_lines(path: Path) -> list[int]:
    """For each code cell the kernel runs, in order, the line of the
    jupytext source just before the cell's first line (its ``# %%`` line).

    The kernel numbers the cells it runs 1, 2, ... (``Cell In[3]``), skipping
    the empty ones, and a percent-format cell keeps the source's lines one
    for one (a commented ``# %magic`` line included). Empty where the
    source's ``# %%`` lines are not one per cell."""
    notebook = jupytext.read(path)
    markers = [
        number
        for number, line in enumerate(
            path.read_text(encoding="utf-8").splitlines(), start=1
        )
        if CELL_MARKER.match(line)
    ]
    if len(markers) != len(notebook.cells):
        return []
    return [
        marker
        for marker, cell in zip(markers, notebook.cells, strict=True)
        if cell.cell_type == "code" and cell.source.strip()
    ]


def notebook_failure(path: Path, where: str, error: Exception) -> str:
    """One line for a notebook the build could not run: the source line in
    the cell that failed, the line that raised first where that is in
    another cell (a function defined there, or a chained exception), and the
    error."""
    if not isinstance(error, CellExecutionError):  # timeout, dead kernel
        reason = " ".join(ANSI.sub("", str(error)).split()[:40])
        return (
            f"{where}: the build could not run the notebook: "
            f"{type(error).__name__}: {reason}"
        )
    starts = executed_cell_lines(path)

    def last_line(traceback: str) -> int | None:
        frames = CELL_FRAME.findall(traceback)
        if not frames:
            return None
        cell, offset = (int(value) for value in frames[-1])
        return starts[cell - 1] + offset if 0 < cell <= len(starts) else None

    tracebacks = CHAINED.split(ANSI.sub("", error.traceback))
    failed, first = last_line(tracebacks[-1]), last_line(tracebacks[0])
    value = " ".join(ANSI.sub("", error.evalue).split())
    return (
        f"{where}{'' if failed is None else f':{failed}'}: a cell failed "
        f"while the build ran the notebook: {error.ename}: {value}"
        + ("" if first in (None, failed) else f" (raised at line {first})")
    )
