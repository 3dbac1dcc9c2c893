"""Writing files so that nothing is lost: atomically, and only where the user asked.

Every file a command writes goes through :func:`atomic_write`: the bytes go to a
temporary file in the same folder, are flushed to disk, and only then replace the
target with ``os.replace`` (atomic on POSIX). A failure at any byte (disk full,
Ctrl-C) leaves the previous file, or no file, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb"
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it becomes ``path``."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        os.chmod(temporary, default_mode(0o666))  # mkstemp's is 0600
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(descriptor, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def default_mode(mode: int) -> int:
    """``mode`` less the process's umask: the permissions ``open`` or
    ``mkdir`` would give a new file (0o666) or folder (0o777)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


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
                    f"{what} {text} cannot be written: {folder} is not a folder"
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
