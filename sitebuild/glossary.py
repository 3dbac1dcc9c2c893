"""The glossary page, made at build time from docs/includes/glossary.md.

docs/includes/glossary.md holds one ``*[term]: definition`` line per term; pymdownx.snippets
appends it to every page, where the abbr extension marks each use of a term and
docs/javascripts/glossary.js turns the marks into popovers that a click, a tap or the
keyboard opens. This module lists every term, alphabetically, on a page of its own
(``glossary.md``, generated in memory, never committed), so the definitions can also be
read in one place. The file is read first (in ``on_config``): a line that is not
``*[term]: definition`` (which the abbr extension would show as text on every page,
its definition lost) stops the build in one line naming it.
"""

from __future__ import annotations

import html
import re

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

from sitebuild import ROOT

SOURCE = ROOT / "docs" / "includes" / "glossary.md"
PAGE = "glossary.md"
ENTRY = re.compile(r"^\*\[(?P<term>[^\]]+)\]:[ \t]*(?P<definition>.+?)\s*$")


class GlossaryError(ValueError):
    """A line of the glossary that cannot be read, named with its line number."""


def entries(
    text: str, where: str = "docs/includes/glossary.md"
) -> dict[str, str]:
    """``term -> definition``, in the file's order; blank lines are skipped."""
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = ENTRY.match(line)
        if not match:
            raise GlossaryError(
                f"{where}:{number}: expected '*[term]: definition', got {line!r}"
            )
        if match["term"] in found:
            raise GlossaryError(
                f"{where}:{number}: the term {match['term']!r} is defined twice"
            )
        found[match["term"]] = match["definition"]
    return found


def anchor(term: str) -> str:
    """The id of a term on the glossary page: 'k-NN' -> 'term-k-nn', 'ℓ2-normalisation' -> 'term-ℓ2-normalisation'."""
    return "term-" + re.sub(r"[^\w]+", "-", term.lower()).strip("-")


def page_markdown(terms: dict[str, str]) -> str:
    """The glossary page. The list is raw HTML, so the abbr extension leaves its own terms
    unmarked (a term's popover on its own definition would say nothing new)."""
    rows = []
    for term in sorted(terms, key=lambda t: (t.casefold(), t)):
        rows.append(
            f'<dt id="{html.escape(anchor(term))}">{html.escape(term)}</dt>\n'
            f"<dd>{html.escape(terms[term], quote=False)}</dd>"
        )
    return (
        "# Glossary\n\n"
        f"Every term the pages explain on hover, tap or focus, {len(terms)} in all. Terms marked "
        "with a dotted underline in a lesson open their definition when clicked, tapped or "
        "focused with the Tab key (Escape closes it).\n\n"
        '<dl class="vl-glossary">\n' + "\n".join(rows) + "\n</dl>\n"
    )


_terms: dict[str, str] = {}


def on_config(config):
    """Read the glossary first: a line it cannot read stops the build before
    anything is rendered, in one line naming the file and line."""
    try:
        terms = entries(SOURCE.read_text(encoding="utf-8"))
    except GlossaryError as error:
        raise PluginError(str(error)) from None
    _terms.clear()
    _terms.update(terms)
    return config


@event_priority(110)  # the page exists for the checks of mkdocs.yml's nav
def on_files(files, config):
    files.append(File.generated(config, PAGE, content=page_markdown(_terms)))
    return files
