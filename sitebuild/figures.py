"""The lesson's figures, rendered at build time and added to the site.

The figures are produced in memory from the package's plotting functions (the
recipes, each registered with ``@figure("figures/<name>.png")`` right above
it, are in figure_recipes.py) and handed to MkDocs as generated files, so
nothing is written into docs/ (which would make ``mkdocs serve`` rebuild
forever) and nothing rendered is committed.

Rendered bytes are cached in ``.cache/figures/``, each figure under its own
key (:func:`figure_keys`): its recipe's source, the recipes' shared code
(``figure``, ``render``), the imports of the names the recipe uses, the
package modules those reach and the data files they read (the shipped
weights, the recorded benchmark), and library versions. Editing one plotting
module redraws the figures whose recipes reach it and no other; adding a
recipe draws that figure alone; a page edit draws nothing; a warm build
draws nothing and imports neither torch nor matplotlib. Set
``VITLESSON_FIGURE_CACHE=off`` to always render.

A maintainer's mistake stops the build in one line before anything is
rendered: a registration whose file name is not written out, is registered
twice or does not end in an encoding the site uses; an image a page shows
that is neither a file of docs/ nor a registered figure; a figure that is
also a file of docs/. A figure without a recipe cannot be written: its
registration is the recipe's decorator. A recipe that fails is one line
naming its line in figure_recipes.py.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import posixpath
import re
import time
import traceback
from pathlib import Path
from typing import NamedTuple

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from sitebuild import ROOT, cache

log = logging.getLogger("mkdocs.hooks.figures")
RECIPES = Path(__file__).resolve().with_name("figure_recipes.py")
WHERE = "sitebuild/figure_recipes.py"
# Width, resolution and smallest text of every figure, for the test that
# checks how large its text appears on the page.
FIGURE_META = "figures/figures.json"
ENCODINGS = (".png", ".webp")
IMAGE = re.compile(r"!\[[^\]]*\]\((?P<src>[^)\s]+)")
FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][\w+.-]*:|/|#)")  # https:, data:, /x, #x


class Registration(NamedTuple):
    recipe: str  # the function's name in figure_recipes.py
    line: int  # the line of its @figure(...)


def registered() -> dict[str, Registration]:
    """Every figure of figure_recipes.py (site path -> its registration),
    read from the source so that nothing is imported: a registration that
    cannot be read stops the build in one line naming its line."""
    tree = ast.parse(RECIPES.read_text(encoding="utf-8"))
    found: dict[str, Registration] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            name = decorator if call is None else call.func
            if not (isinstance(name, ast.Name) and name.id == "figure"):
                continue
            where = f"{WHERE}:{decorator.lineno}"
            argument = (
                call.args[0]
                if call and len(call.args) == 1 and not call.keywords
                else None
            )
            if not (
                isinstance(argument, ast.Constant)
                and isinstance(argument.value, str)
            ):
                raise PluginError(
                    f"{where}: a figure is registered as "
                    f'@figure("figures/<name>.png"), its file name written '
                    f"out, got @{ast.unparse(decorator)}"
                )
            path = argument.value
            if path in found:
                raise PluginError(
                    f"{where}: the figure {path} is registered twice: by "
                    f"{node.name!r} and by {found[path].recipe!r} at line "
                    f"{found[path].line}"
                )
            if posixpath.splitext(path)[1] not in ENCODINGS:
                raise PluginError(
                    f"{where}: the figure {path} must end in one of "
                    f"{', '.join(ENCODINGS)} (its encoding), got "
                    f"{posixpath.splitext(path)[1] or 'no ending'!r}"
                )
            found[path] = Registration(node.name, decorator.lineno)
    return found


def check_images(files, figures: dict[str, Registration]) -> None:
    """Every image a page shows is a file of docs/ or a registered figure,
    and no registered figure is also a file of docs/ (one would hide the
    other)."""
    for path in figures:
        if files.get_file_from_path(path) is not None:
            raise PluginError(
                f"docs/{path} is a file of docs/ and also a figure that "
                f"{WHERE}:{figures[path].line} registers: remove one of them"
            )
    for file in files.documentation_pages():
        if not file.src_uri.endswith(".md"):
            continue
        text = file.content_string
        in_fence = False
        for number, line in enumerate(text.splitlines(), start=1):
            if FENCE_LINE.match(line):
                in_fence = not in_fence
            if in_fence:
                continue
            for image in IMAGE.finditer(line):
                src = image["src"].split("#")[0]
                if EXTERNAL.match(src):
                    continue
                uri = posixpath.normpath(
                    posixpath.join(posixpath.dirname(file.src_uri), src)
                )
                if uri not in figures and not files.get_file_from_path(uri):
                    raise PluginError(
                        f"docs/{file.src_uri}:{number}: the image {src} is "
                        f"neither a file of docs/ nor a figure registered "
                        f"with @figure in {WHERE} ({uri})"
                    )


def render(
    path: str, registration: Registration
) -> tuple[dict[str, bytes], dict]:
    """A figure drawn by its recipe (with its narrow drawing, where it has
    one: site path -> bytes) and its measurements; a failing recipe is one
    line naming the recipe's line and the error."""
    try:
        from sitebuild import figure_recipes  # torch: on a cache miss only

        return figure_recipes.render_variants(path)
    except Exception as error:
        lines = [  # the recipe's own lines, not the dispatching ones
            frame.lineno
            for frame in traceback.extract_tb(error.__traceback__)
            if Path(frame.filename).resolve() == RECIPES
            and frame.name not in ("render", "render_variants")
        ] or [registration.line]
        message = " ".join(str(error).split())
        raise PluginError(
            f"{WHERE}:{lines[-1]}: the recipe {registration.recipe!r} of "
            f"{path} failed: {type(error).__name__}: {message}"
        ) from None


def _bound(statement: ast.Import | ast.ImportFrom) -> dict[str, str]:
    """Each name an import statement binds, with that import alone."""
    bound = {}
    for alias in statement.names:
        one: ast.stmt = ast.Import(names=[alias])
        if isinstance(statement, ast.ImportFrom):
            one = ast.ImportFrom(statement.module, [alias], statement.level)
        name = alias.asname or alias.name.split(".")[0]
        bound[name] = ast.unparse(one)
    return bound


def _names(nodes) -> set[str]:
    return {
        node.id
        for tree in nodes
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
    }


def figure_keys(figures: dict[str, Registration]) -> dict[str, str]:
    """The cache key of each figure (site path -> key), read from the
    recipes' source: the recipe itself; what all recipes share (the
    statements of figure_recipes.py that are neither imports nor recipes);
    the import of each name these use, and the modules and data files
    those imports reach (:func:`cache.code_inputs`); library versions. An
    import that only another recipe uses is not part of a figure's key."""
    tree = ast.parse(RECIPES.read_text(encoding="utf-8"))
    recipes = {registration.recipe for registration in figures.values()}
    imports: dict[str, str] = {}
    shared, defined = [], {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports |= _bound(node)
        elif isinstance(node, ast.FunctionDef) and node.name in recipes:
            defined[node.name] = node
        else:
            shared.append(node)
    common = [ast.unparse(node) for node in shared]
    libraries = cache.versions(*cache.LIBRARIES)
    keys = {}
    for path, registration in figures.items():
        recipe = defined[registration.recipe]
        lines = sorted(
            imports[name]
            for name in _names([recipe, *shared])
            if name in imports
        )
        keys[path] = cache.key(
            path,
            ast.unparse(recipe),
            *common,
            *lines,
            *cache.code_inputs(ast.unparse(recipe), *common, *lines),
            *libraries,
        )
    return keys


_figures: dict[str, Registration] = {}  # read in on_config


def on_config(config):
    _figures.clear()
    _figures.update(registered())  # before any hook renders anything
    return config


def generated(figures: dict[str, Registration]) -> dict[str, bytes]:
    """Every figure (site path -> bytes), from the cache or drawn, with the
    narrow drawings of those that have one, and :data:`FIGURE_META`: what
    the build adds to the site, and what ``python -m sitebuild`` writes."""
    use_cache = os.environ.get("VITLESSON_FIGURE_CACHE", "on") != "off"
    keys = figure_keys(figures)
    start, rendered = time.perf_counter(), 0
    contents: dict[str, bytes] = {}
    metas: dict[str, dict] = {}
    _narrow.clear()
    for path, registration in figures.items():
        folder = ROOT / ".cache" / "figures" / keys[path]
        cached_meta = folder / f"{path}.json"
        meta = (
            json.loads(cached_meta.read_text(encoding="utf-8"))
            if use_cache and cached_meta.exists()
            else None
        )
        names = [path] + (
            [meta["narrow"]["src"]] if meta and "narrow" in meta else []
        )
        if meta is not None and all(
            (folder / name).exists() for name in names
        ):
            drawn = {name: (folder / name).read_bytes() for name in names}
        else:
            drawn, meta = render(path, registration)
            rendered += 1
            if use_cache:
                from vitlesson._io import write_bytes, write_text

                for name, content in drawn.items():
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    write_bytes(folder / name, content)
                write_text(cached_meta, json.dumps(meta))
        contents |= drawn
        metas[path] = meta
        if "narrow" in meta:
            _narrow[path] = meta["narrow"]["src"]
    contents[FIGURE_META] = json.dumps(
        metas, indent=1, sort_keys=True
    ).encode()
    log.info(
        f"figures: {rendered} rendered, {len(figures) - rendered} cached "
        f"({time.perf_counter() - start:.2f} s)"
    )
    return contents


# Figures that have a narrow drawing (site path -> its path), from generated().
_narrow: dict[str, str] = {}
# Where a phone gets the narrow drawing (lightbox.js opens the one shown).
NARROW_SCREEN = "(max-width: 600px)"
IMG = re.compile(r'<img\b[^>]*?\ssrc="(?P<src>[^"]+)"[^>]*>')


def with_narrow_sources(html: str, page_url: str) -> str:
    """Every <img> of a figure that has a narrow drawing, in a <picture>
    whose <source> serves that drawing to screens up to 600 px wide (the
    <img>, and the lightbox's link, keep the wide one)."""
    folder = (
        page_url
        if page_url.endswith("/") or not page_url
        else (posixpath.dirname(page_url))
    )

    def picture(match: re.Match) -> str:
        src = match["src"]
        path = posixpath.normpath(posixpath.join(folder, src))
        if path not in _narrow:
            return match[0]
        narrow = src[: len(src) - len(posixpath.basename(src))]
        narrow += posixpath.basename(_narrow[path])
        return (
            f'<picture><source media="{NARROW_SCREEN}" srcset="{narrow}">'
            f"{match[0]}</picture>"
        )

    return IMG.sub(picture, html)


def on_post_page(output, page, config):
    return with_narrow_sources(output, page.url)


def on_files(files, config):
    check_images(files, _figures)
    for path, content in generated(_figures).items():
        files.append(File.generated(config, path, content=content))
    return files
