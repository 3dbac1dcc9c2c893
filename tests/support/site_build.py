"""One ``mkdocs build --strict`` of the project into a folder, with extra
environment settings (``OFFLINE``, ``SITE_URL`` ...), failing with the
build's log on an error or any MkDocs warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_site(destination: Path, **settings: str) -> Path:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", **settings)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"]
        + ["--site-dir", str(destination)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [
        line for line in done.stderr.splitlines() if line.startswith("WARNING")
    ]
    assert not warnings, done.stderr
    return destination
