"""Argument types for the package's commands (``train``, ``bench``, ``dino``,
``attention``): each turns a bad value into argparse's usage error (exit 2)
that names what was expected and what was given."""

from __future__ import annotations

import argparse
import math


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
