"""Writing files so that nothing is lost: atomically, only where asked.

Every file a command writes starts as a *draft*: a temporary file in the same
folder, written and flushed to disk, which then replaces the target with
``os.replace`` (atomic on POSIX). A failure at any byte (disk full, Ctrl-C)
leaves the previous file, or no file, never half of one.

A process killed on the way (SIGKILL, a power cut) cannot remove its draft.
Drafts are hidden (``.name.PID.random.tmp``), so they are never mistaken for
an output, and their names are new each time, so they never stand in the way
of the next run; and they carry the id of the process that writes them, so the
next write of the same file removes the drafts of writers that no longer run
(:func:`remove_leftovers`). A draft of a process still running is left alone.

Two runs writing the same file would both report success: a command holds
:func:`output_lock` on its output while it runs, so the second refuses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def draft(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``path``, flushed to
    disk, and return its path, for ``os.replace`` to put where it belongs. On
    a failure it is removed and the error raised."""
    path = Path(path)
    remove_leftovers(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        os.chmod(temporary, default_mode(0o666))  # mkstemp's is 0600
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        discard(temporary)
        raise
    return Path(temporary)


def discard(temporary: str | os.PathLike[str]) -> None:
    """Remove a draft that will not be placed (if it is still there)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)


def remove_leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the drafts of ``path`` that processes which are no longer
    running left behind (they were killed before placing them); return
    them. Only names of :func:`draft`'s exact form are touched."""
    path = Path(path)
    form = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]{{8}}\.tmp")
    removed = []
    with contextlib.suppress(OSError):  # an unreadable folder: none known
        for entry in os.scandir(path.parent):
            found = form.fullmatch(entry.name)
            if found and not _running(int(found.group(1))):
                discard(entry.path)
                removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    """Whether a process ``pid`` is running (this one counts: a thread of
    it may be writing the same file)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether it is there
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's, or unknowable: leave it alone
    return True


def sync_folder(path: str | os.PathLike[str]) -> None:
    """Flush the folder ``path`` to disk, so that the files just renamed in
    it keep their new names after a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb"
) -> Iterator[IO]:
    """A file to write into; when the block ends without an error, what
    was written becomes ``path`` (:func:`write_bytes`)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    buffer: io.BytesIO | io.StringIO = (
        io.BytesIO() if mode == "wb" else io.StringIO()
    )
    yield buffer
    content = buffer.getvalue()
    write_bytes(
        path, content.encode("utf-8") if isinstance(content, str) else content
    )


def default_mode(mode: int) -> int:
    """``mode`` less the process's umask: the permissions ``open`` or
    ``mkdir`` would give a new file (0o666) or folder (0o777)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    temporary = draft(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        discard(temporary)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def writable_output(
    path: str | os.PathLike[str], what: str = "output"
) -> Path:
    """Check before any work that ``path`` can be written as a file.

    Returns the path; raises ``ValueError`` naming the path and the reason when
    it is empty, a directory, under something that is not a folder, or in a
    folder this process cannot write.
    """
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{what} path is empty: name a file")
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"{what} {text} is a directory: name a file")
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(
                    f"{what} {text} cannot be written: {folder} is not a "
                    f"folder"
                )
            if folder == parent and not os.access(folder, os.W_OK | os.X_OK):
                raise ValueError(
                    f"{what} {text} cannot be written: no permission to "
                    f"write in {folder}"
                )
            break
    else:  # pragma: no cover - the root always exists
        raise ValueError(f"{what} {text} cannot be written")
    if not parent.exists():
        raise ValueError(
            f"{what} {text} cannot be written: {parent} does not exist"
        )
    return path


@contextlib.contextmanager
def output_lock(path, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a file the command is about to
    write) while the block runs: a second run writing the same file refuses
    with a one-line ``ValueError`` instead of racing the first. ``what``
    names the output in that message as the user gave it (by default
    ``--output PATH``).

    The lock is ``fcntl.flock`` on a hidden file beside the output
    (``.NAME.lock``), removed when the block ends. The operating system
    releases a flock when its process dies, so a lock file left by a run
    that was killed blocks nothing: the next run takes it and removes it.
    """
    path = Path(path)
    what = what or f"--output {path}"
    lock = path.with_name(f".{path.name}.lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise ValueError(
                f"{what}: cannot make its lock file {lock} "
                f"({error.strerror or error})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(
                f"{what} is being written by another run "
                f"(it holds {lock}): wait for it to end or name another "
                f"file"
            ) from None
        try:  # the file locked is still the one of that name (not removed
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino  # meanwhile)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)
