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


@functools.cache
def _version(name: str) -> str:
    return version(name)  # read once: it parses the package's metadata


def versions(*packages: str) -> list[str]:
    """``name==version`` of installed libraries, as key inputs."""
    return [f"{name}=={_version(name)}" for name in packages]


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


Use = tuple[str, str | None]  # (module, a name it defines), None: all of it


def _bindings(node: ast.Import | ast.ImportFrom, package: str) -> dict:
    """What each name an import binds stands for: ``(module, None)`` for a
    module, ``(module, name)`` for a name defined in one."""
    bound: dict[str, Use] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                bound[alias.asname] = (alias.name, None)
            else:  # import a.b binds a, and runs a.b
                bound[alias.name.split(".")[0]] = (alias.name, None)
        return bound
    parts = package.split(".") if node.level else []
    parts = parts[: len(parts) - node.level + 1] if parts else []
    base = ".".join([*parts, *([node.module] if node.module else [])])
    for alias in node.names:
        if alias.name == "*":
            bound[f"*{base}"] = (base, None)
        elif module_file(f"{base}.{alias.name}") is not None:
            bound[alias.asname or alias.name] = (f"{base}.{alias.name}", None)
        else:
            bound[alias.asname or alias.name] = (base, alias.name)
    return bound


def first_party(name: str) -> bool:
    return name.split(".")[0] in FIRST_PARTY


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


class Module:
    """A first-party module read statement by statement: its definitions
    by name, the names its imports bind, and the rest (what runs when it
    is imported)."""

    def __init__(
        self, tree: ast.Module, package: str, name: str = "", text: str = ""
    ):
        self.package, self.name = package, name
        self.lines = text.splitlines()
        self._read: dict[int, tuple[str, set[str], set[Use]]] = {}
        self.definitions: dict[str, list[ast.stmt]] = {}
        self.imports: dict[str, Use] = {}
        self.body: list[ast.stmt] = []
        for node in tree.body:
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                continue  # a docstring runs nothing
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports |= _bindings(node, package)
            elif isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                self.definitions.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
                isinstance(target, ast.Name) for target in _targets(node)
            ):
                for target in _targets(node):
                    assert isinstance(target, ast.Name)  # checked above
                    self.definitions.setdefault(target.id, []).append(node)
            else:
                self.body.append(node)

    def read(self, node: ast.stmt) -> tuple[str, set[str], set[Use]]:
        """A statement's source (its decorators included), its strings and
        what it uses (this module's names as its own), read once."""
        if id(node) not in self._read:
            first = min(
                [node.lineno]
                + [d.lineno for d in getattr(node, "decorator_list", [])]
            )
            self._read[id(node)] = (
                "\n".join(self.lines[first - 1 : node.end_lineno]),
                strings(node),
                {
                    (self.name, use[1]) if use[0] == "" else use
                    for use in self.uses(node)
                    if use[0] == "" or first_party(use[0])
                },
            )
        return self._read[id(node)]

    def uses(self, node: ast.AST) -> set[Use]:
        """What a statement of this module refers to: its own definitions,
        names its imports bound (``check.positive`` through a module), and
        what the statement imports itself (in a function, for instance)."""
        found: set[Use] = set()
        through: set[int] = set()  # names read as module.attribute
        for child in ast.walk(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found |= set(_bindings(child, self.package).values())
            elif isinstance(child, ast.Attribute) and isinstance(
                child.value, ast.Name
            ):
                target = self.imports.get(child.value.id)
                if target and target[1] is None:
                    found.add((target[0], child.attr))
                    found.add((target[0], ""))  # and runs the module
                    through.add(id(child.value))
            if isinstance(child, ast.Name) and id(child) not in through:
                if child.id in self.definitions:
                    found.add(("", child.id))  # this module, filled below
                elif child.id in self.imports:
                    found.add(self.imports[child.id])
                else:  # perhaps from a ``*`` import: looked up there
                    found |= {
                        (target[0], child.id)
                        for key, target in self.imports.items()
                        if key.startswith("*")
                    }
        return found


@functools.cache
def _module(path: Path, stamp: tuple[int, int]) -> Module:
    """A module read once (``stamp``, its modification time and size,
    renews the entry when the file changes)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    name = name.removesuffix(".__init__")
    text = path.read_text(encoding="utf-8")
    return Module(ast.parse(text), package, name, text)


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


def reach(uses: Iterable[Use]) -> tuple[list[str], set[str]]:
    """The source of everything first-party that ``uses`` reach: each
    definition used, what it uses in turn (in its module or, through an
    import, in another), and what runs when each module on the way is
    imported (its statements other than definitions and imports, and the
    modules it imports, with the packages they sit in). An edit to a
    function nobody uses, or a new function, changes nothing here. A module
    that cannot be read this way (no file, a ``*`` import, a name it does
    not define) counts whole. Returns the sources, each named, and the
    strings they hold."""
    sources: set[tuple[str, str]] = set()
    held: set[str] = set()
    entered: set[str] = set()
    done: set[Use] = set()
    waiting = [use for use in uses if first_party(use[0])]

    def take(module: Module, node: ast.stmt) -> None:
        text, found, used = module.read(node)
        sources.add((module.name, text))
        held.update(found)
        waiting.extend(used)

    def enter(name: str) -> Module | None:
        """Import ``name`` (and the packages above it): what runs."""
        parts, module = name.split("."), None
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            path = module_file(prefix)
            if path is None:
                waiting.extend(
                    (".".join(p.relative_to(ROOT).with_suffix("").parts), None)
                    for p in (ROOT / parts[0]).rglob("*.py")
                    if (
                        ".".join(p.relative_to(ROOT).with_suffix("").parts),
                        None,
                    )
                    not in done
                )
                return None
            module = _module(path, _stamp(path))
            if prefix in entered:
                continue
            entered.add(prefix)
            sources.add((prefix, ""))
            for node in module.body:
                take(module, node)
            for target in set(module.imports.values()):
                if first_party(target[0]):
                    waiting.append((target[0], ""))  # it runs
        return module

    while waiting:
        use = waiting.pop()
        if use in done:
            continue
        done.add(use)
        name, what = use
        module = enter(name)
        if module is None or what == "":
            continue
        if what is None:  # all of it
            waiting.extend((name, defined) for defined in module.definitions)
            waiting.extend(  # what it imports, its own names included
                target
                for target in module.imports.values()
                if first_party(target[0])
            )
            continue
        if what in module.definitions:
            for node in module.definitions[what]:
                take(module, node)
        elif what in module.imports:
            target = module.imports[what]
            if first_party(target[0]):
                waiting.append(target)
        else:  # defined some other way: the module counts whole
            waiting.append((name, None))
            path = module_file(name)
            if path is not None:
                sources.add((name, path.read_text("utf-8")))
    return [f"{module}\n{text}" for module, text in sorted(sources)], held


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


def code_inputs(*sources: str, uses: Iterable[str] = ()) -> list[Path | str]:
    """What code depends on beyond its own text: the first-party source it
    reaches (:func:`reach`) from the names it uses (read as the statements
    of one module: ``vitlesson.vit_small`` through ``import vitlesson``),
    from the modules it imports and from the modules in ``uses`` (which it
    runs in), and the data files that source or the code names. Code that
    cannot be parsed counts every module."""
    wanted: set[Use] = {(name, None) for name in uses}
    statements: list[ast.stmt] = []
    for source in sources:
        try:
            statements += ast.parse(source).body
        except SyntaxError:  # it fails when run; until then, it reads all
            wanted |= {
                (".".join(p.relative_to(ROOT).with_suffix("").parts), None)
                for package in FIRST_PARTY
                for p in (ROOT / package).rglob("*.py")
            }
    tree = ast.Module(body=statements, type_ignores=[])
    code = Module(tree, "")
    wanted |= {(target[0], "") for target in code.imports.values()}
    for node in statements:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            wanted |= {use for use in code.uses(node) if use[0]}
    texts, held = reach(wanted)
    return [*texts, *data_files(held | strings(tree))]
