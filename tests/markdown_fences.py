"""Run every ```python fence of the docs the way MkDocs shows it.

Sybil's stock Markdown parser only collects fences whose info string is exactly
``python``; the lesson pages also use titles (``python title="..."``) and
pymdownx.snippets include lines (``--8<-- "vitlesson/patching.py:patchify"``).
This parser collects every fence whose language is ``python`` or ``py``, expands
include lines with the very snippets preprocessor that mkdocs.yml configures, and
executes the result in the page's namespace:

* code written on the page is compiled under the Markdown file's name and line
  numbers, so a failure points at the page;
* included package code is compiled under the package file's name and line
  numbers, and executed with that module's globals (its imports and helpers), so
  a failure points at the real source.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import markdown
from mkdocs.config import load_config
from sybil import Region

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>python|py)(?:[ \t]+(?P<attrs>[^\n]*))?\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
FENCE_OPENING = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(python|py)\b", re.MULTILINE)
INCLUDE = re.compile(r"""^[ \t]*-{1,}8<-{1,}[ \t]+(?P<quote>["'])(?P<target>.+?)(?P=quote)[ \t]*$""")


def count_python_fences(text: str) -> int:
    """Count fence openings with a python info string, independently of the parser below."""
    return len(FENCE_OPENING.findall(text))


@functools.cache
def snippet_preprocessor():
    """The pymdownx.snippets preprocessor, configured exactly as in mkdocs.yml."""
    config = load_config(str(ROOT / "mkdocs.yml"))
    md = markdown.Markdown(extensions=config["markdown_extensions"], extension_configs=config["mdx_configs"])
    return md.preprocessors["snippet"]


@dataclass(frozen=True)
class Segment:
    """A run of code to execute, with where it really comes from."""

    source: str
    filename: str
    first_line: int
    module: str | None = None  # set for package code: executed with that module's globals


def expand_include(line: str) -> Segment:
    """Expand one ``--8<--`` line and locate the included lines in their file."""
    target = INCLUDE.match(line)["target"]
    expanded = "\n".join(snippet_preprocessor().run([line.strip()])) + "\n"
    path, _, section = target.partition(":")
    file = ROOT / path
    file_lines = file.read_text(encoding="utf-8").splitlines()
    first_line = 1
    if section:
        start = next(i for i, text in enumerate(file_lines) if f"[start:{section}]" in text)
        end = next(i for i, text in enumerate(file_lines) if f"[end:{section}]" in text)
        if "\n".join(file_lines[start + 1 : end]) + "\n" != expanded:
            raise ValueError(f"{target}: the expanded snippet does not match lines {start + 2}-{end} of {path}")
        first_line = start + 2
    module = ".".join(Path(path).with_suffix("").parts) if path.endswith(".py") else None
    return Segment(expanded, str(file), first_line, module)


def segments(body: str, md_path: str, body_line: int) -> list[Segment]:
    """Split a fence body into page code and included package code, in order."""
    result: list[Segment] = []
    page_lines: list[str] = []
    page_start = body_line
    for offset, line in enumerate(body.splitlines()):
        if INCLUDE.match(line):
            if page_lines:
                result.append(Segment("\n".join(page_lines) + "\n", md_path, page_start))
            result.append(expand_include(line))
            page_lines, page_start = [], body_line + offset + 1
        else:
            page_lines.append(line)
    if any(text.strip() for text in page_lines):
        result.append(Segment("\n".join(page_lines) + "\n", md_path, page_start))
    return result


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
        source = "\n" * (segment.first_line - 1) + segment.source
        code = compile(source, segment.filename, "exec")
        if segment.module is None:
            exec(code, example.namespace)
        else:
            module_globals = dict(vars(importlib.import_module(segment.module)))
            exec(code, module_globals)
            for name in bound_names(ast.parse(segment.source)):
                example.namespace[name] = module_globals[name]


def parse_python_fences(document):
    """Sybil parser: one region, hence one pytest item, per python fence."""
    for match in FENCE.finditer(document.text):
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        body_line = document.text.count("\n", 0, match.start("body")) + 1
        yield Region(match.start(), match.end(), segments(body, document.path, body_line), evaluate)
