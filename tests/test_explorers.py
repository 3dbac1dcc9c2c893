"""The in-page explorers and quizzes, used as a reader uses them, in Chromium.

Every number an explorer shows is compared with the package's own value: the costs
of vitlesson.costs, the attention of the shipped model (every layer and head, and
its rollout) and the cosine similarities of the position tables.
"""

from __future__ import annotations

import itertools
import time

import pytest
import torch

from tests.test_browser import base_url, browser  # noqa: F401  (fixtures)
from vitlesson import costs
from vitlesson.position import cosine_similarity_maps, sincos_2d_position_embedding
from vitlesson.shapes import make_shapes, normalize_shapes
from vitlesson.train import TEST_SEED, load_trained, tiny_vit
from vitlesson.vit import attention_rollout

EXPLORER_FILES = {
    "patches": ["explorers/photo.webp"],
    "attention": ["explorers/attention.bin", "explorers/attention.json"],
    "positions": ["explorers/positions.bin", "explorers/positions.json"],
}


@pytest.fixture
def page(browser, base_url):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.base = base_url
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def open_explorer(page, path: str, name: str):
    start = time.perf_counter()
    page.goto(page.base + path, wait_until="load")
    page.wait_for_selector(f"[data-explorer={name}][data-ready=true]", timeout=15000)
    ready = page.evaluate("performance.now()")
    print(f"{name} explorer: interactive {ready:.0f} ms after navigation started "
          f"({time.perf_counter() - start:.2f} s wall)")
    return page.locator(f"[data-explorer={name}]")


def canvas_pixels(explorer, index: int = 0) -> str:
    return explorer.locator("canvas").nth(index).evaluate("canvas => canvas.toDataURL()")


def test_patch_explorer_numbers_are_the_package_formulas(page):
    explorer = open_explorer(page, "lessons/patches/", "patches")
    drawn = {}
    for patch, size, model in itertools.product([8, 14, 16, 32], [224, 384], ["vit_small", "vit_base"]):
        page.check(f"#patch-{patch}")
        page.check(f"#size-{size}")
        page.check(f"#model-{model}")
        shown = dict(explorer.locator("[data-quantity]").evaluate_all(
            "nodes => nodes.map(node => [node.dataset.quantity, node.dataset.value])"))
        dim, heads = {"vit_small": (384, 6), "vit_base": (768, 12)}[model]
        if size % patch:
            assert set(shown.values()) == {""}, (patch, size)
            assert "is not divisible by patch size" in explorer.inner_text()
            continue
        n = costs.token_count(size, patch)
        expected = {"tokens": n, "sequence": n + 1, "patch_dim": 3 * patch**2,
                    "entries": costs.attention_entries(n + 1),
                    "memory": costs.attention_memory_bytes(n + 1, heads),
                    "embed_flops": costs.patch_embedding_flops(size, patch, dim),
                    "attention_flops": costs.attention_layer_flops(n + 1, dim)}
        assert {key: int(value) for key, value in shown.items()} == expected, (patch, size, model)
        drawn[(patch, size)] = canvas_pixels(explorer)
    # the example: 224 px with patch 8/16/32
    page.check("#size-224")
    for patch, tokens, entries in [(8, "784", "616,225"), (16, "196", "38,809"), (32, "49", "2,500")]:
        page.check(f"#patch-{patch}")
        assert explorer.locator("[data-quantity=tokens]").inner_text() == tokens
        assert explorer.locator("[data-quantity=entries]").inner_text() == entries
    assert len({drawn[(p, 224)] for p in (8, 16, 32)}) == 3  # each patch size draws another grid


@pytest.fixture(scope="module")
def shapes_attention():
    model, _ = load_trained()
    images, _ = make_shapes(2, seed=TEST_SEED)
    with torch.no_grad():
        maps = model.get_all_selfattention(normalize_shapes(images))  # (2, 4, 4, 65, 65)
    return maps, attention_rollout(maps)


def shown_weights(explorer) -> tuple[float, list[float]]:
    values = explorer.locator(".vl-explorer__values td").evaluate_all(
        "cells => cells.map(cell => Number(cell.dataset.value))")
    return values[0], values[1:]  # the CLS weight, then the 64 patches in raster order


def test_attention_explorer_shows_the_model_attention(page, shapes_attention):
    maps, rollout = shapes_attention
    explorer = open_explorer(page, "lessons/learned-positions/", "attention")
    assert "accuracy 0.956" in explorer.inner_text() or "test accuracy" in explorer.inner_text()
    page.check("#attention-image-1")
    page.check("#attention-layer-2")
    page.check("#attention-head-2")
    before = canvas_pixels(explorer)
    canvas = explorer.locator("canvas")
    canvas.click(position={"x": 320 * 5.5 / 8, "y": 320 * 2.5 / 8})  # patch at row 2, column 5
    assert explorer.get_attribute("data-token") == str(1 + 2 * 8 + 5)
    assert canvas_pixels(explorer) != before  # the map follows the clicked patch
    cls, patches = shown_weights(explorer)
    expected = maps[1, 2, 2, 1 + 2 * 8 + 5]  # image 2, layer 3, head 2, that patch's row
    assert abs(cls - expected[0].item()) < 1e-4
    assert torch.allclose(torch.tensor(patches, dtype=torch.float64), expected[1:].double(), atol=1e-4)
    explorer.get_by_role("button", name="Select the CLS token").click()
    cls, patches = shown_weights(explorer)
    assert torch.allclose(torch.tensor([cls, *patches], dtype=torch.float64), maps[1, 2, 2, 0].double(), atol=1e-4)
    page.check("#attention-layer-rollout")
    cls, patches = shown_weights(explorer)
    assert torch.allclose(torch.tensor([cls, *patches], dtype=torch.float64), rollout[1, 0].double(), atol=1e-4)


def test_position_explorer_follows_the_pointer(page):
    explorer = open_explorer(page, "lessons/learned-positions/", "positions")
    torch.manual_seed(0)
    trained, _ = load_trained()
    tables = [trained.pos_embed.detach()[0, 1:], tiny_vit().pos_embed.detach()[0, 1:],
              sincos_2d_position_embedding(8, 64)]
    before = canvas_pixels(explorer, 1)
    explorer.locator("canvas").nth(1).hover(position={"x": 200 * 6.5 / 8, "y": 200 * 4.5 / 8})  # row 4, column 6
    assert explorer.get_attribute("data-reference") == str(4 * 8 + 6)
    assert canvas_pixels(explorer, 1) != before
    shown = explorer.locator(".vl-explorer__values td").evaluate_all(
        "cells => cells.map(cell => Number(cell.dataset.value))")
    for index, table in enumerate(tables):
        expected = cosine_similarity_maps(table, 8)[4, 6].flatten().double()
        assert torch.allclose(torch.tensor(shown[64 * index: 64 * (index + 1)], dtype=torch.float64), expected, atol=1e-4)


def test_a_quiz_answer_reveals_its_explanation(page):
    page.goto(page.base + "lessons/attention/", wait_until="load")
    quiz = page.locator(".vl-quiz").first
    wrong = quiz.locator(".vl-quiz__option[data-correct=false]").first
    wrong.click()
    assert wrong.get_attribute("aria-pressed") == "true"
    explanation = quiz.locator(f"#{wrong.get_attribute('aria-describedby')}")
    assert explanation.is_visible() and explanation.inner_text().startswith("Not quite.")
    assert "Not quite" in quiz.locator(".vl-quiz__status").inner_text()
    right = quiz.locator(".vl-quiz__option[data-correct=true]")
    right.click()
    assert quiz.locator(f"#{right.get_attribute('aria-describedby')}").inner_text().startswith("Right.")
    assert quiz.locator(".vl-quiz__status").inner_text().startswith("Right")


def test_keyboard_alone_drives_every_control(page):
    explorer = open_explorer(page, "lessons/patches/", "patches")
    page.focus("#patch-16")
    page.keyboard.press("ArrowRight")  # radio groups move with the arrow keys
    assert page.is_checked("#patch-32") and explorer.locator("[data-quantity=tokens]").inner_text() == "49"
    page.keyboard.press("Tab")  # on to the image size group
    page.keyboard.press("ArrowRight")
    assert page.is_checked("#size-384")

    explorer = open_explorer(page, "lessons/learned-positions/", "attention")
    page.focus("#attention-head-0")
    for _ in range(12):  # Tab backwards from the controls reaches the picture and the CLS button
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.tagName") == "CANVAS":
            break
    assert page.evaluate("document.activeElement.closest('[data-explorer]').dataset.explorer") == "attention"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert explorer.get_attribute("data-token") == str(1 + 1 * 8 + 1)  # from (0, 0): one down, one right
    positions = page.locator("[data-explorer=positions] canvas").first
    positions.focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("[data-explorer=positions]").get_attribute("data-reference") == "1"

    page.goto(page.base + "lessons/patches/", wait_until="load")
    first_option = page.locator(".vl-quiz__option").first
    first_option.focus()
    page.keyboard.press("Enter")
    assert first_option.get_attribute("aria-pressed") == "true"


def test_each_explorer_adds_at_most_300_kb(site):
    script = (site / "javascripts" / "explorers.js").stat().st_size
    for name, files in EXPLORER_FILES.items():
        size = script + sum((site / path).stat().st_size for path in files)
        print(f"{name} explorer: {size / 1024:.0f} KB (data {size - script:,} bytes, script {script:,})")
        assert size <= 300 * 1024, name
