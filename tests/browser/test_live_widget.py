"""Lab part 1's "Draw for the model", used as a reader uses it, in Chromium.

The widget is driven by mouse, by touch and by the keyboard alone; after each
change the input it gave the model is compared with the image the change
should make (rebuilt here from the package's test images), and the answer it
shows with PyTorch's on that input and with vitlessonLive.run's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sitebuild import live_model
from vitlesson.data.shapes import make_shapes, normalize_shapes
from vitlesson.lab.train import TEST_SEED, TEST_SIZE, load_trained
from vitlesson.vit import attention_rollout

PAGE = "lessons/learned-positions/"
WIDGET = "[data-live-widget=tiny-shapes]"
SIZE = 32
FIRST = 1  # the test image the widget starts from

# The answer shown, and run()'s on the input the widget gave the model.
SHOWN = """async root => {
  const shown = Array.from(root.querySelectorAll("[data-class]"),
    node => Number(node.dataset.value));
  const r = await vitlessonLive.run("tiny-shapes", root.liveInput);
  const top = Math.max(...r.output);
  const e = Array.from(r.output, v => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b);
  return {shown, run: e.map(v => v / total),
          input: Array.from(root.liveInput),
          passes: Number(root.dataset.passes)};
}"""


@pytest.fixture(scope="module")
def examples() -> dict:
    content = live_model.generated()["live/shapes-examples.js"].decode()
    return json.loads(content[content.index(" = ") + 3 :].strip().rstrip(";"))


@pytest.fixture(scope="module")
def model():
    return load_trained()[0]


def image(example: dict, moves=None, colours=None) -> torch.Tensor:
    """An example as the widget draws it, (3, 32, 32): its shapes moved by
    ``moves`` (kind -> (dx, dy)) and recoloured by ``colours``."""
    moves, colours = moves or {}, colours or {}
    out = torch.tensor(example["background"])[:, None, None].repeat(
        1, SIZE, SIZE
    )  # (3,) -> (3, 32, 32)
    for kind in ("square", "circle"):  # the circle over the square
        dx, dy = moves.get(kind, (0, 0))
        colour = torch.tensor(colours.get(kind, example[kind]["colour"]))
        for pixel in example[kind]["pixels"]:
            out[:, pixel // SIZE + dy, pixel % SIZE + dx] = colour
    return out


def open_widget(page, base_url):
    page.goto(base_url + PAGE, wait_until="load")
    page.click("details.example summary")
    page.wait_for_selector(f"{WIDGET}[data-ready=true][data-idle=true]")
    return page.locator(WIDGET)


def settled(page, widget) -> dict:
    page.wait_for_selector(f"{WIDGET}[data-idle=true]")
    return widget.evaluate(SHOWN)


def check_answer(found: dict, model, expected: torch.Tensor) -> None:
    """The input is ``expected``, normalised; the answer shown is run()'s
    and PyTorch's."""
    x = normalize_shapes(expected)
    given = np.array(found["input"]).reshape(3, SIZE, SIZE)
    assert np.array_equal(given, x.double().numpy())
    with torch.no_grad():
        torch_p = model(x[None]).softmax(dim=1)[0].double().numpy()
    assert np.abs(np.array(found["shown"]) - found["run"]).max() <= 1e-12
    assert np.abs(np.array(found["shown"]) - torch_p).max() <= 1e-5


def pixel_point(widget, x: float, y: float) -> tuple[float, float]:
    """Where on the screen the middle of pixel (x, y) of the drawing is."""
    box = widget.locator("canvas").first.bounding_box()
    return (
        box["x"] + (x + 0.5) / SIZE * box["width"],
        box["y"] + (y + 0.5) / SIZE * box["height"],
    )


def centre(example: dict, kind: str) -> tuple[int, int]:
    pixels = example[kind]["pixels"]
    middle = pixels[len(pixels) // 2]
    return middle % SIZE, middle // SIZE


def test_it_starts_from_a_test_image_and_answers_as_pytorch(
    page, base_url, examples, model
):
    widget = open_widget(page, base_url)
    found = settled(page, widget)
    test_images, _ = make_shapes(TEST_SIZE, seed=TEST_SEED)
    assert torch.equal(image(examples["examples"][FIRST]), test_images[FIRST])
    check_answer(found, model, test_images[FIRST])
    for index in (0, 4):  # the first test images, chosen from the list
        widget.locator("select").first.select_option(index=index)
        found = settled(page, widget)
        check_answer(found, model, test_images[index])
    shown = widget.locator("[data-class]").all_inner_texts()
    print("test image 5:", shown)


def test_the_mouse_drags_a_shape_and_draws(page, base_url, examples, model):
    widget = open_widget(page, base_url)
    example = examples["examples"][FIRST]
    x, y = centre(example, "circle")
    page.mouse.move(*pixel_point(widget, x, y))
    page.mouse.down()
    for step in range(1, 6):  # 5 pixels down, a pixel at a time
        page.mouse.move(*pixel_point(widget, x, y + step))
    page.mouse.up()
    moved = image(example, {"circle": (0, 5)})
    check_answer(settled(page, widget), model, moved)
    # draw freehand, in green, along row 28 from column 2 to 12
    widget.get_by_label("draws freehand").check()
    widget.get_by_label("Brush colour").fill("#00ff00")
    page.mouse.move(*pixel_point(widget, 2, 28))
    page.mouse.down()
    page.mouse.move(*pixel_point(widget, 12, 28))
    page.mouse.up()
    moved[:, 28, 2:13] = torch.tensor([0.0, 1.0, 0.0])[:, None]
    check_answer(settled(page, widget), model, moved)
    # undo twice: the drawing, then the move
    for expected in (image(example, {"circle": (0, 5)}), image(example)):
        widget.get_by_role("button", name="Undo").click()
        check_answer(settled(page, widget), model, expected)


def test_a_finger_drags_the_square(page, base_url, examples, model):
    widget = open_widget(page, base_url)
    example = examples["examples"][FIRST]
    x, y = centre(example, "square")
    session = page.context.new_cdp_session(page)

    def touch(kind: str, points: list) -> None:
        session.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [{"x": px, "y": py} for px, py in points],
            },
        )

    touch("touchStart", [pixel_point(widget, x, y)])
    for step in range(1, 4):  # 3 pixels to the right
        touch("touchMove", [pixel_point(widget, x + step, y)])
    touch("touchEnd", [])
    check_answer(
        settled(page, widget), model, image(example, {"square": (3, 0)})
    )


def test_the_keyboard_alone_moves_and_recolours(
    page, base_url, examples, model
):
    """Tab to the drawing, move the square with the arrow keys, select the
    circle and give it the square's warm colour, undo: no mouse."""
    widget = open_widget(page, base_url)
    example = examples["examples"][FIRST]
    drawing = widget.locator("canvas").first
    page.keyboard.press("Tab")  # from the summary, into the widget
    for _ in range(20):
        if drawing.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("the drawing is not reachable with Tab")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+ArrowLeft")  # a patch: 4 pixels
    moves = {"square": (-4, 2)}
    check_answer(settled(page, widget), model, image(example, moves))
    # the shape choice: Tab to the square's radio button, arrow to "circle"
    square = widget.get_by_label("square", exact=True)
    for _ in range(20):
        page.keyboard.press("Tab")
        if square.evaluate("node => node === document.activeElement"):
            break
    page.keyboard.press("ArrowRight")
    assert widget.get_by_label("circle", exact=True).is_checked()
    colour = widget.get_by_label("Its colour")
    colour.focus()  # a native colour picker cannot be typed into; set it
    colour.fill("#ff0000")  # as a keyboard user's picker would
    recoloured = image(example, moves, {"circle": [1.0, 0.0, 0.0]})
    found = settled(page, widget)
    check_answer(found, model, recoloured)
    print("circle made red:", widget.locator("[data-class]").all_inner_texts())
    widget.get_by_role("button", name="Undo").focus()
    page.keyboard.press("Enter")
    check_answer(settled(page, widget), model, image(example, moves))


def test_the_attention_shown_is_run_s(page, base_url):
    widget = open_widget(page, base_url)
    result = widget.evaluate(
        """async root => {
          const r = await vitlessonLive.run("tiny-shapes", root.liveInput);
          return Array.from(r.attention);
        }"""
    )
    maps = torch.tensor(result, dtype=torch.float64).reshape(4, 4, 65, 65)
    rollout = attention_rollout(maps[None])[0, 0, 1:]
    layers, heads = (
        widget.locator("select").nth(1),
        widget.locator("select").nth(2),
    )
    readout = widget.locator(".vl-explorer__note")
    for layer in range(4):
        layers.select_option(index=layer)
        for head in ["0", "1", "2", "3", "mean"]:
            heads.select_option(value=head)
            chosen = maps[layer, :, 0, 1:]  # (heads, 64): CLS row
            row = chosen.mean(0) if head == "mean" else chosen[int(head)]
            shown = float(readout.get_attribute("data-value"))
            assert abs(shown - row.max().item()) <= 1e-12, (layer, head)
            assert int(readout.get_attribute("data-patch")) == int(
                row.argmax()
            )
    heads.select_option(value="rollout")
    assert layers.is_disabled()
    shown = float(readout.get_attribute("data-value"))
    assert abs(shown - rollout.max().item()) <= 1e-12


def test_at_most_one_pass_per_frame(page, base_url):
    """Fifty pointer moves in one go (faster than any frame) give at most
    two forward passes: the one in flight and the latest drawing."""
    widget = open_widget(page, base_url)
    before = int(widget.get_attribute("data-passes"))
    widget.get_by_label("draws freehand").check()
    passes = widget.evaluate(
        """root => {
          const canvas = root.querySelector("canvas");
          const box = canvas.getBoundingClientRect();
          const at = (i, type) => new PointerEvent(type, {
            bubbles: true, pointerId: 1, isPrimary: true,
            clientX: box.left + (i % 32 + 0.5) * box.width / 32,
            clientY: box.top + 20.5 * box.height / 32});
          canvas.dispatchEvent(at(0, "pointerdown"));
          for (let i = 1; i <= 50; i++) canvas.dispatchEvent(at(i, "pointermove"));
          canvas.dispatchEvent(at(50, "pointerup"));
          return new Promise(done => {
            const wait = () => root.dataset.idle === "true"
              ? done(Number(root.dataset.passes)) : requestAnimationFrame(wait);
            requestAnimationFrame(wait);
          });
        }"""
    )
    print(f"50 pointer moves: {passes - before} forward passes")
    assert 1 <= passes - before <= 2


def test_clear_leaves_the_background(page, base_url, examples, model):
    widget = open_widget(page, base_url)
    example = examples["examples"][FIRST]
    widget.get_by_role("button", name="Clear").click()
    found = settled(page, widget)
    blank = torch.tensor(example["background"])[:, None, None].repeat(
        1, SIZE, SIZE
    )
    check_answer(found, model, blank)
    widget.locator("canvas").first.focus()
    page.keyboard.press("ArrowRight")  # nothing left to move: no error
    check_answer(settled(page, widget), model, blank)


def test_a_phone_shows_input_and_attention_side_by_side(browser, base_url):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True
    )
    page = context.new_page()
    widget = open_widget(page, base_url)
    first, second = (
        widget.locator("canvas").nth(i).bounding_box() for i in (0, 1)
    )
    print(
        f"phone: drawing {first['width']:.0f} px, map {second['width']:.0f} px"
    )
    assert first["y"] == second["y"] and first["x"] < second["x"]
    assert second["x"] + second["width"] <= 390
    assert first["width"] >= 140  # each at least 4 CSS px per pixel
    context.close()


def test_it_works_opened_from_disk(page, offline_site, model):
    """The offline copy: examples and weights load as scripts from disk,
    and the answer is PyTorch's."""
    page.goto(
        (offline_site / PAGE.rstrip("/")).with_suffix(".html").as_uri(),
        wait_until="load",
    )
    page.click("details.example summary")
    page.wait_for_selector(f"{WIDGET}[data-ready=true][data-idle=true]")
    widget = page.locator(WIDGET)
    assert widget.get_attribute("data-error") is None
    test_images, _ = make_shapes(TEST_SIZE, seed=TEST_SEED)
    check_answer(settled(page, widget), model, test_images[FIRST])
