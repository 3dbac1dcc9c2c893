"""Light notebook pages: what mkdocs-jupyter adds to a page, pruned.

mkdocs-jupyter inlines about 575 KB of JupyterLab CSS into each notebook page;
the rules the page can use are kept, in one shared, cacheable stylesheet. Its
MathJax loader (an empty ``<script src="">``) and its CDN mermaid loader are
removed: the site renders maths with its own KaTeX and has no diagrams.
Outputs from stderr (library warnings) are left out. In mkdocs-jupyter 0.26.3
no option does any of this, so each piece is checked to match exactly once.
"""

from __future__ import annotations

import hashlib
import re

from mkdocs.utils import get_relative_url

STYLE = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.DOTALL)
UNUSED_SCRIPTS = {
    "MathJax loader": re.compile(
        r"<!-- Load mathjax -->\s*<script src=\"\">\s*</script>\s*"
    ),
    "MathJax configuration": re.compile(
        r"<!-- MathJax configuration -->\s*<script type=\"text/x-mathjax-config\">.*?</script>\s*"
        r"(<!-- End of mathjax configuration -->)?",
        re.DOTALL,
    ),
    "mermaid loader": re.compile(
        r"<script type=\"module\">\s*document\.addEventListener\(\"DOMContentLoaded\", "
        r"async \(\) => \{\s*const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid.*?</script>\s*",
        re.DOTALL,
    ),
}


STDERR_OUTPUT = re.compile(r'<div class="jp-OutputArea-child[^"]*">')


def without_stderr(html: str) -> str:
    """Remove every output of a notebook page that came from stderr (library warnings, log lines):
    a published page shows what the code computes, not the noise of the machine that built it."""
    pieces, position = [], 0
    for match in STDERR_OUTPUT.finditer(html):
        if match.start() < position:
            continue  # inside an output already removed
        depth, cursor = 0, match.start()
        for tag in re.finditer(r"<(/?)div\b", html[match.start() :]):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                cursor = (
                    match.start()
                    + tag.end()
                    + html[match.start() + tag.end() :].index(">")
                    + 1
                )
                break
        if "application/vnd.jupyter.stderr" in html[match.start() : cursor]:
            pieces.append(html[position : match.start()])
            position = cursor
    return "".join(pieces) + html[position:]


COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
KEPT_AT_RULES = (
    "@font-face",
    "@keyframes",
    "@-webkit-keyframes",
    "@page",
    "@property",
    "@import",
    "@charset",
)


def _block_end(css: str, opening: int) -> int:
    """Index just after the brace that closes the one at ``opening``."""
    depth = 0
    for index in range(opening, len(css)):
        depth += {"{": 1, "}": -1}.get(css[index], 0)
        if depth == 0:
            return index + 1
    return len(css)


def used_css(css: str, html: str) -> str:
    """The rules of ``css`` that can match something in ``html``.

    A selector can match only if every class it names occurs in the page; rules
    without classes (elements, :root variables), @font-face and @keyframes are kept,
    and @media/@supports blocks are filtered inside. JupyterLab's stylesheet is
    about 575 KB; a notebook page uses a small part of it."""
    present = {
        name
        for value in re.findall(r'class="([^"]*)"', html)
        for name in value.split()
    }
    css, kept, position = COMMENT.sub("", css), [], 0
    while (opening := css.find("{", position)) != -1:
        prelude, end = css[position:opening].strip(), _block_end(css, opening)
        if prelude.startswith(("@media", "@supports", "@layer", "@container")):
            inner = used_css(css[opening + 1 : end - 1], html)
            if inner.strip():
                kept.append(f"{prelude}{{{inner}}}")
        elif prelude.startswith("@"):
            if prelude.startswith(KEPT_AT_RULES):
                kept.append(css[position:end].strip())
        elif any(
            set(re.findall(r"\.(-?[_a-zA-Z][\w-]*)", selector)) <= present
            for selector in prelude.split(",")
        ):
            kept.append(css[position:end].strip())
        position = end
    return "\n".join(kept)


def lighten(output: str, page_url: str, warn) -> tuple[str, str, str]:
    """A notebook page (at ``page_url``) without stderr outputs or unused
    loaders, its inlined CSS replaced by a link to the rules it uses: the
    page, the stylesheet's site uri and its CSS. ``warn`` gets a line for
    each loader not found exactly once."""
    output = without_stderr(output)
    for name, pattern in UNUSED_SCRIPTS.items():
        output, found = pattern.subn("", output)
        if found != 1:
            warn(f"expected one {name} from mkdocs-jupyter, found {found}")
    css = used_css(
        "\n".join(match.group(1).strip() for match in STYLE.finditer(output)),
        output,
    )
    digest = hashlib.sha256(css.encode()).hexdigest()[:10]
    uri = f"assets/stylesheets/notebook-{digest}.css"
    first = STYLE.search(output)
    if first is None:
        raise ValueError("mkdocs-jupyter's page has no <style> to replace")
    output = (
        output[: first.start()]
        + f'<link rel="stylesheet" href="{get_relative_url(uri, page_url)}">\n'
        + STYLE.sub("", output[first.start() :])
    )
    return output, uri, css
