import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def build(destination: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` into ``destination``, figures rendered afresh."""
    env = dict(os.environ, VITLESSON_FIGURE_CACHE="off", NO_MKDOCS_2_WARNING="1")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(destination)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    destination = tmp_path_factory.mktemp("site")
    result = build(destination)
    assert result.returncode == 0, result.stderr
    # MkDocs' own warnings (strict turns them into errors); the Jupyter kernel's TCP notice is not one.
    assert not [line for line in result.stderr.splitlines() if line.startswith("WARNING")], result.stderr
    return destination
