"""``mkdocs build --strict`` of the project, in a subprocess, with extra
environment settings (``OFFLINE``, ``SITE_URL`` ...)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


class Build:
    """``mkdocs build --strict`` into ``destination``, started at once.

    ``settings`` are added to the environment (``VITLESSON_FIGURE_CACHE="off"``
    renders every figure instead of reading the figure cache). The output
    goes to a log file, not a pipe, so a build left running in the
    background never blocks on a full pipe.
    """

    def __init__(self, destination: Path, **settings: str):
        self.destination = destination
        self.log_path = destination.with_suffix(".log")
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1", **settings)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mkdocs", "build", "--strict"]
                + ["--site-dir", str(destination)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def result(self) -> Path:
        """Wait for the build; fail on its exit status or on any MkDocs
        warning."""
        self.process.wait(timeout=600)
        log = self.log_path.read_text()
        assert self.process.returncode == 0, log
        # MkDocs' own warnings (strict turns them into errors); the Jupyter
        # kernel's TCP notice is not one.
        assert not [
            line for line in log.splitlines() if line.startswith("WARNING")
        ], log
        return self.destination
