"""Real faults for the command tests: a disk that fills up (the file-size
limit ``ulimit -f`` sets) and Ctrl-C (SIGINT), each in a subprocess."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT


def environment() -> dict:
    """The test's environment, with the checkout importable and no
    bytecode written (a file-size limit would stop that too)."""
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        MPLBACKEND="Agg",
    )


def file_size_limit(limit: int):
    """A ``preexec_fn`` that lets no file grow past ``limit`` bytes, as a
    full disk does: the write fails with EFBIG instead of SIGXFSZ killing
    the process."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run(
    args: list[str], cwd: Path, limit: int | None = None
) -> subprocess.CompletedProcess:
    """``python args`` in ``cwd``, under a file-size limit."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment(),
        preexec_fn=None if limit is None else file_size_limit(limit),
        capture_output=True,
        text=True,
        timeout=120,
    )


def interrupt(
    args: list[str], cwd: Path, when: str, stream="stderr"
) -> tuple[int, str, str]:
    """Start ``python args``, press Ctrl-C once ``when`` appears on its
    ``stream``, and return (exit status, stdout, stderr)."""
    child = subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: nothing read ahead is lost to communicate
    )
    watched = child.stderr if stream == "stderr" else child.stdout
    seen = b""
    deadline = time.monotonic() + 120
    while when.encode() not in seen and time.monotonic() < deadline:
        byte = watched.read(1)
        if not byte:
            break  # the command ended before it got there
        seen += byte
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    if stream == "stderr":
        err = seen + err
    else:
        out = seen + out
    return child.returncode, out.decode(), err.decode()


def last_line(text: str) -> str:
    """The last line a command printed (a progress bar redraws with \\r)."""
    return text.strip().splitlines()[-1].split("\r")[-1]
