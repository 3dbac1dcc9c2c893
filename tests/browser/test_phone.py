"""Every page on a 390x844 phone (issue 34 §4), in one browser tab that
visits each page once: nothing hides text sideways, and figure text is
large enough to read without panning.

Measured on each page, with every fold opened and every tab shown in turn:
code and output blocks (scrollWidth <= clientWidth: long lines wrap, each
wrapped part marked with a ↪, javascripts/narrow.js), display maths, tab
rows and tables (they fit, or scroll inside themselves with a visible cue at
the edge), the page's own width, and the smallest text of every figure the
build draws, on the page and opened in the lightbox: its declared smallest
font size (figures/figures.json, written by the build) x the width it is
shown at / the width it was drawn at.
"""

from __future__ import annotations

import json

import pytest

from tests.support.browser import require_chromium

require_chromium()

PHONE = {"width": 390, "height": 844}
MIN_FIGURE_TEXT_PX = 9  # CSS px on the phone, without panning

# A fold's toggle event is a task of its own: after it, narrow.js looks
# again one frame later.
FRAMES = """new Promise((done) => setTimeout(() => requestAnimationFrame(
    () => requestAnimationFrame(done)), 50))"""

MEASURE = (
    """async () => {
  const frames = () => """
    + FRAMES
    + """;
  const article = document.querySelector("article");
  const seen = new Set(), code = [];
  const hidden = (el) => Math.max(0, el.scrollWidth - el.clientWidth);
  const blocks = () => {
    for (const pre of article.querySelectorAll("pre")) {
      if (seen.has(pre) || pre.clientWidth === 0) continue;
      seen.add(pre);
      const inner = pre.querySelector(":scope > code") || pre;
      const wrapped = Array.from(inner.querySelectorAll(":scope > .vl-line"))
        .map((line) => {
          const rows = Math.round(line.getBoundingClientRect().height
            / parseFloat(getComputedStyle(line).lineHeight));
          const marks = (getComputedStyle(line, "::after").content.match(/↪/g) || []).length;
          return {rows, marks};
        }).filter((line) => line.rows > 1);
      code.push({
        hidden: Math.max(hidden(inner), hidden(pre)),
        wrapped,
        copies: inner.tagName === "CODE" && inner.classList.contains("vl-wrap")
          ? inner.getAttribute("data-copy") === inner.textContent : null,
      });
    }
  };
  article.querySelectorAll("details").forEach((d) => { d.open = true; });
  await frames();
  blocks();
  for (const input of article.querySelectorAll(".tabbed-set > input")) {
    input.click();
    await frames();
    blocks();
  }
  const cue = (el) => el.classList.contains("vl-scrolls")
    && getComputedStyle(el).backgroundAttachment.includes("local");
  const screen = document.documentElement.clientWidth;
  const boxes = (selector, holder) => Array.from(article.querySelectorAll(selector))
    .filter((el) => el.getClientRects().length).map((el) => {
      const box = holder(el);
      return {
        what: selector, width: el.scrollWidth, shown: box.clientWidth,
        fits: box.scrollWidth <= box.clientWidth + 1,
        inside: box.getBoundingClientRect().right <= screen + 1, cue: cue(box),
      };
    });
  const maths = boxes(".katex-display", (el) => el).map((m, i) => ({
    ...m, scale: parseFloat(article.querySelectorAll(".katex-display")[i]
      .querySelector(".katex").style.fontSize || "100") / 100}));
  const tables = boxes("table", (t) =>
    t.closest(".md-typeset__scrollwrap, .vl-explorer__values") || t);
  const tabs = Array.from(article.querySelectorAll(".tabbed-labels")).map((row) => {
    row.scrollLeft = 0;
    const next = row.parentElement.querySelector(":scope > .tabbed-control--next");
    return {
      width: row.scrollWidth, shown: row.clientWidth,
      fits: row.scrollWidth <= row.clientWidth + 1,
      inside: row.getBoundingClientRect().right <= screen + 1,
      arrow: Boolean(next) && !next.hidden && getComputedStyle(next).opacity === "1"
        && getComputedStyle(next).display !== "none",
    };
  });
  const figures = Array.from(article.querySelectorAll("img"))
    .filter((img) => img.src.includes("/figures/"))
    .map((img) => ({
      src: img.getAttribute("src"), current: new URL(img.currentSrc).pathname,
      width: img.getBoundingClientRect().width,
    }));
  return {
    body: document.documentElement.scrollWidth, screen, code, maths, tables, tabs, figures,
  };
}"""
)


# The lightbox's zoom in and out take a moment per figure; what is measured
# is where they end, so they end at once here.
INSTANT_LIGHTBOX = (
    ".glightbox-container, .glightbox-container * "
    "{ animation-duration: 1ms !important;"
    " transition-duration: 1ms !important; }"
)
# The opened figure is loaded and glightbox has answered its load (it
# hides its spinner, then starts the zoom-in), no animation or transition
# is left to run, the figure is shown at its layout width (no zoom-in
# scaling it) and keeps that width from one frame to the next. (A drawing
# the page already shows is complete before glightbox's load callback
# runs, and under load a frame can come before the zoom-in starts: neither
# "complete" nor the class names alone tell.)
SETTLED = """() => new Promise((done) => {
    const image = document.querySelector('.gslide.current .gslide-media img');
    const spinner = document.querySelector('.glightbox-container .gloader');
    if (!image || !image.complete || !image.naturalWidth
        || !spinner || spinner.style.display !== 'none') return done(false);
    const width = image.getBoundingClientRect().width;
    if (Math.abs(width - image.offsetWidth) > 0.5) return done(false);
    const moving = () => document.getAnimations().some((animation) => {
        const target = animation.effect && animation.effect.target;
        return (animation.pending || animation.playState === 'running')
            && target && typeof target.closest === 'function'
            && target.closest('.glightbox-container') !== null;
    });
    requestAnimationFrame(() => requestAnimationFrame(() => done(
        !moving()
        && !document.querySelector('.glightbox-container .gzoomIn')
        && image.getBoundingClientRect().width === width)));
})"""
SHOWN = """() => {
  const image = document.querySelector('.gslide.current .gslide-media img');
  const box = image.getBoundingClientRect();
  const holder = image.closest('.gslide-media');
  return {
    current: new URL(image.currentSrc).pathname, width: box.width,
    inside: box.left >= -1
      && box.right <= document.documentElement.clientWidth + 1,
    pans: holder.scrollWidth > holder.clientWidth + 1,
  };
}"""


def lightbox_figures(page) -> list[dict]:
    """Tap every build-drawn figure of the page open in the lightbox, as a
    reader does, and measure the drawing it shows (the figure's src, the
    file shown, its width on the screen, whether it is all on the screen
    and whether its box scrolls sideways)."""
    page.add_style_tag(content=INSTANT_LIGHTBOX)
    links = page.locator("article a.glightbox:has(img[src*='/figures/'])")
    shown = []
    for index in range(links.count()):
        link = links.nth(index)
        link.scroll_into_view_if_needed()
        link.tap()
        # page.evaluate waits for the promise (wait_for_function would take
        # the promise itself as a true answer).
        for _ in range(300):
            if page.evaluate(SETTLED):
                break
        else:
            raise AssertionError(
                "the lightbox did not settle: "
                + link.locator("img").get_attribute("src")
            )
        shown.append(
            {"src": link.locator("img").get_attribute("src")}
            | page.evaluate(SHOWN)
        )
        page.keyboard.press("Escape")
        page.wait_for_selector(".glightbox-container", state="detached")
    return shown


@pytest.fixture(scope="module")
def phone(browser, base_url, site) -> dict[str, dict]:
    """Every page of the built site measured on the phone, in one tab; its
    figures then opened in the lightbox one by one (under "lightbox")."""
    pages = sorted(
        "" if folder == "." else f"{folder}/"
        for folder in (
            path.parent.relative_to(site).as_posix()
            for path in site.rglob("index.html")
        )
    )
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    measured = {}
    for path in pages:
        # "load" (images, styles and scripts in): every page measured the
        # same as after "networkidle", which waits another 0.5 s each.
        page.goto(base_url + path, wait_until="load")
        measured[path] = page.evaluate(MEASURE)
        measured[path]["lightbox"] = lightbox_figures(page)
    context.close()
    assert errors == []
    assert len(measured) >= 13  # the lesson, the lab, the appendix, ...
    return measured


def figure_px(meta: dict, figure: dict) -> tuple[str, float]:
    """The figure's key and its smallest text on the phone in CSS px:
    font size (pt) / 72 x shown width (px) / drawn width (inches), for the
    drawing the browser chose (the narrow one on a phone, where it has
    one)."""
    key = "figures/" + figure["src"].split("/figures/")[-1]
    drawn = meta[key]
    narrow = drawn.get("narrow")
    if narrow and figure["current"].endswith("/" + narrow["src"]):
        drawn = narrow
    else:
        assert figure["current"].endswith("/" + key), figure
    return key, drawn["smallest_text_pt"] / 72 * figure["width"] / (
        drawn["width_in"]
    )


def test_no_code_block_hides_text_sideways(phone):
    """Every code and output block, folds and tabs included: nothing past
    its right edge; a line that wraps shows a ↪ on each wrapped part, and
    the copy button still copies the block's code."""
    blocks = {path: page["code"] for path, page in phone.items()}
    print(
        "code blocks on the phone:",
        sum(map(len, blocks.values())),
        "measured,",
        sum(len(b["wrapped"]) > 0 for v in blocks.values() for b in v),
        "with wrapped lines",
    )
    assert sum(map(len, blocks.values())) > 100  # folds and tabs measured
    hiding = {
        path: [b["hidden"] for b in page if b["hidden"] > 1]
        for path, page in blocks.items()
    }
    assert all(not v for v in hiding.values()), hiding
    lines = [line for v in blocks.values() for b in v for line in b["wrapped"]]
    assert lines, "no line wrapped: the phone's column was not measured"
    assert all(line["marks"] >= line["rows"] - 1 for line in lines)
    assert all(b["copies"] is not False for v in blocks.values() for b in v), (
        "a wrapped block's copy button no longer gives its code"
    )


def test_maths_tabs_and_tables_fit_or_scroll_with_a_cue(phone):
    """Display maths is set smaller to fit (never under 70 %), else it
    scrolls with a shadow at the edge; a tab row scrolls with Material's
    arrow and fade; a table fits or scrolls inside its box with the
    shadow. None reaches past the screen."""
    report = {}
    for path, page in phone.items():
        for kind in ("maths", "tabs", "tables"):
            for box in page[kind]:
                report.setdefault(kind, []).append((path, box))
                assert box["inside"], (path, kind, box)
                if kind == "tabs":
                    assert box["fits"] or box["arrow"], (path, box)
                else:
                    assert box["fits"] or box["cue"], (path, kind, box)
                if kind == "maths":
                    assert box["scale"] >= 0.7, (path, box)
    for kind, boxes in report.items():
        wide = [
            (p, b["width"], b["shown"])
            for p, b in boxes
            if b["width"] > b["shown"] + 1
        ]
        print(f"{kind}: {len(boxes)} measured; wider than shown: {wide}")
    patches = phone["lessons/patches/"]["maths"]
    assert patches and all(m["fits"] for m in patches)  # N = HW/P^2 fits
    assert phone["lessons/positions-and-cls/"]["tabs"]  # part 3's tab row


def test_no_page_is_wider_than_the_screen(phone):
    assert {
        p: v["body"] for p, v in phone.items() if v["body"] > v["screen"]
    } == {}


def test_figure_text_is_readable_without_panning(phone, site):
    """Every build-drawn figure's smallest text, at the width the phone
    shows it, is at least MIN_FIGURE_TEXT_PX."""
    meta = json.loads(
        (site / "figures" / "figures.json").read_text(encoding="utf-8")
    )
    sizes = {}
    for page in phone.values():
        for figure in page["figures"]:
            key, px = figure_px(meta, figure)
            sizes[key] = round(min(px, sizes.get(key, px)), 1)
    print("smallest figure text on a 390-px phone (CSS px):", sizes)
    assert set(sizes) == set(meta)  # every figure is on a page
    small = {key for key, px in sizes.items() if px < MIN_FIGURE_TEXT_PX}
    assert small == set(), sizes


def test_figure_text_is_readable_in_the_lightbox(phone, site):
    """Tapped on the phone, every build-drawn figure opens in the lightbox
    as the drawing the page shows (the narrow one, not the link's wide
    one), whole on the screen with nothing to pan, its smallest text at
    least MIN_FIGURE_TEXT_PX."""
    meta = json.loads(
        (site / "figures" / "figures.json").read_text(encoding="utf-8")
    )
    sizes = {}
    for path, page in phone.items():
        for shown in page["lightbox"]:
            key, px = figure_px(meta, shown)
            assert shown["current"].endswith("/" + meta[key]["narrow"]["src"])
            assert shown["inside"] and not shown["pans"], (path, shown)
            sizes[key] = round(min(px, sizes.get(key, px)), 1)
    print("smallest figure text in the lightbox on a 390-px phone:", sizes)
    assert set(sizes) == set(meta)  # every figure was opened
    small = {key for key, px in sizes.items() if px < MIN_FIGURE_TEXT_PX}
    assert small == set(), sizes
