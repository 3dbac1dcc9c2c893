"""Every link between pages checked before rendering, its line named.

MkDocs checks a page's links while it renders the page, and its anchors only
after every page is rendered (minutes of figures, page outputs and notebooks
on a cold cache), and its warning names the page but not the line:
"Doc file 'lessons/patches.md' contains a link 'atention.md', but the target
'lessons/atention.md' is not found among documentation files." Here, in
``on_files``, each Markdown page is converted with the site's own Markdown
settings (no hook runs, and fenced code is left out: 0.08-0.12 s for 12
pages) and every link it makes to another page (``*.md``, or an anchor alone)
is checked against the site's pages and the anchors those pages have (every
``id`` of the converted page: headings, attribute lists, raw HTML), as MkDocs
checks them. The first broken one stops the build in one line naming the
page's line and the nearest page or anchor that exists. An anchor that a
hook would add while the page renders is not known here: link to headings.

Links that only the render can judge (to figures and other generated files,
to a notebook's headings, links that hooks add) are left to MkDocs; each of
its link warnings gets the line of the page that holds the link
(:class:`LinkLines`).
"""

from __future__ import annotations

import difflib
import logging
import posixpath
import re
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import markdown
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

# Every id and <a name> of a converted page, raw HTML included.
ANCHOR = re.compile(r"""<[^>]*?\s(?:id|name)=["']([^"']+)["']""")
# MkDocs' own warning about a link, which names the page and the link.
LINK_WARNING = re.compile(
    r"^Doc file '(?P<page>[^']+)' contains an? (?:\w+ )*?link "
    r"(?:to )?'(?P<url>[^']+)'"
)


class LinkError(ValueError):
    """A link to a page or anchor that the site does not have."""


class _Links(markdown.treeprocessors.Treeprocessor):
    """The links (``<a href>``) of a converted page, in order, as MkDocs'
    own link check sees them (before it rewrites them)."""

    def run(self, root: ElementTree.Element) -> None:
        self.found = [
            element.get("href", "")
            for element in root.iter("a")
            if element.get("href")
        ]


def _no_code(source, language, class_name, options, md, **kwargs) -> str:
    """A fenced block, shown as nothing: links and anchors are not code."""
    return ""


def _any_options(language, inputs, options, attrs, md) -> bool:
    """Every fence's options (``title="..."``) are taken as they come."""
    return True


def converter(config) -> tuple[markdown.Markdown, _Links]:
    """A Markdown converter with the site's extensions and settings, and
    the treeprocessor that collects the links of what it converts."""
    settings = dict(config["mdx_configs"])
    # Every fenced block is left empty (no link or anchor is made in code):
    # a fifth of the time that colouring the code takes. The glossary
    # appended to each page has no link.
    fences = settings.get("pymdownx.superfences", {})
    settings["pymdownx.superfences"] = {
        **fences,
        "custom_fences": [
            {
                "name": "*",
                "class": "",
                "format": _no_code,
                "validator": _any_options,
            },
            *fences.get("custom_fences", []),
        ],
    }
    settings["pymdownx.snippets"] = {
        **settings.get("pymdownx.snippets", {}),
        "auto_append": [],
    }
    md = markdown.Markdown(
        extensions=config["markdown_extensions"],
        extension_configs=settings,
    )
    links = _Links(md)
    links.found = []
    md.treeprocessors.register(links, "sitebuild_links", 0)  # as MkDocs'
    return md, links


def source_line(text: str, url: str) -> int | None:
    """The line of ``text`` that writes the link ``url``: a Markdown link
    or reference definition first, any mention of it otherwise."""
    lines = text.splitlines()
    for pattern in (rf"\]\(\s*<?{re.escape(url)}[\s>)]", re.escape(url)):
        for number, line in enumerate(lines, start=1):
            if re.search(pattern, line + " "):
                return number
    return None


def nearest(wrong: str, names, what: str) -> str:
    """ "; did you mean ...?" with the closest of ``names`` (after the
    prefix ``what``), or nothing."""
    close = difflib.get_close_matches(wrong, sorted(names), n=1, cutoff=0.6)
    return f"; did you mean {what + close[0]!r}?" if close else ""


def broken_link(uri: str, url: str, pages: dict[str, set[str]]) -> str | None:
    """What is wrong with the link ``url`` of the page ``uri``, if the link
    names a page (``*.md``) or an anchor that ``pages`` (uri -> its
    anchors) does not have."""
    scheme, netloc, path, _, anchor = urlsplit(url)
    if scheme or netloc or url.startswith(("/", "\\")):
        return None  # external or absolute: MkDocs' own settings judge them
    path = unquote(path)
    if path and not path.endswith(".md"):
        return None  # a figure, a notebook, a download: judged by the render
    target = (
        posixpath.normpath(posixpath.join(posixpath.dirname(uri), path))
        if path
        else uri
    )
    if target not in pages:
        here = posixpath.dirname(uri) or "."
        written = {posixpath.relpath(page, here): page for page in pages}
        return (
            f"the link {url!r} names docs/{target}, which is not a page of "
            f"the site{nearest(path, written, '')}"
        )
    anchors = pages[target]
    if not anchor or unquote(anchor) in anchors:
        return None
    return (
        f"the link {url!r} names the anchor #{anchor}, which docs/{target} "
        f"does not have{nearest(anchor, anchors, '#')}"
    )


def check_links(texts: dict[str, str], generated, config) -> None:
    """Check the links of every page of ``texts`` (uri -> Markdown source)
    against those pages and the ``generated`` pages (uri -> Markdown, no
    line of their own to name): raises :class:`LinkError` at the first
    broken one, naming the page's line."""
    md, links = converter(config)
    pages: dict[str, set[str]] = {}
    found: dict[str, list[str]] = {}
    for uri, text in {**texts, **generated}.items():
        md.reset()
        pages[uri] = set(ANCHOR.findall(md.convert(text)))
        found[uri] = links.found
    for uri, text in texts.items():
        for url in found[uri]:
            problem = broken_link(uri, url, pages)
            if problem is not None:
                line = source_line(text, url)
                where = f"docs/{uri}" + ("" if line is None else f":{line}")
                raise LinkError(f"{where}: {problem}")


class LinkLines(logging.Filter):
    """Puts the page's line in front of MkDocs' warnings about a link:
    "docs/lessons/patches.md:74: Doc file 'lessons/patches.md' contains a
    link ...". The page's source is read from ``docs_dir``."""

    def __init__(self) -> None:
        super().__init__()
        self.docs_dir = ""

    def filter(self, record: logging.LogRecord) -> bool:
        warning = LINK_WARNING.match(str(record.msg))
        if warning and self.docs_dir and not record.args:
            page = f"{self.docs_dir}/{warning['page']}"
            try:
                with open(page, encoding="utf-8") as file:
                    line = source_line(file.read(), warning["url"])
            except OSError:  # a generated page: no source line to name
                return True
            if line is not None:
                shown = f"docs/{warning['page']}:{line}"
                record.msg = f"{shown}: {record.msg}"
        return True


LINK_LINES = LinkLines()


def on_config(config):
    LINK_LINES.docs_dir = config["docs_dir"]
    logging.getLogger("mkdocs.structure.pages").addFilter(LINK_LINES)
    return config


@event_priority(90)  # after the glossary page is made, before any rendering
def on_files(files, config):
    texts, generated = {}, {}
    for file in files.documentation_pages():
        if file.src_uri.endswith(".md"):
            into = generated if file.abs_src_path is None else texts
            into[file.src_uri] = file.content_string
    try:
        check_links(texts, generated, config)
    except LinkError as error:
        raise PluginError(str(error)) from None
    return files
