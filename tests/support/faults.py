"""Real faults for the command tests: a disk that fills up (the file-size
limit ``ulimit -f`` sets), Ctrl-C (SIGINT) and a folder the command may not
write in (even as root, as CI runs), each met by the command running in a
forked copy of the test process."""

from __future__ import annotations

import ctypes
import io
import os
import resource
import runpy
import selectors
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import torch

from tests.support import ROOT


def limit_file_size(limit: int) -> None:
    """Let no file of this process grow past ``limit`` bytes, as a full disk
    does: a write fails with EFBIG instead of SIGXFSZ killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def obey_file_permissions() -> None:
    """Make this process obey file permissions, even as root: drop the two
    capabilities that let root read and write any file (CAP_DAC_OVERRIDE
    and CAP_DAC_READ_SEARCH, bits 1 and 2 of capabilities(7)) from its
    effective and permitted sets. For good: call it in a fork."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Sets(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    header, sets = Header(0x20080522, 0), (Sets * 2)()  # version 3
    if libc.capget(ctypes.byref(header), sets) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    keep = ~(1 << 1 | 1 << 2)
    sets[0].effective &= keep
    sets[0].permitted &= keep
    if libc.capset(ctypes.byref(header), sets) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def fork(
    args: list[str],
    cwd: Path,
    limit: int | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, int, int]:
    """Start ``python args`` (``-m module ...`` or ``-c code ...``) in
    ``cwd``, under a file-size limit and with ``env`` added to the
    environment, in a fork of this process: without starting Python and
    importing torch again (about 1.5 s of CPU a command). Returns the
    child's pid and the pipes of its stdout and stderr (unbuffered).

    The child keeps torch on one thread, whatever the command asks: GNU
    OpenMP cannot start threads in a forked child (it hangs).
    """
    (out_read, out_write), (err_read, err_write) = os.pipe(), os.pipe()
    pid = os.fork()
    if pid:
        os.close(out_write), os.close(err_write)
        return pid, out_read, err_read
    os.close(out_read), os.close(err_read)  # the child: never returns
    os.dup2(out_write, 1), os.dup2(err_write, 2)
    for name, fd in [("stdout", 1), ("stderr", 2)]:
        stream = os.fdopen(fd, "wb", closefd=False)
        setattr(sys, name, io.TextIOWrapper(stream, write_through=True))
    sys.dont_write_bytecode = True
    status = 1
    try:
        os.chdir(cwd)
        os.environ.update(env or {})
        if limit is not None:
            limit_file_size(limit)
        torch.set_num_threads(1)
        torch.set_num_threads = lambda threads: None
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *args[2:]]
            code = compile(args[1], "<string>", "exec")
            exec(code, {"__name__": "__main__"})
        status = 0
    except SystemExit as stop:
        if isinstance(stop.code, int) or stop.code is None:
            status = stop.code or 0
        else:  # a message, as Python prints it
            print(stop.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(status)


def finish(pid: int, pipes: dict[int, bytes]) -> tuple[int, dict[int, bytes]]:
    """Read a forked command's ``pipes`` (fd -> what was read already) to
    their end and wait for it: (exit status, fd -> everything read)."""
    with selectors.DefaultSelector() as waiting:
        for fd in pipes:
            waiting.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + 120
        while waiting.get_map():
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise TimeoutError(f"process {pid} did not end")
            for key, _ in waiting.select(timeout=1):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    pipes[key.fd] += chunk
                else:
                    waiting.unregister(key.fd)
                    os.close(key.fd)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), pipes


def run_forked(
    args: list[str],
    cwd: Path,
    limit: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """What :func:`run` gives, from a :func:`fork` of this process."""
    pid, out, err = fork(args, cwd, limit, env)
    status, read = finish(pid, {out: b"", err: b""})
    return subprocess.CompletedProcess(
        args, status, read[out].decode(), read[err].decode()
    )


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python args`` in ``cwd``, in a new process (the checkout importable,
    no bytecode written into the folders the test checks)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            PYTHONDONTWRITEBYTECODE="1",
            MPLBACKEND="Agg",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def interrupt(
    args: list[str], cwd: Path, when: str, stream="stderr"
) -> tuple[int, str, str]:
    """Start ``python args`` (a :func:`fork` of this process), press Ctrl-C
    once ``when`` appears on its ``stream``, and return (exit status,
    stdout, stderr)."""
    pid, out, err = fork(args, cwd)
    watched = err if stream == "stderr" else out
    seen = b""
    deadline = time.monotonic() + 120
    while when.encode() not in seen and time.monotonic() < deadline:
        byte = os.read(watched, 1)
        if not byte:
            break  # the command ended before it got there
        seen += byte
    os.kill(pid, signal.SIGINT)
    status, read = finish(pid, {out: b"", err: b""} | {watched: seen})
    return status, read[out].decode(), read[err].decode()


def signal_at(moment: str, name: str, signum: int) -> None:
    """In a forked command (call it first in :func:`fork`'s ``-c`` code):
    send this process ``signum`` at ``moment`` of writing the file
    ``name``, the moment exactly, whatever the timing: ``"fsync"`` while
    its draft is flushed to disk (``os.fsync`` of a file whose name starts
    ``.name.``), ``"replaced"`` just after ``os.replace`` put it in place.

    An idle thread is started first, as ``import torch`` starts them in a
    command: a signal mask set in the main thread does not cover it, so a
    signal sent to the process can reach the main thread through it."""
    threading.Thread(target=threading.Event().wait, daemon=True).start()
    if moment == "fsync":
        fsync = os.fsync

        def flushing(fd: int) -> None:
            file = Path(os.readlink(f"/proc/self/fd/{fd}")).name
            if file.startswith(f".{name}."):
                os.kill(os.getpid(), signum)
            fsync(fd)

        os.fsync = flushing
    elif moment == "replaced":
        replace = os.replace

        def replacing(source, target, **kwargs) -> None:
            replace(source, target, **kwargs)
            if Path(target).name == name:
                os.kill(os.getpid(), signum)

        os.replace = replacing
    else:
        raise ValueError(
            f"moment must be 'fsync' or 'replaced', got {moment!r}"
        )


def last_line(text: str) -> str:
    """The last line a command printed (a progress bar redraws with \\r)."""
    return text.strip().splitlines()[-1].split("\r")[-1]
