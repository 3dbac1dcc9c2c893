"""Collect every python fence of docs/**/*.md as a pytest item (see tests/support/markdown_fences.py)."""

import matplotlib

matplotlib.use("Agg")

from sybil import Sybil  # noqa: E402

from tests.support.markdown_fences import parse_python_fences  # noqa: E402

DOCS_SYBIL = Sybil(
    parsers=[parse_python_fences], path="docs", patterns=["*.md", "**/*.md"]
)
pytest_collect_file = DOCS_SYBIL.pytest()
