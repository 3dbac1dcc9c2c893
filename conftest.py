"""Collect every python fence of docs/**/*.md as a pytest item (see
tests/support/markdown_fences.py), and keep the workers of ``pytest -n``
from fighting over the cores.

``make test`` runs the tests in two worker processes (``pytest -n 2``).
Each worker, and each process a test starts, runs torch on one thread; a
test that changes the thread count (a command's ``main`` sets
``--threads``) has it set back afterwards.
OpenMP threads that wait for work sleep instead of spinning: with two
workers, their subprocesses and Chromium sharing two cores, a spinning
thread holds a core another process needs (measured: a 1 s test took 12 s).
A plain ``pytest`` keeps torch's defaults.
"""

import os

import matplotlib
import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:  # before torch is imported: OpenMP reads them once
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # and so does every process a test starts (builds, Jupyter kernels,
    # commands without --threads): one thread each, as in the workers
    os.environ.setdefault("OMP_NUM_THREADS", "1")

matplotlib.use("Agg")

from sybil import Sybil  # noqa: E402

from tests.support.markdown_fences import parse_python_fences  # noqa: E402

DOCS_SYBIL = Sybil(
    parsers=[parse_python_fences], path="docs", patterns=["*.md", "**/*.md"]
)
pytest_collect_file = DOCS_SYBIL.pytest()


@pytest.fixture(autouse=True)
def _one_torch_thread_per_worker():
    if not WORKER:
        yield
        return
    import torch

    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)
