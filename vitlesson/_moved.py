"""The names modules had before the tree was grouped (2026-12).

The lesson's concepts sit at the top of ``vitlesson``; what the lab trains
and measures is in ``vitlesson.lab``, the standalone tools (benchmark,
checkpoint formats, the attention command) in ``vitlesson.tools``. A
learner's notes and older pages still say ``import vitlesson.dino`` or
``python -m vitlesson.train``: both keep working. The old name gives the
module of the new one itself (one module object, so its classes are the
same classes), with a ``DeprecationWarning`` that names the new name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import CodeType, ModuleType

MOVED = {
    "vitlesson.train": "vitlesson.lab.train",
    "vitlesson.probes": "vitlesson.lab.probes",
    "vitlesson.dino": "vitlesson.lab.dino",
    "vitlesson.attention": "vitlesson.tools.attention",
    "vitlesson.bench": "vitlesson.tools.bench",
    "vitlesson.checkpoints": "vitlesson.tools.checkpoints",
}


def new_name(name: str) -> str | None:
    """The module's name today, or None if ``name`` did not move
    (``vitlesson.dino.loss`` -> ``vitlesson.lab.dino.loss``)."""
    for old, new in MOVED.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module of its new name."""

    def __init__(self, old: str, new: importlib.machinery.ModuleSpec) -> None:
        self.old = old
        self.new = new.name
        self.spec = new

    def create_module(
        self, spec: importlib.machinery.ModuleSpec
    ) -> ModuleType:
        warnings.warn(
            f"{self.old} is now {self.new}: import that name "
            f"(or run python -m {self.new})",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        # Importing set __spec__ to the old name's; the module keeps its own.
        module.__spec__ = self.spec

    def get_code(self, name: str) -> CodeType | None:
        """The new module's code, for ``python -m OLD_NAME`` (runpy)."""
        loader = self.spec.loader
        if not isinstance(loader, importlib.abc.InspectLoader):
            return None
        return loader.get_code(self.new)


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        spec = importlib.util.find_spec(new)
        if spec is None:
            return None
        alias = importlib.machinery.ModuleSpec(
            fullname, _Alias(fullname, spec), origin=spec.origin
        )
        alias.has_location = spec.has_location  # runpy sets __file__
        alias.submodule_search_locations = spec.submodule_search_locations
        return alias


def install() -> None:
    """Put the finder first, before the one that would load a moved
    package's files a second time under the old name."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
