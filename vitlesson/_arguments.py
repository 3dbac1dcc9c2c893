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
            f"must be a positive integer, got {value}")
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
                f"must be {what} in ({low:g}, {high:g}], got {text}")
        return value
    return parse
