"""``mkdocs build --strict`` of the project, in a subprocess, with extra
environment settings (``OFFLINE``, ``SITE_URL`` ...), once per test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from tests.support import ROOT


def build(destination: Path, **settings: str) -> Path:
    """``mkdocs build --strict`` into ``destination``; fail on its exit
    status or on any MkDocs warning.

    ``settings`` are added to the environment (``OFFLINE="true"`` builds
    the copy that opens from disk). The output goes to ``destination.log``,
    shown when the build fails.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    log_path = destination.with_suffix(".log")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", **settings)
    with log_path.open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict"]
            + ["--site-dir", str(destination)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    text = log_path.read_text()
    assert done.returncode == 0, text
    # MkDocs' own warnings (strict turns them into errors); the Jupyter
    # kernel's TCP notice is not one.
    assert not [
        line for line in text.splitlines() if line.startswith("WARNING")
    ], text
    return destination


def shared_build(folder: Path, name: str, **settings: str) -> Path:
    """The build ``folder/name``, made once for the whole test run.

    Under ``pytest -n`` every worker process has its own session fixtures;
    ``folder`` is shared by all of them, and a file lock lets the first
    worker that needs a build make it while the others wait and reuse it.
    """
    destination = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    made = destination.with_suffix(".made")
    with FileLock(destination.with_suffix(".lock")):
        if not made.exists():
            build(destination, **settings)
            made.touch()
    return destination
