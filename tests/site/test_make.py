"""The README's commands fail clearly: an unsupported Python, a port that is
not one, a port in use."""

import os
import shutil
import socket
import stat
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None,
    reason="make is not installed (.ci/run installs it)",
)


def make(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, MAKEFLAGS=""),
    )


def test_an_unsupported_python_is_refused_before_anything_is_installed(
    tmp_path,
):
    fake = tmp_path / "python3.10"  # a Python that says it is 3.10
    fake.write_text(
        f'#!/bin/sh\nexec {sys.executable} -c "import sys; sys.version_info = (3, 10, 13); '
        f'exec(sys.argv[1])" "$2"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    done = make("install", f"PYTHON={fake}")
    assert done.returncode != 0
    assert (
        f"vitlesson needs Python 3.11, 3.12 or 3.13, and {fake} is Python 3.10"
        in done.stderr
    )
    assert not (ROOT / ".venv" / ".installed-3.10").exists()


def test_a_port_in_use_gets_one_line_that_says_what_to_do():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        done = make("serve", f"PORT={port}")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert (
        f"Port {port} is already in use: run make serve PORT={port + 1}"
        in line
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "port", ["abc", "0", "70000", "", "-1", "8.5", "80 81", "1e3"]
)
def test_a_port_that_is_not_one_gets_one_line_before_anything_is_installed(
    tmp_path, port
):
    venv = tmp_path / "venv"  # where install would make the virtualenv
    done = make("serve", f"PORT={port}", f"VENV={venv}")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"PORT must be a whole number from 1 to 65535, got {port!r}" in line
    assert "Traceback" not in done.stderr
    assert not venv.exists()
