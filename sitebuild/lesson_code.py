"""The python code of a lesson page, found and expanded exactly as MkDocs renders it.

Shared by the page outputs, the notebooks (a lesson page becomes a downloadable
notebook) and the test runner (every python fence of every page is executed). A fence is any
``python`` or ``py`` fence, with or without attributes such as ``title="..."``,
at any indentation (inside admonitions and tabs). ``--8<--`` include lines are
expanded by the pymdownx.snippets preprocessor configured in mkdocs.yml, so the
code that runs is byte for byte the code the reader sees.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import markdown

from sitebuild import one_torch_thread

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>python|py)(?:[ \t]+(?P<attrs>[^\n]*))?\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
FENCE_OPENING = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*(python|py)\b", re.MULTILINE
)
INCLUDE = re.compile(
    r"""^[ \t]*-{1,}8<-{1,}[ \t]+(?P<quote>["'])(?P<target>.+?)(?P=quote)[ \t]*$"""
)


def count_python_fences(text: str) -> int:
    """Count fence openings with a python info string, independently of :data:`FENCE`."""
    return len(FENCE_OPENING.findall(text))


def snippet_preprocessor(config):
    """The pymdownx.snippets preprocessor with the settings of a loaded MkDocs config."""
    md = markdown.Markdown(
        extensions=config["markdown_extensions"],
        extension_configs=config["mdx_configs"],
    )
    preprocessor = md.preprocessors["snippet"]
    preprocessor.auto_append = []  # the page's glossary, not part of any code
    return preprocessor


@dataclass(frozen=True)
class Segment:
    """A run of code, with the file and line it really comes from."""

    source: str
    filename: str
    first_line: int
    module: str | None = (
        None  # the package module of included code, e.g. "vitlesson.patching"
    )

    @property
    def runnable(self) -> bool:
        """Page code and top-level package code run; a method shown alone
        (an indented section of a class) is only displayed: it runs as part of
        its module."""
        first = next(
            (line for line in self.source.splitlines() if line.strip()), ""
        )
        return self.module is None or not first[:1].isspace()


@dataclass(frozen=True)
class Fence:
    start: int  # character offsets of the whole fence in the page
    end: int
    segments: list[Segment]

    @property
    def source(self) -> str:
        return "".join(segment.source for segment in self.segments)


class IncludeError(ValueError):
    """An include line that cannot be expanded, with the page, line and package file named."""


class MarkerError(IncludeError):
    """A section marker missing, doubled or out of order in a package file,
    with that file and line named."""


def _section_lines(
    file_lines: list[str], section: str, path: str
) -> tuple[int, int]:
    """Indices of the start and end markers of ``section`` in a file.

    A section with a marker missing, doubled or out of order is an error
    that names the package file's line where the marker is wrong (the
    caller adds the include line); a section with no marker at all is the
    include's mistake, and the error lists the file's sections."""
    starts = [
        i for i, text in enumerate(file_lines) if f"[start:{section}]" in text
    ]
    ends = [
        i for i, text in enumerate(file_lines) if f"[end:{section}]" in text
    ]
    start_marker = f"'# --8<-- [start:{section}]'"
    end_marker = f"'# --8<-- [end:{section}]'"
    found = sorted(
        {
            m
            for text in file_lines
            for m in re.findall(r"--8<-- \[(?:start|end):([\w-]+)\]", text)
        }
    )
    markers = f"markers in {path}: {', '.join(found) or 'none'}"
    if len(starts) == 1 and len(ends) == 1 and ends[0] > starts[0]:
        return starts[0], ends[0]
    if not starts and not ends:
        raise IncludeError(
            f"section {section!r} of {path} needs one {start_marker} line "
            f"and one {end_marker} line after it; found 0 start and 0 end "
            f"marker(s). Sections in {path}: {', '.join(found) or 'none'}"
        )
    if len(starts) > 1:
        problem = (
            f"{starts[1] + 1}: a second {start_marker} line (the first is "
            f"line {starts[0] + 1})"
        )
    elif len(ends) > 1:
        problem = (
            f"{ends[1] + 1}: a second {end_marker} line (the first is line "
            f"{ends[0] + 1})"
        )
    elif not ends:
        problem = (
            f"{starts[0] + 1}: section {section!r} starts here, and no "
            f"{end_marker} line follows ({markers})"
        )
    elif not starts:
        problem = (
            f"{ends[0] + 1}: section {section!r} ends here, and no "
            f"{start_marker} line comes before it ({markers})"
        )
    else:
        problem = (
            f"{ends[0] + 1}: the {end_marker} line comes before its "
            f"{start_marker} line ({starts[0] + 1})"
        )
    raise MarkerError(f"{path}:{problem}")


def expand_include(
    line: str, root: Path, preprocessor, where: str = ""
) -> Segment:
    """Expand one ``--8<--`` line and locate the included lines in their file.

    ``where`` ("page.md:12") names the include line in errors."""
    include = INCLUDE.match(line)
    if include is None:
        raise ValueError(f"line: expected a --8<-- include line, got {line!r}")
    target = include["target"]
    path, _, section = target.partition(":")
    prefix = f"{where}: " if where else ""
    if not (root / path).is_file():
        raise IncludeError(
            f'{prefix}--8<-- "{target}": there is no file {path}'
        )
    file_lines = (root / path).read_text(encoding="utf-8").splitlines()
    first_line = 1
    if section:
        try:
            start, end = _section_lines(file_lines, section, path)
        except MarkerError as error:  # the package file's line comes first
            included = f"; {where} includes it" if where else ""
            raise MarkerError(f"{error}{included}") from None
        except IncludeError as error:
            raise IncludeError(f'{prefix}--8<-- "{target}": {error}') from None
        first_line = start + 2
    try:
        expanded = "\n".join(preprocessor.run([line.strip()])) + "\n"
    except (
        Exception
    ) as error:  # pymdownx.snippets' own error, without page or line
        raise IncludeError(f'{prefix}--8<-- "{target}": {error}') from None
    if section:
        shown = [
            text
            for text in file_lines[start + 1 : end]
            if "--8<-- [" not in text
        ]
        if "\n".join(shown) + "\n" != expanded:
            raise IncludeError(
                f"{prefix}{target}: the expanded snippet does not match lines "
                f"{start + 2}-{end} of {path}"
            )
    module = (
        ".".join(Path(path).with_suffix("").parts)
        if path.endswith(".py")
        else None
    )
    return Segment(expanded, str(root / path), first_line, module)


def python_fences(
    text: str, path: str, root: Path, preprocessor
) -> list[Fence]:
    """Every python fence of a page, split into page code and included package code, in order."""
    fences = []
    for match in FENCE.finditer(text):
        indent = len(match["indent"])
        body_line = text.count("\n", 0, match.start("body")) + 1
        segments: list[Segment] = []
        page_lines: list[str] = []
        page_start = body_line
        for offset, line in enumerate(match["body"].splitlines()):
            line = line[indent:]
            if INCLUDE.match(line):
                if page_lines:
                    segments.append(
                        Segment("\n".join(page_lines) + "\n", path, page_start)
                    )
                where = f"{path}:{body_line + offset}"
                segments.append(
                    expand_include(line, root, preprocessor, where)
                )
                page_lines, page_start = [], body_line + offset + 1
            else:
                page_lines.append(line)
        if any(text_line.strip() for text_line in page_lines):
            segments.append(
                Segment("\n".join(page_lines) + "\n", path, page_start)
            )
        fences.append(Fence(match.start(), match.end(), segments))
    return fences


def bound_names(tree: ast.Module) -> set[str]:
    """Names a piece of module-level code defines (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
            )
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = (
                node.targets if isinstance(node, ast.Assign) else [node.target]
            )
            names.update(
                n.id
                for t in targets
                for n in ast.walk(t)
                if isinstance(n, ast.Name)
            )
    return names


def run_fence(fence: Fence, namespace: dict) -> str:
    """Execute a fence in the page's namespace; return what it printed.

    Page code is compiled under the Markdown file's name and line numbers, so a
    failure points at the page. Included package code is compiled under the
    package file's name and lines and executed with that module's globals (its
    imports and helpers); the names it defines join the page's namespace.
    Torch runs it on one thread, in the build and in the tests alike.
    """
    printed = io.StringIO()
    with one_torch_thread(), contextlib.redirect_stdout(printed):
        for segment in fence.segments:
            if not segment.runnable:
                continue
            # Pad with newlines so that line numbers in tracebacks are the real ones.
            code = compile(
                "\n" * (segment.first_line - 1) + segment.source,
                segment.filename,
                "exec",
            )
            if segment.module is None:
                exec(code, namespace)
            else:
                module_globals = dict(
                    vars(importlib.import_module(segment.module))
                )
                exec(code, module_globals)
                for name in bound_names(ast.parse(segment.source)):
                    namespace[name] = module_globals[name]
    return printed.getvalue()
