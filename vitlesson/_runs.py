"""What the training commands (``train``, ``dino``) share: checking their
outputs before any work, writing weights and record as a pair, and
stopping on Ctrl-C in one line.

The pair is written so that it cannot disagree: both files are written in
full to temporary files first (a disk-full or any failure there leaves the
previous pair untouched), then the weights replace theirs and the record,
which names the weights' SHA-256, replaces its own last. Ctrl-C is held
back for the few microseconds of the two renames.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import torch

from vitlesson._io import atomic_write, writable_output


def outputs(
    weights: Path | None, record: Path, prog: str | None = None
) -> tuple[Path | None, Path]:
    """Check, before any work, that the weights (if any) and the record can
    be written and are two different files; raise ``ValueError`` in one
    line otherwise. With ``prog``, files already there are replaced only
    when they are an earlier run of ``prog`` (a record whose command is
    ``prog``), never a file the command did not make."""
    if weights is not None:
        writable_output(weights, "weights")
        if Path(os.path.abspath(weights)) == Path(os.path.abspath(record)):
            raise ValueError(
                f"weights {weights} and its record would be the same file: "
                f"the record is written next to the weights with the "
                f"suffix .json; name the weights file with .pt"
            )
    writable_output(record, "record")
    if prog is None:
        return weights, record
    earlier = _run_of(record, prog)
    for path, what in ((record, "record"), (weights, "weights")):
        if path is not None and path.exists() and not earlier:
            raise ValueError(
                f"{what} {path} exists and is not from an earlier run of "
                f"{prog} (no record {record} of one): it is left as it "
                "is; name another file"
            )
    return weights, record


def _run_of(record: Path, prog: str) -> bool:
    """Whether ``record`` is a JSON record that ``prog`` wrote."""
    try:
        content = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    command = content.get("command") if isinstance(content, dict) else None
    return isinstance(command, str) and command.startswith(prog)


def state_bytes(module: torch.nn.Module) -> bytes:
    """A module's ``state_dict`` as the bytes ``torch.save`` writes."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold SIGINT back inside the block (it arrives when the block ends)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def write_pair(
    weights: Path | None, data: bytes | None, record: Path, content: dict
) -> dict:
    """Write the weights ``data`` and the JSON ``content`` (with the
    weights' SHA-256 added) atomically as a pair; return the record."""
    if weights is not None:
        if data is None:
            raise ValueError(f"no bytes given for the weights {weights}")
        content = content | {
            "weights": weights.name,
            "weights_sha256": hashlib.sha256(data).hexdigest(),
        }
    text = json.dumps(content, indent=1) + "\n"
    with _no_interrupt(), atomic_write(record, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())  # the record's bytes are on disk
        if weights is not None:
            with atomic_write(weights) as out:
                out.write(data)  # replaced first, then the record
    return content


def interrupted(prog: str, written: bool = False) -> str:
    """The one line for Ctrl-C."""
    return (
        f"{prog}: interrupted after its files were written in full\n"
        if written
        else f"{prog}: interrupted; nothing was written\n"
    )
