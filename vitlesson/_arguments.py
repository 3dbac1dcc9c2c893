"""Argument types for the package's commands (``train``, ``bench``, ``dino``,
``attention``): each turns a bad value into argparse's usage error (exit 2)
that names what was expected and what was given. Also the lock a command
holds on its output while it runs (:func:`output_lock`)."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Iterator


def positive_int(text: str) -> int:
    value = int(text)  # argparse turns a ValueError into a usage error
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, got {value}"
        )
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def number_in(low: float, high: float, what: str = "a number"):
    """A type for finite numbers in (low, high]."""

    def parse(text: str) -> float:
        value = float(text)
        if not (math.isfinite(value) and low < value <= high):
            raise argparse.ArgumentTypeError(
                f"must be {what} in ({low:g}, {high:g}], got {text}"
            )
        return value

    return parse


DEVICES = ("auto", "cpu", "cuda", "mps")


def device(name: str, local_rank: int = 0):
    """The ``torch.device`` a ``--device`` choice names: ``auto`` is the GPU
    when there is one (CUDA, then Apple's MPS), else the CPU; under
    ``torchrun`` process ``local_rank`` takes CUDA device ``local_rank``.
    Raises ``ValueError`` in one line for a device this machine lacks."""
    import torch

    if name not in DEVICES:
        raise ValueError(
            f"--device must be one of {', '.join(DEVICES)}, got {name!r}"
        )
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise ValueError(
            "--device cuda: this machine has no CUDA GPU that "
            "torch can use (use --device cpu or auto)"
        )
    if name == "mps" and not mps:
        raise ValueError(
            "--device mps: this machine has no Apple MPS "
            "device that torch can use (use --device cpu or "
            "auto)"
        )
    if name == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"process {local_rank} needs CUDA device "
                f"{local_rank} but there are only "
                f"{torch.cuda.device_count()}"
            )
        return torch.device("cuda", local_rank)
    return torch.device(name)


def path(text: str):
    """A file or folder name; an empty one is refused (``Path("")`` would
    silently mean the current folder)."""
    from pathlib import Path

    if not text.strip():
        raise argparse.ArgumentTypeError(
            "must name a file or folder, got an empty string"
        )
    return Path(text)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors are one line (exit 2): the
    mistake and where to look, without the whole usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


@contextlib.contextmanager
def output_lock(path, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a file the command is about to
    write) while the block runs: a second run writing the same file refuses
    with a one-line ``ValueError`` instead of racing the first. ``what``
    names the output in that message as the user gave it (by default
    ``--output PATH``).

    The lock is ``fcntl.flock`` on a hidden file beside the output
    (``.NAME.lock``), removed when the block ends. The operating system
    releases a flock when its process dies, so a lock file left by a run
    that was killed blocks nothing: the next run takes it and removes it.
    """
    import fcntl
    from pathlib import Path

    path = Path(path)
    what = what or f"--output {path}"
    lock = path.with_name(f".{path.name}.lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise ValueError(
                f"{what}: cannot make its lock file {lock} "
                f"({error.strerror or error})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(
                f"{what} is being written by another run "
                f"(it holds {lock}): wait for it to end or name another "
                f"file"
            ) from None
        try:  # the file locked is still the one of that name (not removed
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino  # meanwhile)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)
