"""Helpers the tests share: none of these modules holds tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
