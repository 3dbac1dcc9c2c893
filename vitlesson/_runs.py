"""What the training commands (``train``, ``dino``) share: checking their
outputs before any work, writing weights and record as a pair, reading a
pair back only when its two files belong together, and stopping on Ctrl-C
in one line.

Two files cannot be replaced in one step, so the pair is made so that a
disagreement can never go unnoticed, whatever stops the writer:

1. Both files are written in full as drafts beside their targets
   (:func:`vitlesson._io.draft`). A failure or SIGKILL here leaves the
   previous pair as it was (and a draft the next write removes).
2. The record, which names the new weights' SHA-256, replaces its own
   first; then the weights replace theirs. SIGKILL or a power cut between
   the two leaves a record that does not name the weights beside it.
3. Every reader hashes the weights it loads and compares them with the
   record (:func:`check_pair`): a pair that disagrees is refused in one
   line that names both files and what to do, never used.

The record goes first, not the weights, so that what a killed run leaves
is always a record of this command: the next run recognises it and
replaces both files (weights without a record would look like a file the
command did not make, which it refuses to overwrite).

Ctrl-C is held back while the pair is written (:func:`_interrupt_held`),
so a command that was interrupted there has written both files in full
when it says so. It is held with a Python signal handler, not a signal
mask: ``import torch`` starts threads, a mask set in the main thread does
not cover them, and the signal they receive still interrupts the main
thread; a Python handler runs in the main thread whichever thread the
signal reaches.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import torch

from vitlesson._io import (
    discard,
    draft,
    sync_folder,
    writable_output,
    write_bytes,
)


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
def _interrupt_held() -> Iterator[None]:
    """Hold Ctrl-C back inside the block: noted when it comes, and raised
    (as SIGINT would have been handled) once the block has ended without
    an error. Outside the main thread nothing is needed: Python raises
    ``KeyboardInterrupt`` only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(
        signal.SIGINT, lambda signum, frame: caught.append(signum)
    )
    try:
        yield
    finally:
        signal.signal(
            signal.SIGINT,
            signal.SIG_DFL if previous is None else previous,
        )
    if caught:
        signal.raise_signal(signal.SIGINT)


def write_pair(
    weights: Path | None, data: bytes | None, record: Path, content: dict
) -> dict:
    """Write the weights ``data`` and the JSON ``content`` (with the
    weights' SHA-256 added) as a pair; return the record.

    Either both files are replaced, or (``OSError``) neither is. Ctrl-C
    while they are written is raised as ``KeyboardInterrupt`` once both
    are in place; only SIGKILL or a power cut can leave a record that does
    not name its weights, and :func:`check_pair` refuses that pair."""
    if weights is not None:
        if data is None:
            raise ValueError(f"no bytes given for the weights {weights}")
        payload = data
        content = content | {
            "weights": weights.name,
            "weights_sha256": hashlib.sha256(data).hexdigest(),
        }
    text = json.dumps(content, indent=1) + "\n"
    with _interrupt_held():
        drafts: dict[Path, Path] = {}
        try:
            drafts[record] = draft(record, text.encode("utf-8"))
            if weights is None:
                os.replace(drafts[record], record)
                drafts.pop(record)
            else:
                drafts[weights] = draft(weights, payload)
                _place_pair(drafts, weights, record)
            sync_folder(record.parent)
        finally:
            for temporary in drafts.values():
                discard(temporary)
    return content


def _place_pair(drafts: dict[Path, Path], weights: Path, record: Path) -> None:
    """Put the drafts of the record, then of the weights, in place; if the
    weights cannot be placed, put the previous record back."""
    if weights.is_dir():  # os.replace would fail after the record's
        raise IsADirectoryError(
            errno.EISDIR, os.strerror(errno.EISDIR), str(weights)
        )
    try:
        previous: bytes | None = record.read_bytes()
    except FileNotFoundError:
        previous = None
    os.replace(drafts[record], record)
    drafts.pop(record)
    try:
        os.replace(drafts[weights], weights)
    except OSError:
        if previous is None:
            os.unlink(record)
        else:
            write_bytes(record, previous)
        raise
    drafts.pop(weights)


def check_pair(
    weights: Path, data: bytes | None, record: Path, content: dict
) -> bytes:
    """Check that the record ``content`` (read from ``record``) names the
    weights ``data`` read from ``weights`` (``None``: there is no such
    file) by their SHA-256, and return ``data``; raise ``ValueError`` in
    one line otherwise."""
    command = content.get("command")
    again = (
        f"run {command} again"
        if isinstance(command, str)
        else "write the pair again"
    )
    named = content.get("weights_sha256")
    if not isinstance(named, str):
        raise ValueError(
            f"record {record} does not name the SHA-256 of weights "
            f"{weights} (no weights_sha256): it cannot vouch for them; "
            f"{again}"
        )
    if data is None:
        raise ValueError(
            f"record {record} names weights {weights}, which are not "
            f"there: the run that wrote it stopped before its weights "
            f"were in place; {again}"
        )
    found = hashlib.sha256(data).hexdigest()
    if found != named:
        raise ValueError(
            f"weights {weights} are not the ones their record {record} "
            f"names (SHA-256 {found[:12]}…, the record names "
            f"{named[:12]}…): the run that wrote them stopped between "
            f"the two files, or one was replaced; {again}"
        )
    return data


def read_record(record: Path) -> dict:
    """The JSON object a record holds; ``FileNotFoundError`` or
    ``ValueError`` in one line when there is none."""
    if not record.is_file():
        raise FileNotFoundError(f"No record at {record}")
    try:
        content = json.loads(record.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{record} is not valid JSON ({error}): expected the record "
            f"of a run"
        ) from None
    if not isinstance(content, dict):
        raise ValueError(
            f"{record} holds a {type(content).__name__}, expected a JSON "
            f"object (the record of a run)"
        )
    return content


def read_pair(weights: Path) -> tuple[bytes, dict]:
    """The bytes of ``weights`` and their record (the same name with
    ``.json``), checked to belong together (:func:`check_pair`): what is
    checked is what the caller loads, read once."""
    record = weights.with_suffix(".json")
    content = read_record(record)
    try:
        data: bytes | None = weights.read_bytes()
    except FileNotFoundError:
        data = None
    return check_pair(weights, data, record, content), content


def interrupted(prog: str, written: bool = False) -> str:
    """The one line for Ctrl-C."""
    return (
        f"{prog}: interrupted after its files were written in full\n"
        if written
        else f"{prog}: interrupted; nothing was written\n"
    )
