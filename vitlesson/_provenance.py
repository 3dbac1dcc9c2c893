"""Which code a recorded result was measured with, and what has changed
in that code since.

A result the site shows without running it (a benchmark, a training run)
carries a *stamp*: the date, the torch version, the command's module, and a
SHA-256 for each ``vitlesson`` module that the command imports, directly or
through another module (the packages above each one included, as Python
runs their ``__init__.py`` too). The imports are read from the sources, not
from ``sys.modules``, so the same function stamps a run today and a record
made at an old commit (reading that commit's files).

A module's hash covers its code, not its prose: docstrings, comments and
blank lines are left out, so rewording a docstring does not make a result
stale, while changing one line that runs does. This module never imports
torch (the site build compares stamps on every page).
"""

from __future__ import annotations

import ast
import datetime
import functools
import hashlib
import importlib.metadata
import io
import tokenize
from collections.abc import Callable
from pathlib import Path

PACKAGE = "vitlesson"
ROOT = Path(__file__).resolve().parent.parent  # the folder above vitlesson/

Reader = Callable[[str], "str | None"]  # a path like "vitlesson/vit.py"


def read_file(root: Path = ROOT) -> Reader:
    """A reader of the sources under ``root`` (None for a missing file)."""

    def read(path: str) -> str | None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    return read


def code_of(source: str) -> str:
    """The code of a module's source: every line but docstrings, comments
    and blank lines, each stripped of trailing spaces."""
    dropped: set[int] = set()  # line numbers, from 1
    for node in ast.walk(ast.parse(source)):
        if not isinstance(
            node,
            (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
        ):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            end = first.end_lineno or first.lineno
            dropped.update(range(first.lineno, end + 1))
    lines = source.splitlines()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column]
    return "\n".join(
        line.rstrip()
        for number, line in enumerate(lines, start=1)
        if number not in dropped and line.strip()
    )


@functools.lru_cache(maxsize=512)  # keyed by the whole source: never stale
def code_hash(source: str) -> str:
    """SHA-256 (hex) of :func:`code_of` the source."""
    return hashlib.sha256(code_of(source).encode("utf-8")).hexdigest()


def module_file(name: str, read: Reader) -> tuple[str, str] | None:
    """The path and source of the module ``name`` (``vitlesson.a.b`` is
    ``vitlesson/a/b.py`` or ``vitlesson/a/b/__init__.py``), None if there is
    no such file."""
    base = name.replace(".", "/")
    for path in (f"{base}.py", f"{base}/__init__.py"):
        source = read(path)
        if source is not None:
            return path, source
    return None


def _imported_names(source: str, name: str, is_package: bool) -> set[str]:
    """Every module name an import statement of ``source`` (the module
    ``name``) can load: ``from a import b`` may load ``a.b``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: counted from the module's package
                parts = name.split(".")
                keep = len(parts) - node.level + is_package
                base = ".".join([*parts[:keep], *filter(None, [base])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imported_modules(entry: str, read: Reader) -> dict[str, str]:
    """The package modules that running the module ``entry`` imports:
    {path: source}, ``entry`` and every package above each module
    included."""
    found: dict[str, str] = {}
    waiting = [entry]
    while waiting:
        name = waiting.pop()
        if name != PACKAGE and not name.startswith(f"{PACKAGE}."):
            continue
        parts = name.split(".")
        waiting += [".".join(parts[:n]) for n in range(1, len(parts))]
        file = module_file(name, read)
        if file is None or file[0] in found:
            continue
        path, source = file
        found[path] = source
        waiting += sorted(
            _imported_names(source, name, path.endswith("__init__.py"))
        )
    return dict(sorted(found.items()))


def module_name(file: str | Path, root: Path = ROOT) -> str:
    """The dotted name of a module file under ``root``."""
    relative = Path(file).resolve().relative_to(root.resolve())
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def torch_version() -> str | None:
    """The installed torch's version, read without importing torch."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def stamp(entry_file: str | Path, root: Path = ROOT) -> dict:
    """The stamp of a run of the module file ``entry_file`` (pass the
    command's ``__file__``): today's date, torch's version and the hash of
    every package module the run imports."""
    try:
        entry = module_name(entry_file, root)
    except ValueError:  # not under root
        entry = ""
    read = read_file(root)
    inside = entry.split(".")[0] == PACKAGE
    if not inside or module_file(entry, read) is None:
        raise ValueError(
            f"entry_file must be a module of the {PACKAGE} package under "
            f"{root}, got {entry_file}"
        )
    return {
        "date": datetime.date.today().isoformat(),
        "torch": torch_version(),
        "entry": entry,
        "modules": {
            path: code_hash(source)
            for path, source in imported_modules(entry, read).items()
        },
    }


def changed_modules(code: dict, read: Reader | None = None) -> list[str]:
    """The modules of a stamp whose code is no longer what it was (a
    module that no longer exists included), in the stamp's order."""
    read = read or read_file()
    changed = []
    for path, digest in code["modules"].items():
        source = read(path)
        if source is None or code_hash(source) != digest:
            changed.append(path)
    return changed
