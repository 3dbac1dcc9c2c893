"""The in-page explorers, quizzes and glossary popovers, used as a reader uses them, in Chromium.

Every number an explorer shows is compared with the package's own value: the costs
of vitlesson.costs, the attention of the shipped model (every layer and head, and
its rollout) and the cosine similarities of the position tables. The explorers are
also opened from disk (the offline copy) and on a 390x844 phone screen.
"""

from __future__ import annotations

import itertools
import time

import pytest
import torch

from sitebuild import glossary
from tests.support.browser import files_only
from vitlesson import costs
from vitlesson.data.shapes import make_shapes, normalize_shapes
from vitlesson.lab.train import TEST_SEED, TEST_SIZE, load_trained, tiny_vit
from vitlesson.position import (
    cosine_similarity_maps,
    sincos_2d_position_embedding,
)
from vitlesson.vit import attention_rollout

EXPLORER_FILES = {
    "patches": ["explorers/patches-data.js"],
    "attention": ["explorers/attention-data.js"],
    "positions": ["explorers/positions-data.js"],
}


# The pages with explorers, and the explorers on each.
EXPLORER_PAGES = {
    "lessons/patches/": ["patches"],
    "lessons/learned-positions/": ["positions", "attention"],
}


# The order of the maps in the figure above the position explorer (sitebuild/figure_recipes.py).
FIGURE_ORDER = ["random initialisation", "trained on shapes", "2-D sin-cos"]


@pytest.fixture(scope="module")
def tab(browser, base_url):  # noqa: F811
    """One browser tab at 1280x900 for the tests of this module: a context
    per test would start a renderer process each time (Chromium's CPU is
    what the other test worker needs)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.base = base_url
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


@pytest.fixture
def page(tab):
    """The tab, with no JavaScript error while the test used it; what a
    test stored (quiz answers) is cleared after it."""
    tab.errors.clear()
    yield tab
    tab.evaluate("localStorage.clear()")
    assert tab.errors == []


def open_explorer(page, path: str, name: str):
    start = time.perf_counter()
    page.goto(page.base + path, wait_until="load")
    page.wait_for_selector(
        f"[data-explorer={name}][data-ready=true]", timeout=15000
    )
    ready = page.evaluate("performance.now()")
    print(
        f"{name} explorer: interactive {ready:.0f} ms after navigation started "
        f"({time.perf_counter() - start:.2f} s wall)"
    )
    return page.locator(f"[data-explorer={name}]")


def canvas_pixels(explorer, index: int = 0) -> str:
    return (
        explorer.locator("canvas")
        .nth(index)
        .evaluate("canvas => canvas.toDataURL()")
    )


def test_patch_explorer_numbers_are_the_package_formulas(page):
    explorer = open_explorer(page, "lessons/patches/", "patches")
    drawn = {}
    for patch, size, model in itertools.product(
        [8, 14, 16, 32], [224, 384], ["vit_small", "vit_base"]
    ):
        page.check(f"#patch-{patch}")
        page.check(f"#size-{size}")
        page.check(f"#model-{model}")
        shown = dict(
            explorer.locator("[data-quantity]").evaluate_all(
                "nodes => nodes.map(node => [node.dataset.quantity, node.dataset.value])"
            )
        )
        dim, heads = {"vit_small": (384, 6), "vit_base": (768, 12)}[model]
        if size % patch:
            assert set(shown.values()) == {""}, (patch, size)
            assert "is not divisible by patch size" in explorer.inner_text()
            continue
        n = costs.token_count(size, patch)
        expected = {
            "tokens": n,
            "sequence": n + 1,
            "patch_dim": 3 * patch**2,
            "entries": costs.attention_entries(n + 1),
            "memory": costs.attention_memory_bytes(n + 1, heads),
            "embed_flops": costs.patch_embedding_flops(size, patch, dim),
            "attention_flops": costs.attention_layer_flops(n + 1, dim),
        }
        assert {key: int(value) for key, value in shown.items()} == expected, (
            patch,
            size,
            model,
        )
        drawn[(patch, size)] = canvas_pixels(explorer)
    # the example: 224 px with patch 8/16/32
    page.check("#size-224")
    for patch, tokens, entries in [
        (8, "784", "616,225"),
        (16, "196", "38,809"),
        (32, "49", "2,500"),
    ]:
        page.check(f"#patch-{patch}")
        assert (
            explorer.locator("[data-quantity=tokens]").inner_text() == tokens
        )
        assert (
            explorer.locator("[data-quantity=entries]").inner_text() == entries
        )
    assert (
        len({drawn[(p, 224)] for p in (8, 16, 32)}) == 3
    )  # each patch size draws another grid


@pytest.fixture(scope="module")
def shapes_attention():
    """The explorer's two images: the first test image of each class (square left of the
    circle, then right of it) that the model answers correctly; their attention and rollout."""
    model, _ = load_trained()
    images, labels = make_shapes(TEST_SIZE, seed=TEST_SEED)
    with torch.no_grad():
        answers = model(normalize_shapes(images)).argmax(dim=1)
    chosen = [
        int(((labels == label) & (answers == labels)).nonzero()[0])
        for label in (1, 0)
    ]
    with torch.no_grad():
        maps = model.get_all_selfattention(
            normalize_shapes(images[chosen])
        )  # (2, 4, 4, 65, 65)
    return maps, attention_rollout(maps)


def shown_weights(explorer) -> tuple[float, list[float]]:
    values = explorer.locator(".vl-explorer__values td").evaluate_all(
        "cells => cells.map(cell => Number(cell.dataset.value))"
    )
    return values[0], values[
        1:
    ]  # the CLS weight, then the 64 patches in raster order


def test_attention_explorer_shows_the_model_attention(page, shapes_attention):
    maps, rollout = shapes_attention
    explorer = open_explorer(page, "lessons/learned-positions/", "attention")
    assert (
        "accuracy 0.956" in explorer.inner_text()
        or "test accuracy" in explorer.inner_text()
    )
    labels = [
        page.inner_text(f"label[for=attention-image-{i}]") for i in (0, 1)
    ]
    assert (
        "square left of the circle;" in labels[0]
        and "square right of the circle;" in labels[1]
    ), labels
    assert all(
        label.count("square left") + label.count("square right") == 2
        for label in labels
    )
    page.check("#attention-image-1")
    page.check("#attention-layer-2")
    page.check("#attention-head-2")
    before = canvas_pixels(explorer)
    canvas = explorer.locator("canvas")
    canvas.click(
        position={"x": 320 * 5.5 / 8, "y": 320 * 2.5 / 8}
    )  # patch at row 2, column 5
    assert explorer.get_attribute("data-token") == str(1 + 2 * 8 + 5)
    assert (
        canvas_pixels(explorer) != before
    )  # the map follows the clicked patch
    cls, patches = shown_weights(explorer)
    expected = maps[
        1, 2, 2, 1 + 2 * 8 + 5
    ]  # image 2, layer 3, head 2, that patch's row
    assert abs(cls - expected[0].item()) < 1e-4
    assert torch.allclose(
        torch.tensor(patches, dtype=torch.float64),
        expected[1:].double(),
        atol=1e-4,
    )
    explorer.get_by_role("button", name="Select the CLS token").click()
    cls, patches = shown_weights(explorer)
    assert torch.allclose(
        torch.tensor([cls, *patches], dtype=torch.float64),
        maps[1, 2, 2, 0].double(),
        atol=1e-4,
    )
    assert not page.is_disabled("#attention-head-0")
    page.check("#attention-layer-rollout")
    cls, patches = shown_weights(explorer)
    assert torch.allclose(
        torch.tensor([cls, *patches], dtype=torch.float64),
        rollout[1, 0].double(),
        atol=1e-4,
    )
    heads = explorer.locator("input[name=attention-head]")
    assert heads.count() == 5 and all(
        heads.nth(i).is_disabled() for i in range(5)
    )  # no head to choose
    assert "no head to choose" in explorer.inner_text()
    page.check("#attention-layer-0")
    assert not page.is_disabled("#attention-head-0")


BRIGHTNESS = """(canvas) => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
    return sum / (data.length / 4);
}"""


def test_the_attention_picture_is_not_darkened_away(page):
    """The test images are dark (background at most 0.3); the explorer brightens them for display
    and its overlay leaves them visible: the map is brighter on average than the raw picture."""
    explorer = open_explorer(page, "lessons/learned-positions/", "attention")
    page.add_script_tag(content=f"window.vlBrightness = {BRIGHTNESS};")
    raw_brightness = page.evaluate("""async () => {
        const image = new Image();
        image.src = window.vlExplorerData.attention.meta.images[0].src;
        await image.decode();
        const canvas = document.createElement("canvas");
        canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
        canvas.getContext("2d").drawImage(image, 0, 0);
        return window.vlBrightness(canvas);
    }""")
    for layer in ("0", "3", "rollout"):
        page.check(f"#attention-layer-{layer}")
        shown = explorer.locator("canvas").evaluate(BRIGHTNESS)
        print(
            f"layer {layer}: mean luminance shown {shown:.0f} of 255, raw picture {raw_brightness:.0f}"
        )
        assert (
            shown > 1.2 * raw_brightness
        )  # the former overlay (75% black) left it darker than raw
    assert explorer.locator(".vl-explorer__legend").count() == 1


def test_position_explorer_follows_the_pointer(page):
    explorer = open_explorer(page, "lessons/learned-positions/", "positions")
    torch.manual_seed(0)
    random = tiny_vit().pos_embed.detach()[
        0, 1:
    ]  # the figure's draw: the first after seed 0
    trained, _ = load_trained()
    tables = [
        random,
        trained.pos_embed.detach()[0, 1:],
        sincos_2d_position_embedding(8, 64),
    ]
    assert explorer.locator("figcaption").all_inner_texts() == FIGURE_ORDER
    legend = explorer.locator(".vl-explorer__legend")
    assert (
        legend.count() == 1
        and "−1" in legend.inner_text()
        and "+1" in legend.inner_text()
    )
    before = canvas_pixels(explorer, 1)
    explorer.locator("canvas").nth(1).hover(
        position={"x": 200 * 6.5 / 8, "y": 200 * 4.5 / 8}
    )  # row 4, column 6
    assert explorer.get_attribute("data-reference") == str(4 * 8 + 6)
    assert canvas_pixels(explorer, 1) != before
    shown = explorer.locator(".vl-explorer__values td").evaluate_all(
        "cells => cells.map(cell => Number(cell.dataset.value))"
    )
    for index, table in enumerate(tables):
        expected = cosine_similarity_maps(table, 8)[4, 6].flatten().double()
        assert torch.allclose(
            torch.tensor(
                shown[64 * index : 64 * (index + 1)], dtype=torch.float64
            ),
            expected,
            atol=1e-4,
        )


def test_a_quiz_answer_reveals_its_explanation(page):
    page.goto(page.base + "lessons/attention/", wait_until="load")
    quiz = page.locator(".vl-quiz").first
    wrong = quiz.locator(".vl-quiz__option[data-correct=false]").first
    wrong.click()
    assert wrong.get_attribute("aria-pressed") == "true"
    explanation = quiz.locator(f"#{wrong.get_attribute('aria-describedby')}")
    assert explanation.is_visible() and explanation.inner_text().startswith(
        "Not quite."
    )
    assert "Not quite" in quiz.locator(".vl-quiz__status").inner_text()
    right = quiz.locator(".vl-quiz__option[data-correct=true]")
    right.click()
    assert (
        quiz.locator(f"#{right.get_attribute('aria-describedby')}")
        .inner_text()
        .startswith("Right.")
    )
    assert quiz.locator(".vl-quiz__status").inner_text().startswith("Right")


def test_keyboard_alone_drives_every_control(page):
    explorer = open_explorer(page, "lessons/patches/", "patches")
    page.focus("#patch-16")
    page.keyboard.press("ArrowRight")  # radio groups move with the arrow keys
    assert (
        page.is_checked("#patch-32")
        and explorer.locator("[data-quantity=tokens]").inner_text() == "49"
    )
    page.keyboard.press("Tab")  # on to the image size group
    page.keyboard.press("ArrowRight")
    assert page.is_checked("#size-384")

    explorer = open_explorer(page, "lessons/learned-positions/", "attention")
    page.focus("#attention-head-0")
    for _ in range(
        12
    ):  # Tab backwards from the controls reaches the picture and the CLS button
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.tagName") == "CANVAS":
            break
    assert (
        page.evaluate(
            "document.activeElement.closest('[data-explorer]').dataset.explorer"
        )
        == "attention"
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert explorer.get_attribute("data-token") == str(
        1 + 1 * 8 + 1
    )  # from (0, 0): one down, one right
    positions = page.locator("[data-explorer=positions] canvas").first
    positions.focus()
    page.keyboard.press("ArrowRight")
    assert (
        page.locator("[data-explorer=positions]").get_attribute(
            "data-reference"
        )
        == "1"
    )

    page.goto(page.base + "lessons/patches/", wait_until="load")
    first_option = page.locator(".vl-quiz__option").first
    first_option.focus()
    page.keyboard.press("Enter")
    assert first_option.get_attribute("aria-pressed") == "true"


def test_a_quiz_page_keeps_score_and_resets(page):
    page.goto(page.base + "lessons/attention/", wait_until="load")
    quizzes, score = page.locator(".vl-quiz"), page.locator(".vl-quiz-score")
    total = quizzes.count()
    assert total >= 2 and score.count() == 1
    assert score.inner_text().startswith(
        f"Score: 0 of {total} questions answered"
    )
    quizzes.nth(0).locator(".vl-quiz__option[data-correct=true]").click()
    second = quizzes.nth(1)
    second.locator(".vl-quiz__option[data-correct=false]").first.click()
    second.locator(
        ".vl-quiz__option[data-correct=true]"
    ).click()  # right, but not at the first try
    assert (
        score.get_attribute("data-answered"),
        score.get_attribute("data-right"),
    ) == ("2", "1")
    assert (
        f"1 of {total} right at the first try (2 of {total} answered)"
        in score.inner_text()
    )
    score.get_by_role("button", name="Reset the answers on this page").click()
    assert score.get_attribute("data-answered") == "0"
    assert page.locator(".vl-quiz__option[aria-pressed=true]").count() == 0
    assert page.locator(".vl-quiz__why:not([hidden])").count() == 0
    assert all(
        text == ""
        for text in page.locator(".vl-quiz__status").all_inner_texts()
    )
    quizzes.nth(0).locator(
        ".vl-quiz__option[data-correct=false]"
    ).first.click()  # counts afresh
    assert (
        score.get_attribute("data-answered"),
        score.get_attribute("data-right"),
    ) == ("1", "0")


def test_quiz_answers_and_score_are_kept_across_visits(page):
    """Answers (and so the page's score) come back when the learner
    returns to a page, until the reset; an answer kept for a question
    that has changed since is not shown."""
    page.goto(page.base + "lessons/attention/", wait_until="load")
    quizzes, score = page.locator(".vl-quiz"), page.locator(".vl-quiz-score")
    total = quizzes.count()
    first, second = quizzes.nth(0), quizzes.nth(1)
    first.locator(".vl-quiz__option[data-correct=true]").click()
    wrong = second.locator(".vl-quiz__option[data-correct=false]").first
    wrong.click()
    second.locator(".vl-quiz__option[data-correct=true]").click()
    shown = score.inner_text()
    assert f"1 of {total} right at the first try (2 of {total}" in shown

    page.goto(page.base + "lessons/patches/", wait_until="load")
    assert page.locator(".vl-quiz__option[aria-pressed=true]").count() == 0
    page.go_back(wait_until="load")  # as a learner comes back
    assert score.inner_text() == shown
    assert (
        score.get_attribute("data-answered"),
        score.get_attribute("data-right"),
    ) == ("2", "1")
    assert page.locator(".vl-quiz__option[aria-pressed=true]").count() == 3
    for button in (wrong, second.locator("[data-correct=true]")):
        assert button.get_attribute("aria-pressed") == "true"
        why = button.get_attribute("aria-describedby")
        assert page.locator(f"#{why}").is_visible()
    assert second.locator(".vl-quiz__status").inner_text().startswith("Right")
    assert first.locator(".vl-quiz__status").inner_text().startswith("Right")

    # A kept answer whose question changed since (another key) is dropped.
    qid = first.get_attribute("aria-labelledby")
    page.evaluate(
        """(qid) => {
            const name = "vitlesson.quiz." + qid;
            const kept = JSON.parse(localStorage.getItem(name));
            localStorage.setItem(name, JSON.stringify({...kept, key: "old"}));
        }""",
        qid,
    )
    page.reload(wait_until="load")
    assert first.locator("[aria-pressed=true]").count() == 0
    assert score.get_attribute("data-answered") == "1"

    score.get_by_role("button", name="Reset the answers on this page").click()
    page.reload(wait_until="load")
    assert page.locator(".vl-quiz__option[aria-pressed=true]").count() == 0
    assert score.inner_text().startswith(f"Score: 0 of {total} questions")
    kept = "Object.keys(localStorage).filter(k => k.startsWith('vitlesson.'))"
    assert page.evaluate(kept) == []  # the stale answer went too


def test_every_quiz_page_has_one_score(site):
    for index in site.rglob("index.html"):
        text = index.read_text(encoding="utf-8")
        quizzes, boxes = (
            text.count('class="vl-quiz"'),
            text.count('class="vl-quiz-score"'),
        )
        assert boxes == (1 if quizzes else 0), index
        if quizzes:
            assert f'data-questions="{quizzes}"' in text and text.rindex(
                'class="vl-quiz"'
            ) < text.index("vl-quiz-score")


def canvas_is_drawn(canvas) -> bool:
    """More than one colour on the canvas (a blank or single-colour canvas is not a picture)."""
    return canvas.evaluate("""(canvas) => {
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        const colours = new Set();
        for (let i = 0; i < data.length && colours.size < 3; i += 16) colours.add(data.slice(i, i + 4).join());
        return colours.size >= 3;
    }""")


def test_every_explorer_draws_from_disk(browser, offline_site):  # noqa: F811
    """The offline copy opened from disk (file://): every explorer draws and shows numbers,
    nothing is requested from another host, no request fails and nothing is logged as an error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere, failed, errors = files_only(context), [], []
    page = context.new_page()
    page.on(
        "requestfailed",
        lambda request: failed.append(f"{request.url} ({request.failure})"),
    )
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    for path, names in EXPLORER_PAGES.items():
        page.goto(
            (offline_site / path.rstrip("/")).with_suffix(".html").as_uri(),
            wait_until="load",
        )
        for name in names:
            explorer = page.locator(f"[data-explorer={name}]")
            page.wait_for_selector(
                f"[data-explorer={name}][data-ready=true]", timeout=15000
            )
            assert explorer.get_attribute("data-error") is None
            canvases = explorer.locator("canvas")
            assert canvases.count() >= 1 and all(
                canvas_is_drawn(canvases.nth(i))
                for i in range(canvases.count())
            ), name
            numbers = explorer.locator(
                "[data-quantity], .vl-explorer__values td"
            ).evaluate_all("nodes => nodes.map(node => node.dataset.value)")
            assert numbers and all(
                value not in (None, "", "NaN") for value in numbers
            ), name
            print(
                f"{name} (from disk): {canvases.count()} canvases drawn, {len(numbers)} numbers shown"
            )
        page.wait_for_load_state("networkidle")
    context.close()
    assert elsewhere == [] and failed == [] and errors == [], (
        elsewhere,
        failed,
        errors,
    )


def test_an_explorer_without_its_data_says_so(browser, base_url):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(
        "**/explorers/positions-data.js", lambda route: route.abort()
    )
    page = context.new_page()
    page.goto(base_url + "lessons/learned-positions/", wait_until="load")
    page.wait_for_selector(
        "[data-explorer=positions][data-error=true]", timeout=15000
    )
    message = page.locator("[data-explorer=positions] [role=alert]")
    assert (
        message.is_visible()
        and "could not load its data" in message.inner_text()
    )
    assert "explorers/positions-data.js" in message.inner_text()
    page.wait_for_selector(
        "[data-explorer=attention][data-ready=true]", timeout=15000
    )  # the other one still works
    context.close()


def test_on_a_phone_the_position_maps_stand_side_by_side(browser, base_url):  # noqa: F811
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=3,
    )
    page = context.new_page()
    page.goto(base_url + "lessons/learned-positions/", wait_until="load")
    page.wait_for_selector(
        "[data-explorer=positions][data-ready=true]", timeout=15000
    )
    boxes = [
        page.locator("[data-explorer=positions] canvas").nth(i).bounding_box()
        for i in range(3)
    ]
    width = page.evaluate("document.documentElement.clientWidth")
    print(
        "position maps on a 390-px phone:",
        [(round(b["x"]), round(b["y"]), round(b["width"])) for b in boxes],
    )
    assert len({round(b["y"]) for b in boxes}) == 1  # one row
    assert all(
        a["x"] + a["width"] <= b["x"] for a, b in itertools.pairwise(boxes)
    )  # left to right, no overlap
    assert boxes[-1]["x"] + boxes[-1]["width"] <= width and all(
        b["width"] >= 80 for b in boxes
    )
    canvas = page.locator("[data-explorer=positions] canvas").nth(2)
    canvas.tap(
        position={
            "x": boxes[2]["width"] * 3.5 / 8,
            "y": boxes[2]["width"] * 1.5 / 8,
        }
    )  # row 1, column 3
    assert page.get_attribute(
        "[data-explorer=positions]", "data-reference"
    ) == str(1 * 8 + 3)
    context.close()


def glossary_terms() -> dict[str, str]:
    return glossary.entries(glossary.SOURCE.read_text(encoding="utf-8"))


def test_glossary_terms_open_by_keyboard_and_touch(browser, base_url):  # noqa: F811
    terms = glossary_terms()
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(base_url + "lessons/patches/", wait_until="load")
    popover = page.locator("#vl-glossary-popover")
    # every term has become a popover, or sits in what a click already
    # opens (a link, a button, a fold's summary), where it keeps its title
    assert (
        page.evaluate(
            """Array.from(document.querySelectorAll("article abbr[title]"))
             .filter((term) => !term.closest(
               "a, button, summary, label, .vl-quiz__option")).length"""
        )
        == 0
    )
    first = page.locator("article abbr.vl-term[tabindex='0']").first
    assert first.get_attribute("role") == "button"
    for _ in range(60):  # Tab from the top of the page reaches a term
        page.keyboard.press("Tab")
        if page.evaluate(
            "document.activeElement.classList.contains('vl-term')"
        ):
            break
    term = page.evaluate("document.activeElement.textContent")
    assert (
        popover.is_visible()
        and popover.inner_text() == f"{term}: {terms[term]}"
    )
    assert (
        page.evaluate("document.activeElement.getAttribute('aria-expanded')")
        == "true"
    )
    page.keyboard.press("Escape")
    assert not popover.is_visible()
    assert (
        page.evaluate("document.activeElement.getAttribute('aria-expanded')")
        == "false"
    )
    page.keyboard.press("Enter")  # opens again from the keyboard
    assert popover.is_visible()
    page.keyboard.press("Escape")
    later = page.locator(
        "article abbr.vl-term[tabindex='-1']"
    ).first  # a repeated use: not a tab stop, but tappable
    later.scroll_into_view_if_needed()
    later.tap()
    assert popover.is_visible() and popover.inner_text().startswith(
        later.inner_text() + ": "
    )
    box, width = (
        popover.bounding_box(),
        page.evaluate("document.documentElement.clientWidth"),
    )
    assert (
        box["x"] >= 0 and box["x"] + box["width"] <= width
    )  # on the screen of a phone
    page.locator("h1").tap()  # a tap elsewhere closes it
    assert not popover.is_visible()
    context.close()


def test_the_glossary_page_lists_every_term(page):
    terms = glossary_terms()
    for term in (
        "BERT",
        "temperature",
        "KL divergence",
        "ℓ2-normalisation",
        "weight normalisation",
    ):
        assert term in terms, term
    assert (
        "translation" in terms["equivariance"]
        and "shift" in terms["translation equivariance"]
    )
    page.goto(page.base + "glossary/", wait_until="load")
    shown = dict(
        zip(
            page.locator(".vl-glossary dt").all_inner_texts(),
            page.locator(".vl-glossary dd").all_inner_texts(),
            strict=True,
        )
    )
    assert shown == terms
    assert page.locator(".vl-glossary dt").all_inner_texts() == sorted(
        terms, key=lambda t: (t.casefold(), t)
    )
    assert (
        page.locator("nav.md-nav--primary a", has_text="Glossary").count() >= 1
    )


def test_each_explorer_adds_at_most_300_kb(site):
    script = (site / "javascripts" / "explorers.js").stat().st_size
    for name, files in EXPLORER_FILES.items():
        size = script + sum((site / path).stat().st_size for path in files)
        print(
            f"{name} explorer: {size / 1024:.0f} KB (data {size - script:,} bytes, script {script:,})"
        )
        assert size <= 300 * 1024, name
