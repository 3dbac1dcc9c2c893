"""The built site: strict build, every fence collected, figures present, nothing loaded from other hosts."""

import html
import json
import logging
import re
import subprocess
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

from sitebuild.lesson_code import count_python_fences
from tests.support import ROOT


def test_built_figures_are_small_and_carry_no_metadata(site):
    """Reproducibility itself is tested by building twice (below)."""
    from sitebuild.figures import registered

    for path in registered():
        content = (site / path).read_bytes()
        assert len(content) <= 200 * 1024, (path, len(content))
        assert content[:4] in (b"\x89PNG", b"RIFF"), path
        assert (
            b"Software" not in content and b"matplotlib" not in content.lower()
        )
        print(f"{path}: {len(content) / 1024:.0f} KB")


DOCS = ROOT / "docs"


def test_every_python_fence_is_collected():
    from conftest import (
        DOCS_SYBIL,
    )  # the Sybil that pytest collects the docs with

    pages = sorted(DOCS.rglob("*.md"))
    fences = sum(
        count_python_fences(page.read_text(encoding="utf-8")) for page in pages
    )
    assert all(
        DOCS_SYBIL.should_parse(page) for page in pages
    )  # every page is collected, top level included
    examples = [
        example for page in pages for example in DOCS_SYBIL.parse(page)
    ]
    print(
        f"{fences} python fences in {len(pages)} pages, {len(examples)} Sybil examples"
    )
    assert fences > 0 and len(examples) == fences
    assert all(
        example.parsed[2].segments for example in examples
    )  # no fence is empty


def test_fence_counter_sees_attributes_and_indentation():
    text = '```python title="x.py"\npass\n```\n\n    ```py\n    pass\n    ```\n```text\npython\n```\n'
    assert count_python_fences(text) == 2


class Resources(HTMLParser):
    """Collect what a page makes the browser load (not plain links to read elsewhere)."""

    LOADING = {
        ("script", "src"),
        ("img", "src"),
        ("iframe", "src"),
        ("source", "src"),
        ("video", "src"),
        ("audio", "src"),
        ("embed", "src"),
        ("object", "data"),
        ("img", "srcset"),
        ("source", "srcset"),
    }

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if (
            tag == "link"
            and attrs.get("href")
            and attrs.get("rel") not in ("canonical", "alternate")
        ):
            self.urls.append(attrs["href"])
        for name in ("src", "srcset", "data"):
            if (tag, name) in self.LOADING and attrs.get(name):
                self.urls.extend(
                    part.split()[0] for part in attrs[name].split(",")
                )
        if attrs.get("style"):
            self.urls.extend(
                re.findall(r"url\(['\"]?([^'\")]+)", attrs["style"])
            )


def external(url: str) -> bool:
    return urlparse(url).scheme in ("http", "https") or url.startswith("//")


def test_site_loads_nothing_from_other_hosts(site):
    offenders = []
    for page in site.rglob("*.html"):
        parser = Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        offenders += [
            f"{page.relative_to(site)}: {url}"
            for url in parser.urls
            if external(url)
        ]
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(
            r"@import\s+['\"]([^'\"]+)", text
        )
        offenders += [
            f"{sheet.relative_to(site)}: {url}"
            for url in urls
            if external(url)
        ]
    # Material's bundle names two URLs it loads only on demand: a ResizeObserver polyfill for
    # browsers without ResizeObserver (every current browser has it) and mermaid, for pages with a
    # mermaid diagram (this site has none). Any other CDN address in a script is an offence.
    on_demand = {
        "https://unpkg.com/resize-observer-polyfill",
        "https://unpkg.com/mermaid@11/dist/mermaid.min.js",
    }
    cdn = re.compile(
        r"https?://(?:fonts\.googleapis|fonts\.gstatic|cdn\.jsdelivr|unpkg\.com|cdnjs|polyfill\.io)[^\"'`\s)]*"
    )
    for script in site.rglob("*.js"):
        offenders += [
            f"{script.relative_to(site)}: {url}"
            for url in set(cdn.findall(script.read_text("utf-8"))) - on_demand
        ]
    offenders += [
        f"{page.relative_to(site)}: mermaid"
        for page in site.rglob("*.html")
        if 'class="mermaid"' in page.read_text("utf-8")
    ]
    assert offenders == []


def test_every_image_resolves_and_has_alt_text(site):
    checked = 0
    for page in site.rglob("*.html"):
        parser = Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        for image in parser.images:
            if image["src"].startswith(
                "data:image/"
            ):  # a notebook's output, inline
                assert image.get("alt"), (
                    f"{page.relative_to(site)}: inline image without alt text"
                )
                continue
            target = urlparse(
                urljoin(page.relative_to(site).as_posix(), image["src"])
            ).path
            assert (site / target).is_file(), (
                f"{page.relative_to(site)}: {image['src']}"
            )
            assert len(image.get("alt", "")) > 40, (
                f"{page.relative_to(site)}: {image['src']} needs a real alt text"
            )
            checked += 1
    assert checked >= 3


def test_maths_is_rendered_by_the_self_hosted_katex(site):
    lesson = (site / "lessons" / "patches" / "index.html").read_text(
        encoding="utf-8"
    )
    assert 'class="arithmatex"' in lesson
    assert re.search(r'<script src="[./]*assets/katex/katex\.min\.js"', lesson)
    fonts = list((site / "assets" / "katex" / "fonts").glob("*.woff2"))
    css = (site / "assets" / "katex" / "katex.min.css").read_text(
        encoding="utf-8"
    )
    assert {f.name for f in fonts} == set(
        re.findall(r"url\(fonts/([^)]+\.woff2)\)", css)
    )


def test_package_code_is_included_not_copied(site):
    """The class bodies on the page come from the package source through
    snippets: the page's Markdown holds no class, its HTML the class's
    docstring as the source writes it."""
    page_md = (DOCS / "appendix" / "going-further.md").read_text("utf-8")
    assert "class PatchEmbedding" not in page_md
    assert '"vitlesson/patching.py:patch_embedding"' in page_md
    page = (site / "appendix" / "going-further" / "index.html").read_text(
        encoding="utf-8"
    )
    source = (ROOT / "vitlesson" / "patching.py").read_text(encoding="utf-8")
    docstring_line = (
        source.split("class PatchEmbedding(nn.Module):\n")[1]
        .splitlines()[0]
        .strip('" ')
    )  # Images (B, C, H, W) -> patch tokens (B, N, D).
    assert html.escape(docstring_line, quote=False) in page
    for shown in (
        page,
        (site / "lessons/patches/index.html").read_text("utf-8"),
    ):
        assert "--8&lt;--" not in shown and "[start:" not in shown


def test_figures_are_generated_not_committed(site):
    from sitebuild.figures import FIGURE_META, registered

    figures = sorted(
        p.relative_to(site).as_posix() for p in (site / "figures").iterdir()
    )
    metas = json.loads((site / FIGURE_META).read_text(encoding="utf-8"))
    narrow = [m["narrow"]["src"] for m in metas.values() if "narrow" in m]
    assert narrow  # phones get a narrow drawing of each figure
    assert figures == sorted([*registered(), *narrow, FIGURE_META])
    assert len(registered()) >= 4
    assert not (DOCS / "figures").exists()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert not [
        path
        for path in tracked
        if path.endswith((".png", ".webp", ".svg", ".jpg"))
    ]


def test_figures_drawn_again_are_the_builds_bytes(site):
    """Every figure drawn again here, by the very function the build calls,
    is the build's file byte for byte, with the same measurements in
    figures.json: two builds give identical figures (in CI the build draws
    them too, the figure cache starting empty)."""
    from sitebuild import figure_recipes
    from sitebuild.figures import registered

    meta = json.loads(
        (site / "figures" / "figures.json").read_text(encoding="utf-8")
    )
    assert set(meta) == set(registered())
    for path in registered():
        content, measured = figure_recipes.render(path)
        assert content == (site / path).read_bytes(), path
        assert measured == meta[path], path


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def test_external_links_are_listed_not_fetched(site):
    """Internal links and anchors are checked by `mkdocs build --strict` (validation in mkdocs.yml);
    external links are written to test-artifacts/external-links.txt for a human to review."""
    rows = set()
    for page in sorted(site.rglob("*.html")):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        rows |= {
            (url, page.relative_to(site).as_posix())
            for url in parser.hrefs
            if external(url)
            and urlparse(url).hostname not in ("127.0.0.1", "localhost")
        }
    report = ROOT / "test-artifacts" / "external-links.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(
        "".join(f"{url}\t{page}\n" for url, page in sorted(rows)),
        encoding="utf-8",
    )
    urls = {url for url, _ in rows}
    print(f"{len(urls)} external links listed in {report}")
    assert (
        "https://arxiv.org/abs/2010.11929" in urls
    )  # the ViT paper, from Further reading


def test_link_and_anchor_checks_are_warnings_that_strict_turns_into_errors():
    from mkdocs.config import load_config

    validation = load_config(str(ROOT / "mkdocs.yml"))["validation"]
    assert (
        validation["links"]["anchors"]
        == validation["links"]["not_found"]
        == logging.WARNING
    )  # --strict fails on it


def test_reading_time_is_counted_from_the_page_and_changes_with_it():
    from sitebuild import reading

    prose = "<h1>T</h1><p>" + "word " * 400 + "</p>"
    assert reading.reading_seconds(prose) == pytest.approx(
        401 * 60 / reading.WORDS_PER_MINUTE
    )
    code = (
        '<div class="highlight"><pre><code>a = 1\nb = 2\n</code></pre></div>'
    )
    output = '<div class="result"><pre><code>1\n2\n3\n</code></pre></div>'
    assert reading.reading_seconds(prose + code) - reading.reading_seconds(
        prose
    ) == pytest.approx(2 * reading.SECONDS_PER_CODE_LINE)
    assert reading.reading_seconds(prose + output) - reading.reading_seconds(
        prose
    ) == pytest.approx(3 * reading.SECONDS_PER_OUTPUT_LINE)
    assert (
        reading.reading_seconds(
            "<style>p { x: y }</style><script>var a;</script>"
        )
        == 0
    )
    assert (
        reading.reading_minutes(prose) == 3
        and reading.reading_minutes(prose + "<p>" + "w " * 400 + "</p>") == 5
    )
    with pytest.raises(TypeError, match="content_html"):
        reading.reading_seconds(None)


def test_each_page_states_its_place_and_reading_time(site):

    lesson = {
        "patches": 1,
        "attention": 2,
        "positions-and-cls": 3,
        "vit-encoder": 5,
        "dino-connection": 6,
    }
    lab = {
        "learned-positions": 1,
        "dino-in-miniature": 2,
        "what-dino-learned": 3,
    }
    for name, number in [
        *[(n, (p, 6, "Lesson 1.2")) for n, p in lesson.items()],
        *[(n, (p, 3, "Lab")) for n, p in lab.items()],
    ]:
        page = (site / "lessons" / name / "index.html").read_text(
            encoding="utf-8"
        )
        shown = re.search(r'class="vl-page-meta">([^<]*)<', page).group(1)
        part, total, section = number
        assert shown.startswith(f"{section} · part {part} of {total} · "), (
            name,
            shown,
        )
        assert (
            shown.endswith(" min read")
            and int(shown.split(" · ")[-1].split()[0]) >= 1
        )
    assert not re.search(
        r"part \d of 9",
        "".join(
            p.read_text(encoding="utf-8")
            for p in (DOCS / "lessons").glob("*.md")
        ),
    )
    end = (site / "lessons" / "dino-connection" / "index.html").read_text(
        encoding="utf-8"
    )
    assert end.index("Key takeaways") > end.index("Check your understanding")
    assert end.index("checklist") > end.index("Further reading")
    assert "Lesson 1.3" in (
        site / "lessons" / "what-dino-learned" / "index.html"
    ).read_text(encoding="utf-8")


def test_every_snippet_include_on_a_page_is_intact():
    """A formatter once rewrote `--8<-- "file:section"` as `--8 < --"..."`,
    valid Python that a page would show instead of the package's code."""
    broken = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in sorted(DOCS.rglob("*.md"))
        for number, line in enumerate(page.read_text("utf-8").splitlines(), 1)
        if "--8" in line and not re.match(r'\s*(;)?--8<-- "[^"]+"\s*$', line)
    ]
    assert not broken, broken
