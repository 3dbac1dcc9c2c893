"""The one cache key of the site build.

Figures, explorer data, page outputs and executed notebooks are cached under
``.cache/``, each under a key made of everything that produces them: a cache
entry is reused exactly until one of its inputs changes. An input is a file
(its bytes), a folder (every file below it, Python's ``__pycache__`` left
out) or a string (a page's text, a library's version); each is hashed with
its name, so renaming a file changes the key too.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

from sitebuild import ROOT

PACKAGE = ROOT / "vitlesson"
WEIGHTS = PACKAGE / "weights"
LENGTH = 16  # hex digits of SHA-256 kept in a cache folder's or file's name


def package_source() -> list[Path]:
    """Every Python file of the package, in sorted order."""
    return sorted(PACKAGE.rglob("*.py"))


def versions(*packages: str) -> list[str]:
    """``name==version`` of installed libraries, as key inputs."""
    return [f"{name}=={version(name)}" for name in packages]


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def _name(path: Path) -> str:
    resolved = path.resolve()
    if resolved.is_relative_to(ROOT):
        return resolved.relative_to(ROOT).as_posix()
    return resolved.as_posix()


def key(*inputs: Path | str) -> str:
    """The SHA-256 of ``inputs`` (files, folders, strings), shortened."""
    digest = hashlib.sha256()

    def update(kind: str, name: str, data: bytes) -> None:
        for part in (kind.encode(), name.encode(), data):
            digest.update(len(part).to_bytes(8, "little") + part)

    for item in inputs:
        if isinstance(item, str):
            update("text", "", item.encode())
        elif item.is_dir():
            for path in _files(item):
                update("file", _name(path), path.read_bytes())
        else:
            update("file", _name(item), item.read_bytes())
    return digest.hexdigest()[:LENGTH]
