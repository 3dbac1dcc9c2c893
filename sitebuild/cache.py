"""The cache keys of the site build: what each generated result depends on.

Figures, explorer data, page outputs and executed notebooks are cached under
``.cache/``, each under a key made of everything that produces it: a cache
entry is reused exactly until one of its inputs changes. An input is a file
(its bytes), a folder (every file below it, Python's ``__pycache__`` left
out) or a string (a page's code, a library's version); each is hashed with
its name, so renaming a file changes the key too.

A result's inputs are found in its code, statically (nothing is imported,
so a warm build never loads torch): :func:`code_inputs` follows the code's
imports of the project's own packages (``vitlesson``, ``sitebuild``) from
module to module, with the packages each module sits in (importing
``vitlesson.lab.train`` runs ``vitlesson/__init__.py`` and
``vitlesson/lab/__init__.py`` first), and adds the data files those modules
name (the shipped weights, the recorded benchmark). A page's outputs then
depend on its own code and the modules that code reaches, not on its prose
or on another page; a figure on its recipe and the modules the recipe
reaches. An import that cannot be followed to a file counts as depending on
the whole package, so a key can be too broad, never too narrow.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from sitebuild import ROOT

PACKAGE = ROOT / "vitlesson"
LENGTH = 16  # hex digits of SHA-256 kept in a cache folder's or file's name
# The project's own packages, whose modules are followed like the code.
FIRST_PARTY = ("vitlesson", "sitebuild")
# Where the files that code reads by name live: the package's data (shipped
# weights and their records) and the results a command recorded for a page.
DATA = (PACKAGE, ROOT / "docs" / "data")
# The libraries whose version can change what the build draws or prints.
LIBRARIES = ("torch", "numpy", "matplotlib", "pillow")


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


# --- What code depends on, read from its source ---------------------------


def module_file(name: str) -> Path | None:
    """The file of a first-party module (``vitlesson.lab.train``), or None
    where there is none."""
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported(tree: ast.AST, package: str = "") -> set[str]:
    """The first-party modules that code imports, anywhere in it (in a
    function too); ``package`` resolves its relative imports. ``from a
    import b`` counts ``a.b`` where that is a module."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".") if node.level else []
            parts = parts[: len(parts) - node.level + 1] if parts else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(base)
            names.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if module_file(f"{base}.{alias.name}") is not None
            )
    return {name for name in names if name.split(".")[0] in FIRST_PARTY}


@functools.cache
def _read(path: Path, stamp: tuple[int, int]) -> tuple[set[str], set[str]]:
    """The modules a file imports and the strings it holds (``stamp``, its
    modification time and size, renews the entry when the file changes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    return imported(tree, package), strings(tree)


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size


def strings(tree: ast.AST) -> set[str]:
    """Every string constant of code, and each part of one that is a path."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
            found.update(node.value.split("/"))
    return found


def modules(names: Iterable[str]) -> tuple[list[Path], set[str]]:
    """The files of first-party modules and of every first-party module
    they import, transitively, each with the packages it sits in; and the
    strings those files hold. A module without a file stands for its whole
    package."""
    files: set[Path] = set()
    held: set[str] = set()
    waiting = list(names)
    while waiting:
        parts = waiting.pop().split(".")
        for end in range(1, len(parts) + 1):  # a.b.c needs a, a.b, a.b.c
            path = module_file(".".join(parts[:end]))
            if path is None:  # not followed: the whole package counts
                whole = sorted((ROOT / parts[0]).rglob("*.py"))
                new = [p for p in whole if p not in files]
            else:
                new = [path] if path not in files else []
            for found in new:
                files.add(found)
                more, text = _read(found, _stamp(found))
                waiting.extend(more)
                held |= text
            if path is None:
                break
    return sorted(files), held


def data_files(held: set[str]) -> list[Path]:
    """The data files that code names: a file counts where its name, its
    stem or the name of a folder it sits in (below vitlesson/ or docs/data/)
    is a string of the code (``"weights"`` counts every shipped weight, so a
    name the code builds from its parts still counts)."""
    found = []
    for root in DATA:
        for path in _files(root):
            if path.suffix == ".py":
                continue
            names = {path.name, path.stem, *path.relative_to(root).parts}
            if root.name != PACKAGE.name:
                names.add(root.name)
            if names & held:
                found.append(path)
    return sorted(found)


def code_inputs(*sources: str, uses: Iterable[str] = ()) -> list[Path]:
    """The files that code depends on beyond its own text: the first-party
    modules it imports (and ``uses``: modules it runs in), transitively, and
    the data files those modules or the code name."""
    trees, names = [], set(uses)
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:  # it fails when run; until then, it reads all
            names.update(
                ".".join(path.relative_to(ROOT).with_suffix("").parts)
                for package in FIRST_PARTY
                for path in (ROOT / package).rglob("*.py")
            )
    names |= {name for tree in trees for name in imported(tree)}
    files, held = modules(names)
    for tree in trees:
        held |= strings(tree)
    return [*files, *data_files(held)]
