"""Sybil parser and evaluator: run every python fence of the docs the way MkDocs shows it.

Sybil's stock Markdown parser only collects fences whose info string is exactly
``python``; the lesson pages also use titles (``python title="..."``) and
pymdownx.snippets include lines. :mod:`hooks.lesson_code` finds and expands them;
this module executes the result in the page's namespace:

* code written on the page is compiled under the Markdown file's name and line
  numbers, so a failure points at the page;
* included package code is compiled under the package file's name and line
  numbers and executed with that module's globals (its imports and helpers), so a
  failure points at the real source.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

from mkdocs.config import load_config
from sybil import Region

from hooks.lesson_code import python_fences, snippet_preprocessor

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def preprocessor():
    return snippet_preprocessor(load_config(str(ROOT / "mkdocs.yml")))


def bound_names(tree: ast.Module) -> set[str]:
    """Names a piece of module-level code defines (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def evaluate(example) -> None:
    for segment in example.parsed:
        # Pad with newlines so that line numbers in tracebacks are the real ones.
        code = compile("\n" * (segment.first_line - 1) + segment.source, segment.filename, "exec")
        if segment.module is None:
            exec(code, example.namespace)
        else:
            module_globals = dict(vars(importlib.import_module(segment.module)))
            exec(code, module_globals)
            for name in bound_names(ast.parse(segment.source)):
                example.namespace[name] = module_globals[name]


def parse_python_fences(document):
    """Sybil parser: one region, hence one pytest item, per python fence."""
    for fence in python_fences(document.text, document.path, ROOT, preprocessor()):
        yield Region(fence.start, fence.end, fence.segments, evaluate)
