"""The built site in a real browser: Debian's Chromium driven by Playwright, served on 127.0.0.1.

Needs /usr/bin/chromium (``apt-get install chromium``; ``.ci/run`` installs it) and never
downloads a browser. axe-core comes from the npm registry (``npm pack``), cached in .cache/.
With VITLESSON_SCREENSHOTS=first (or full), screenshots of every page, in
light and dark mode, go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support import ROOT
from tests.support.axe import axe, axe_script
from tests.support.browser import require_chromium
from tests.support.page_layout import MEASURE

# Screenshots for a reader of the test run, on request (nothing asserts on
# them; 26 first screens cost about 1 s of CPU, the full pages 6 s more):
# VITLESSON_SCREENSHOTS=first, every page's first screen in both schemes;
# VITLESSON_SCREENSHOTS=full, the whole page in light mode as well.
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SCREENSHOT_MODE = os.environ.get("VITLESSON_SCREENSHOTS", "")


require_chromium()


LESSON = [  # parts 1-6 of lesson 1.2 (the exercise is part 4)
    "lessons/patches/",
    "lessons/attention/",
    "lessons/positions-and-cls/",
    "notebooks/flexible-patch-embedding/",
    "lessons/vit-encoder/",
    "lessons/dino-connection/",
]


LAB = [
    "lessons/learned-positions/",
    "lessons/dino-in-miniature/",
    "lessons/what-dino-learned/",
]


# The exercise at the end of parts 1, 2, 3, 5 and 6: pages outside the nav,
# offered by the box at the end of their part.
EXERCISES = [
    "notebooks/patch-grid/",
    "notebooks/attention-by-hand/",
    "notebooks/cls-and-positions/",
    "notebooks/encoder-block/",
    "notebooks/dino-loss/",
]


PAGES = [
    "",
    *LESSON,
    *EXERCISES,
    *LAB,
    "appendix/going-further/",
    "appendix/under-the-hood/",
    "performance/",
    "glossary/",
]


class Visit:
    """Page loads in one browser tab, each with every request, failure and
    console error recorded (:meth:`go` starts a new record)."""

    def __init__(
        self,
        browser,
        base_url: str,
        path: str,
        color_scheme: str = "light",
    ):
        self.base_url = base_url
        self.context = browser.new_context(
            color_scheme=color_scheme, viewport={"width": 1280, "height": 900}
        )
        local = urlparse(base_url).netloc

        def route(route):
            self.requests.append(route.request.url)
            if urlparse(
                route.request.url
            ).netloc == local or route.request.url.startswith("data:"):
                route.continue_()
            else:
                self.external.append(route.request.url)
                route.abort()

        self.context.route("**/*", route)  # the search worker's too
        self.page = self.context.new_page()
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(m.text) if m.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "requestfailed",
            lambda r: self.failed.append(f"{r.url} ({r.failure})"),
        )
        self.page.on(
            "response",
            lambda r: (
                self.failed.append(f"{r.url} ({r.status})")
                if r.status >= 400
                else None
            ),
        )
        self.go(path)

    def go(self, path: str) -> None:
        """Open ``path`` and wait for its load event (images, styles and
        scripts in). Compared over every page: what the fixture records
        was the same as after "networkidle", which waits 0.5 s more each;
        requests made later, while axe-core runs, are recorded too."""
        self.requests, self.external, self.failed, self.errors = [], [], [], []
        self.page.goto(self.base_url + path, wait_until="load")

    def close(self):
        self.context.close()


def contrast(page, text_selector: str) -> float:
    """WCAG contrast ratio between the text colour of an element and the page background."""
    return page.evaluate(
        """(selector) => {
            const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
            const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                                         return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
            const el = document.querySelector(selector);
            let bg = el, colour = 'rgba(0, 0, 0, 0)';
            while (bg && (colour === 'rgba(0, 0, 0, 0)' || colour === 'transparent')) {
                colour = getComputedStyle(bg).backgroundColor; bg = bg.parentElement;
            }
            if (colour === 'rgba(0, 0, 0, 0)') colour = getComputedStyle(document.body).backgroundColor;
            const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(colour))];
            return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }""",
        text_selector,
    )


def readable_selectors(path: str) -> list[str]:
    """Text whose contrast is measured: lesson prose, plus the notebook's own cells."""
    notebook = [
        ".jp-RenderedMarkdown p",
        ".jupyter-wrapper .highlight-ipynb pre",
        ".jupyter-wrapper .jp-RenderedText pre",
    ]
    return ["article p"] + (notebook if path.startswith("notebooks/") else [])


# The palette toggle changes colours only, so the dark pass runs axe-core's colour rules.
DARK_MODE_RULES = ["color-contrast", "link-in-text-block"]


# Colour transitions (Material's palette switch) have ended.
TRANSITIONS_ENDED = """() => document.getAnimations().every(
    (animation) => animation.playState !== 'running')"""


@pytest.fixture(scope="module")
def visits(browser, base_url, axe_script) -> dict[str, dict]:
    """Every page in light mode, then switched to dark mode with the palette
    toggle: what it requested, logged and showed, its text contrast in both
    schemes, and what axe-core found (in dark mode, its colour rules).

    The pages open one after another in one tab, as a reader browses: a tab
    per page costs Chromium twice the CPU (measured: 18 s against 8 s for
    the 13 pages), which the other test worker needs. Screenshots (JPEG)
    as :data:`SCREENSHOT_MODE` asks.
    """
    visit = Visit(browser, base_url, PAGES[0])
    page, results = visit.page, {}
    for path in PAGES:
        if path != PAGES[0]:
            visit.go(path)
        result = results[path] = {
            "katex": page.locator(".katex").count(),
            "text": page.inner_text("article"),
            "images": page.evaluate(
                "Array.from(document.images).map(i => ({src: i.src.slice(0, 80), w: i.naturalWidth, alt: i.alt}))"
            ),
            "layout": page.evaluate(MEASURE),
            # "part N of M · K min read" under the title of a lesson page
            "meta": page.evaluate(
                "document.querySelector('.vl-page-meta')?.innerText ?? null"
            ),
            "bytes": page.evaluate("""() => performance.getEntriesByType("navigation")
                .concat(performance.getEntriesByType("resource"))
                .reduce((sum, entry) => sum + (entry.transferSize || entry.encodedBodySize || 0), 0)"""),
            "schemes": {},
            "contrast": {},
            "axe": {},
        }
        page.add_script_tag(path=str(axe_script))
        for scheme in ("light", "dark"):
            if scheme == "dark":
                page.locator(
                    "form[data-md-component='palette'] label:visible"
                ).first.click()
                page.wait_for_function(
                    "document.body.getAttribute('data-md-color-scheme') === 'slate'"
                )
                page.wait_for_function(TRANSITIONS_ENDED)
            result["schemes"][scheme] = page.evaluate(
                "document.body.getAttribute('data-md-color-scheme')"
            )
            result["contrast"][scheme] = {
                selector: contrast(page, selector)
                for selector in readable_selectors(path)
            }
            result["axe"][scheme] = axe(
                page, DARK_MODE_RULES if scheme == "dark" else None
            )
            if SCREENSHOT_MODE in ("first", "full"):
                name = path.strip("/").replace("/", "-") or "home"
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(
                    path=str(SCREENSHOTS / f"{name}-{scheme}.jpg"),
                    type="jpeg",
                    quality=80,
                    full_page=SCREENSHOT_MODE == "full" and scheme == "light",
                )
        result |= {
            "requests": len(visit.requests),
            "external": visit.external,
            "failed": visit.failed,
            "errors": visit.errors,
        }
        page.evaluate("localStorage.clear()")  # the next page opens light
    visit.close()
    return results


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly(visits, path):
    """Light mode: requests, console, images, maths, and axe-core."""
    visit = visits[path]
    assert visit["external"] == [], "requests to other hosts"
    assert visit["failed"] == [] and visit["errors"] == []
    assert all(image["w"] > 0 for image in visit["images"]), visit["images"]
    assert all(image["alt"].strip() for image in visit["images"]), visit[
        "images"
    ]
    assert (
        "\\(" not in visit["text"]
        and "$$" not in visit["text"]
        and "\\[" not in visit["text"]
    )  # maths rendered
    if path not in ("", "glossary/"):  # every lesson page has maths
        assert visit["katex"] > 0
    assert visit["axe"]["light"] == [], "axe-core (light mode)"


MAX_PAGE_HEIGHT = 9000  # CSS px at 1280x900: about ten screens


LESSON_CAP = 36_000  # CSS px at 1280x900: about two hours of reading


def test_the_lesson_fits_its_cap(visits):
    """Lesson 1.2 is about two hours: parts 1-6 together at most LESSON_CAP
    (issue 20 §3). Prints every lesson and lab page's height and reading
    time for the notes."""
    for path in LESSON + LAB:
        height, meta = visits[path]["layout"]["height"], visits[path]["meta"]
        print(f"{path:40} {height:6,d} px  {meta}")
        assert meta is not None and meta.endswith(" min read"), meta
    total = sum(visits[path]["layout"]["height"] for path in LESSON)
    print(f"lesson 1.2, parts 1-6: {total:,d} px (cap {LESSON_CAP:,d})")
    assert total <= LESSON_CAP


MAX_LINE = 79  # characters of code that fit the 688-px column


MIN_TEXT_PX = 10  # smallest figure text, in CSS px, at the displayed width


def figure_text_px(site, layout) -> dict[str, float]:
    """The smallest text of every build-drawn figure on a page, in CSS px:
    font size (pt) / 72 x displayed width (px) / figure width (inches)."""
    meta = json.loads(
        (site / "figures" / "figures.json").read_text(encoding="utf-8")
    )
    sizes = {}
    for figure in layout["figures"]:
        key = "figures/" + figure["src"].split("/figures/")[-1]
        if key in meta:
            sizes[key] = (
                meta[key]["smallest_text_pt"]
                / 72
                * figure["width"]
                / meta[key]["width_in"]
            )
    return sizes


@pytest.mark.parametrize("path", PAGES)
def test_a_learner_can_read_the_page(visits, site, path):
    """At 1280x900: no code block or table wider than its column, no page taller than
    MAX_PAGE_HEIGHT, every printing block followed by its output, no raw :shortcode:,
    every figure opens larger and its smallest text is at least MIN_TEXT_PX."""
    layout = visits[path]["layout"]
    code, prints = layout["code"], [c for c in layout["code"] if c["prints"]]
    text_px = figure_text_px(site, layout)
    print(
        f"{path or '/'}: height {layout['height']} px, {len(code)} code blocks, longest line "
        f"{max([c['longest'] for c in code] or [0])}, prints shown {sum(c['output'] for c in prints)} of "
        f"{len(prints)}; smallest figure text: "
        + ", ".join(f"{k} {v:.1f} px" for k, v in text_px.items())
    )
    assert layout["column"] >= 680
    assert layout["height"] <= MAX_PAGE_HEIGHT
    assert [c for c in code if c["overflow"]] == [] and max(
        [c["longest"] for c in code] or [0]
    ) <= MAX_LINE
    assert layout["outputs_overflow"] == 0
    assert [t for t in layout["tables"] if t["overflow"]] == []
    assert all(c["output"] for c in prints), (
        "a block that prints shows no output"
    )
    assert layout["shortcodes"] == []
    drawn = [f for f in layout["figures"] if "/figures/" in f["src"]]
    assert all(f["zoom"] for f in drawn), "every figure opens larger on click"
    assert len(text_px) == len(drawn) and all(
        px >= MIN_TEXT_PX for px in text_px.values()
    ), text_px


def test_every_built_page_is_checked(site):
    built = {
        p.parent.relative_to(site).as_posix() + "/"
        for p in site.rglob("index.html")
    }
    assert {("" if p == "./" else p) for p in built} == set(PAGES)


def test_report(visits):
    """Printed for the closing note: pages checked, requests recorded, external requests (must be none)."""
    report = {
        path or "/": {
            k: v
            for k, v in visit.items()
            if k in ("requests", "external", "katex", "bytes")
        }
        | {"images": len(visit["images"])}
        for path, visit in visits.items()
    }
    print(json.dumps(report, indent=1))
    print(
        f"{len(report)} pages, {sum(r['requests'] for r in report.values())} requests recorded, "
        f"{sum(len(r['external']) for r in report.values())} to other hosts"
    )
    assert sum(len(r["external"]) for r in report.values()) == 0
    for path, row in report.items():
        print(
            f"{path}: {row['bytes'] / 1024:.0f} KiB transferred on a first visit"
        )
        assert row["bytes"] <= 2 * 1024 * 1024, (
            path
        )  # no page costs a first-time reader 2 MiB


def test_search_finds_a_lesson_term(browser, base_url):
    visit = Visit(browser, base_url, "")
    page = visit.page
    page.click("input.md-search__input")
    page.keyboard.type("patchify", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=15000)
    # part 1 among the results (its exercise, which uses the word, too)
    page.locator(
        '.md-search-result__item a[href*="lessons/patches/"]'
    ).first.click()
    page.wait_for_load_state("networkidle")
    assert "/lessons/patches/" in page.url
    assert visit.external == [] and visit.errors == []
    visit.close()


@pytest.mark.parametrize("path", PAGES)
def test_dark_mode_toggle_keeps_pages_readable(visits, path):
    visit = visits[path]
    print(visit["contrast"])
    assert visit["schemes"] == {"light": "default", "dark": "slate"}
    for scheme, ratios in visit["contrast"].items():
        for selector, ratio in ratios.items():
            assert ratio >= 4.5, (
                f"{path} {scheme}: {selector} contrast {ratio:.2f}"
            )


@pytest.mark.parametrize("path", PAGES)
def test_accessibility_in_dark_mode(visits, path):
    assert visits[path]["axe"]["dark"] == [], "axe-core (dark mode)"


def test_dark_system_preference_opens_the_dark_scheme(browser, base_url):
    visit = Visit(browser, base_url, "", color_scheme="dark")
    scheme = visit.page.evaluate(
        "document.body.getAttribute('data-md-color-scheme')"
    )
    visit.close()
    assert scheme == "slate"


@pytest.fixture(scope="module", name="axe_script")
def axe_script_fixture() -> Path:
    return axe_script()


def test_the_offline_copy_works_opened_from_disk(browser, offline_site):
    """Double-clicking site-offline/index.html: navigation opens pages, not folder listings,
    and search finds a lesson term without a server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:"))
            else (elsewhere.append(route.request.url), route.abort())
        ),
    )
    page = context.new_page()
    page.goto((offline_site / "index.html").as_uri())
    page.locator("article a", has_text="Images as patch tokens").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/lessons/patches.html")
    assert page.inner_text("h1").startswith(
        "1 · Images as sequences of patch tokens"
    )
    page.click("input.md-search__input")
    page.keyboard.type("patchify", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=15000)
    assert page.locator(".md-search-result__item").count() > 0
    assert (
        elsewhere == []
    )  # nothing from another host, not even the search worker's shim
    context.close()


def test_download_buttons_save_the_notebook_from_disk(browser, offline_site):
    """From the copy opened from disk, "Download notebook" (and the
    exercise's "Solutions") saves the file under its name, byte for byte,
    and the page stays: Chromium ignores the download attribute of a link
    to another file:// address, so notebook.js saves it from the script
    the offline build writes beside each notebook."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    saved = {}
    for source, button in [
        ("lessons/patches.html", "a.vl-download"),
        ("notebooks/flexible-patch-embedding.html", "a.vl-download"),
        ("notebooks/flexible-patch-embedding.html", "a.vl-solutions"),
    ]:
        url = (offline_site / source).as_uri()
        page.goto(url)
        with page.expect_download(timeout=15000) as info:
            page.click(button)
        download = info.value
        name = download.suggested_filename
        saved[name] = Path(download.path()).read_bytes()
        assert page.url == url  # not navigated to the JSON
        assert saved[name] == (offline_site / "downloads" / name).read_bytes()
    assert sorted(saved) == [
        "flexible-patch-embedding-solutions.ipynb",
        "flexible-patch-embedding.ipynb",
        "patches.ipynb",
    ]
    assert json.loads(saved["patches.ipynb"])["cells"][0]["id"] == (
        "code-install"
    )
    assert errors == []
    context.close()
