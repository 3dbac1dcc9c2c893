"""Lab part 3's "DINO on your drawing", and the learner's own weights.

The widget (docs/javascripts/live-dino.js) is driven as a reader drives it,
in Chromium, served and opened from disk. After each change the drawing it
gave the model is rebuilt here from its state with the package's own
object drawing (vitlesson.data.objects) and compared pixel for pixel; the
masks it shows are compared with ``probes.attention_masks`` and its
neighbours with the cosine similarities of ``probes.cls_features``, both run
by PyTorch on the same input. The file input (docs/javascripts/
torch-checkpoint.js) is given checkpoints of both commands and files that
are none.
"""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile

import numpy as np
import pytest
import torch

from sitebuild import live_model, live_weights
from tests.support.browser import files_only
from vitlesson._runs import state_bytes
from vitlesson.data.objects import CLASSES, _shape_masks, make_objects
from vitlesson.data.shapes import make_shapes, normalize_shapes
from vitlesson.lab.dino import evaluation
from vitlesson.lab.probes import attention_masks, cls_features
from vitlesson.lab.train import TEST_SEED, TEST_SIZE, load_trained

PAGE = "lessons/what-dino-learned"
WIDGET = "[data-live-dino=dino-tiny]"
SIZE, K = 32, 5
TOLERANCE = 1e-5  # from PyTorch's float32 results
MAX_DATA_BYTES = 1_500_000


@pytest.fixture(scope="module")
def bank() -> tuple[torch.Tensor, torch.Tensor]:
    return live_weights.bank_images()


@pytest.fixture(scope="module")
def teacher():
    return evaluation.load_backbone(evaluation.DINO_WEIGHTS)


@pytest.fixture(scope="module")
def supervised():
    return evaluation.load_backbone(evaluation.SUPERVISED_WEIGHTS)


def drawn(state: dict, bank) -> torch.Tensor:
    """The image (3, 32, 32) the widget's state describes, drawn as
    make_objects draws its objects (``_shape_masks``, upright)."""
    if state["start"] >= 0:
        image = bank[0][state["start"]].float() / 255
    else:
        image = torch.tensor(state["background"], dtype=torch.float32)[
            :, None, None
        ].repeat(1, SIZE, SIZE)  # (3,) -> (3, 32, 32)
    thing = state["object"]
    if thing["kind"] != "none":
        ys, xs = torch.meshgrid(
            torch.arange(SIZE).float() + 0.5,
            torch.arange(SIZE).float() + 0.5,
            indexing="ij",
        )  # (32, 32) each
        mask = _shape_masks(
            torch.tensor([CLASSES.index(thing["kind"])]),
            (xs - thing["cx"])[None],
            (ys - thing["cy"])[None],
            torch.tensor(float(thing["size"])).reshape(1, 1, 1),
        )[0]
        image = torch.where(
            mask,
            torch.tensor(thing["colour"], dtype=torch.float32)[:, None, None],
            image,
        )
    for pixel, colour in state["paint"].items():
        image[:, int(pixel) // SIZE, int(pixel) % SIZE] = torch.tensor(
            colour, dtype=torch.float32
        )
    return image


def expected(model, image: torch.Tensor, bank) -> dict:
    """PyTorch's masks (one 0/1 string per head) and k nearest bank images
    (index, cosine) for ``image``."""
    x = normalize_shapes(image)[None]
    with torch.no_grad():
        maps = model.get_last_selfattention(x)  # (1, heads, 65, 65)
    masks = attention_masks(maps)[0]  # (heads, 64)
    feature = cls_features(model, x)
    bank_features = cls_features(
        model, normalize_shapes(bank[0].float() / 255)
    )
    top, index = (feature @ bank_features.T)[0].topk(K)
    return {
        "masks": ["".join(str(int(v)) for v in m) for m in masks],
        "neighbours": list(zip(index.tolist(), top.tolist(), strict=True)),
    }


def shown(page, widget) -> dict:
    page.wait_for_selector(f"{WIDGET}[data-idle=true][data-bank=ready]")
    return widget.evaluate(
        """root => ({state: root.liveState(), input: Array.from(root.liveInput),
                  masks: JSON.parse(root.dataset.masks),
                  neighbours: JSON.parse(root.dataset.neighbours)})"""
    )


def check(page, widget, model, bank, image: torch.Tensor | None = None):
    """The input the widget gave the model is its drawing (and ``image``
    when given); its masks and neighbours are PyTorch's."""
    found = shown(page, widget)
    made = drawn(found["state"], bank)
    if image is not None:
        assert torch.equal(made, image)
    given = np.array(found["input"]).reshape(3, SIZE, SIZE)
    assert np.array_equal(given, normalize_shapes(made).double().numpy())
    truth = expected(model, made, bank)
    assert found["masks"] == truth["masks"]
    assert [i for i, _ in found["neighbours"]] == [
        i for i, _ in truth["neighbours"]
    ]
    gap = max(
        abs(a[1] - b[1])
        for a, b in zip(found["neighbours"], truth["neighbours"], strict=True)
    )
    assert gap <= TOLERANCE, gap
    print(f"masks equal, cosines within {gap:.1e}")
    return found


def open_widget(page, url: str):
    page.goto(url, wait_until="load")
    page.locator("details.example summary").filter(
        has_text="DINO on your drawing"
    ).click()
    page.wait_for_selector(f"{WIDGET}[data-ready=true][data-idle=true]")
    return page.locator(WIDGET)


def pixel_point(widget, x: float, y: float) -> tuple[float, float]:
    drawing = widget.locator("canvas").first
    drawing.evaluate(  # at once: Material scrolls smoothly otherwise
        "node => node.scrollIntoView({block: 'center', behavior: 'instant'})"
    )
    box = drawing.bounding_box()
    return (
        box["x"] + (x + 0.5) / SIZE * box["width"],
        box["y"] + (y + 0.5) / SIZE * box["height"],
    )


def test_the_drawing_s_masks_and_neighbours_are_pytorch_s(
    page, base_url, teacher, bank
):
    widget = open_widget(page, base_url + PAGE + "/")
    found = check(page, widget, teacher, bank)
    print("triangle, neighbours:", found["neighbours"])
    for kind in ("disc", "square", "cross"):
        widget.get_by_label(kind, exact=True).check()
        found = check(page, widget, teacher, bank)
        classes = [
            CLASSES[bank[1][i]] for i, _ in found["neighbours"]
        ]  # what the page shows under each neighbour
        captions = widget.locator(".vl-live__neighbours figcaption")
        assert [c.split(" · ")[0] for c in captions.all_inner_texts()] == (
            classes
        )
        print(
            f"{kind}: masks keep",
            widget.locator("[data-kept]").evaluate_all(
                "nodes => nodes.map(n => Number(n.dataset.kept))"
            ),
            "patches; neighbours",
            classes,
        )
    # a smaller red cross on a blue background, moved by the mouse
    widget.get_by_label("Size").fill("6")
    widget.get_by_label("Object colour").fill("#ff0000")
    widget.get_by_label("Background colour").fill("#0000ff")
    page.mouse.move(*pixel_point(widget, 16, 16))
    page.mouse.down()
    for step in range(1, 7):  # 6 pixels left, 3 up
        page.mouse.move(*pixel_point(widget, 16 - step, 16 - step // 2))
    page.mouse.up()
    found = check(page, widget, teacher, bank)
    thing = found["state"]["object"]
    assert (thing["kind"], thing["cx"], thing["cy"], thing["size"]) == (
        "cross",
        10,
        14,
        6,
    )
    assert found["state"]["background"] == [0.0, 0.0, 1.0]
    # a bank image to start from, then freehand over it
    widget.locator("select").select_option(index=3)
    check(page, widget, teacher, bank, bank[0][2].float() / 255)
    widget.get_by_label("draws freehand").check()
    widget.get_by_label("Brush colour").fill("#ffffff")
    page.mouse.move(*pixel_point(widget, 3, 5))
    page.mouse.down()
    page.mouse.move(*pixel_point(widget, 3, 25))
    page.mouse.up()
    found = check(page, widget, teacher, bank)
    assert len(found["state"]["paint"]) == 21


def test_the_keyboard_moves_the_object_and_undo_takes_it_back(
    page, base_url, teacher, bank
):
    widget = open_widget(page, base_url + PAGE + "/")
    before = shown(page, widget)["state"]["object"]
    widget.locator("canvas").first.focus()
    page.keyboard.press("Shift+ArrowRight")  # a patch: 4 pixels
    page.keyboard.press("ArrowUp")
    found = check(page, widget, teacher, bank)
    thing = found["state"]["object"]
    assert (thing["cx"], thing["cy"]) == (before["cx"] + 4, before["cy"] - 1)
    widget.get_by_role("button", name="Undo").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    found = check(page, widget, teacher, bank)
    assert found["state"]["object"] == before


def test_the_mask_rule_is_attention_masks(page, base_url, teacher):
    """attentionMask on PyTorch's own CLS rows of 200 held-out images
    (800 heads) keeps exactly the patches attention_masks keeps."""
    images, _, _ = make_objects(
        evaluation.TEST_SIZE, seed=evaluation.TEST_SEED
    )
    with torch.no_grad():
        maps = teacher.get_last_selfattention(normalize_shapes(images[:200]))
    rows = maps[:, :, 0, 1:].flatten(0, 1)  # (800, 64)
    masks = attention_masks(maps).flatten(0, 1)  # (800, 64)
    page.goto(base_url + PAGE + "/", wait_until="load")
    got = page.evaluate(
        """rows => rows.map(row => Array.from(
          vitlessonLiveDino.attentionMask(Float32Array.from(row), 0.6)))""",
        rows.tolist(),
    )
    assert torch.equal(torch.tensor(got, dtype=torch.bool), masks)
    for mass in (0.4, 0.8):
        got = page.evaluate(
            """([rows, mass]) => rows.map(row => Array.from(
              vitlessonLiveDino.attentionMask(Float32Array.from(row), mass)))""",
            [rows[:100].tolist(), mass],
        )
        want = attention_masks(maps[:25], mass).flatten(0, 1)
        assert torch.equal(torch.tensor(got, dtype=torch.bool), want)


def test_the_shipped_bank_features_are_the_page_s_and_pytorch_s(
    page, base_url, teacher, bank
):
    """The bank's shipped features are cls_features of its stored images;
    the page's forward pass gives the same features (within 1e-5)."""
    value = json.loads(
        live_model.generated()["live/objects-bank.js"]
        .decode()
        .split(" = ", 1)[1]
        .strip()
        .rstrip(";")
    )
    shipped = torch.from_numpy(
        np.frombuffer(base64.b64decode(value["features"]), "<f4").copy()
    ).reshape(len(bank[0]), -1)
    images = normalize_shapes(bank[0].float() / 255)
    assert torch.equal(shipped, cls_features(teacher, images))
    assert value["labels"] == bank[1].tolist()
    assert sorted(set(value["labels"])) == [0, 1, 2, 3]
    page.goto(base_url + PAGE + "/", wait_until="load")
    outputs = page.evaluate(
        """async images => {
          const out = [];
          for (const x of images) out.push(Array.from(
            (await vitlessonLive.run("dino-tiny", x)).output));
          return out;
        }""",
        images.flatten(1).double().tolist(),
    )
    live = torch.nn.functional.normalize(torch.tensor(outputs), dim=1)
    gap = (live - shipped.double()).abs().max().item()
    print(f"bank of {len(bank[0])}: page's features within {gap:.2e}")
    assert gap <= TOLERANCE


def test_part_3_loads_at_most_one_and_a_half_mb_of_model_data(page, base_url):
    page.goto(base_url + PAGE + "/", wait_until="load")
    page.wait_for_load_state("networkidle")
    assert live_data(page) == {}  # folded: nothing yet
    open_widget(page, base_url + PAGE + "/")
    loaded = live_data(page)
    total = sum(loaded.values())
    print(f"{PAGE}: {total:,} bytes of model data {loaded}")
    assert set(loaded) == {"live/dino-tiny.js", "live/objects-bank.js"}
    assert total <= MAX_DATA_BYTES


def live_data(page) -> dict[str, int]:
    entries = page.evaluate(
        """() => performance.getEntriesByType("resource")
          .filter(entry => entry.name.includes("/live/"))
          .map(entry => [entry.name, entry.encodedBodySize])"""
    )
    return {url[url.index("live/") :]: size for url, size in entries}


# ---- the learner's own weights -------------------------------------------


class _Runs:
    """Not a state dict: unpickling it would call os.system."""

    def __reduce__(self):
        return (os.system, ("echo unsafe",))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Checkpoints of both commands and files that are none."""
    folder = tmp_path_factory.mktemp("checkpoints")
    shapes = load_trained()[0]
    with torch.no_grad():
        shapes.head.bias += torch.tensor([1.5, -1.5])  # another answer
    made = {
        "dino-supervised.pt": evaluation.SUPERVISED_WEIGHTS.read_bytes(),
        "dino-tiny.pt": evaluation.DINO_WEIGHTS.read_bytes(),
        "my-shapes.pt": state_bytes(shapes),
        "notes.txt": b"not weights\n",
        "cut.pt": evaluation.DINO_WEIGHTS.read_bytes()[:400_000],
    }
    buffer = io.BytesIO()
    torch.save({"cls_token": _Runs()}, buffer)
    made["runs-code.pt"] = buffer.getvalue()
    half = io.BytesIO()
    state = evaluation.load_backbone(evaluation.DINO_WEIGHTS).state_dict()
    torch.save({k: v.half() for k, v in state.items()}, half)
    made["half.pt"] = half.getvalue()
    deflated = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(made["dino-tiny.pt"])) as source:
        with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                target.writestr(item.filename, source.read(item))
    made["deflated.pt"] = deflated.getvalue()
    for name, content in made.items():
        (folder / name).write_bytes(content)
    return folder, shapes


def file_note(page, widget) -> str:
    page.wait_for_selector(f"{WIDGET}:not([data-file=reading])")
    return widget.locator(".vl-live__file").inner_text()


def test_a_dino_checkpoint_is_loaded_and_a_bad_file_refused(
    page, base_url, files, teacher, supervised, bank
):
    folder, _ = files
    widget = open_widget(page, base_url + PAGE + "/")
    picker = widget.locator("input[type=file]")
    refused = {
        "notes.txt": "not a zip archive",
        "cut.pt": "a zip archive cut short",
        "my-shapes.pt": "a classifier (with head.weight)",
        "runs-code.pt": "names posix.system",
        "half.pt": "HalfStorage",
        "deflated.pt": "is compressed",
    }
    for name, reason in refused.items():
        picker.set_input_files(folder / name)
        page.wait_for_selector(f"{WIDGET}[data-file=refused]")
        note = file_note(page, widget)
        print(note)
        assert note.startswith(f"{name} was not loaded: ")
        assert reason in note and note.endswith("The model in use stays.")
        assert "\n" not in note
        widget.evaluate("root => { root.dataset.file = ''; }")
        check(page, widget, teacher, bank)  # the shipped teacher, still
    picker.set_input_files(folder / "dino-supervised.pt")
    page.wait_for_selector(f"{WIDGET}[data-file=loaded]")
    assert file_note(page, widget) == (
        "Model: your dino-supervised.pt (python -m vitlesson.lab.dino's weights)."
    )
    found = check(page, widget, supervised, bank)  # bank recomputed too
    print("the supervised backbone's neighbours:", found["neighbours"])
    widget.get_by_label("square", exact=True).check()
    check(page, widget, supervised, bank)
    widget.get_by_role("button", name="Back to the shipped model").click()
    check(page, widget, teacher, bank)


def test_from_disk_the_widget_and_the_file_input_work(
    page, offline_site, files, supervised, bank
):
    folder, _ = files
    elsewhere = files_only(page.context)
    widget = open_widget(page, (offline_site / f"{PAGE}.html").as_uri())
    assert widget.get_attribute("data-error") is None
    widget.locator("input[type=file]").set_input_files(
        folder / "dino-supervised.pt"
    )
    page.wait_for_selector(f"{WIDGET}[data-file=loaded]")
    check(page, widget, supervised, bank)
    assert elsewhere == []


def test_part_1_takes_a_checkpoint_of_train_and_refuses_dino_s(
    page, base_url, files
):
    """Lab part 1's widget: a learner's own shapes model answers as
    PyTorch does with it; DINO's backbone is refused in one line."""
    folder, shapes = files
    page.goto(base_url + "lessons/learned-positions/", wait_until="load")
    page.locator("details.example summary").filter(
        has_text="watch the answer"
    ).click()
    root = "[data-live-widget=tiny-shapes]"
    page.wait_for_selector(f"{root}[data-ready=true][data-idle=true]")
    widget = page.locator(root)
    picker = widget.locator("input[type=file]")
    picker.set_input_files(folder / "dino-tiny.pt")
    page.wait_for_selector(f"{root}[data-file=refused]")
    note = widget.locator(".vl-live__file").inner_text()
    assert note.startswith("dino-tiny.pt was not loaded: it holds a backbone")
    picker.set_input_files(folder / "my-shapes.pt")
    page.wait_for_selector(f"{root}[data-file=loaded][data-idle=true]")
    page.wait_for_function(
        "root => root.dataset.idle === 'true'", arg=widget.element_handle()
    )
    found = widget.evaluate(
        """root => ({input: Array.from(root.liveInput),
          shown: Array.from(root.querySelectorAll("[data-class]"),
                            node => Number(node.dataset.value))})"""
    )
    x = torch.tensor(found["input"], dtype=torch.float32).reshape(1, 3, 32, 32)
    images, _ = make_shapes(TEST_SIZE, seed=TEST_SEED)
    assert torch.equal(x[0], normalize_shapes(images[1]))
    with torch.no_grad():
        mine = shapes(x).softmax(dim=1)[0].double().numpy()
        theirs = load_trained()[0](x).softmax(dim=1)[0].double().numpy()
    assert np.abs(np.array(found["shown"]) - mine).max() <= TOLERANCE
    assert np.abs(mine - theirs).max() > 0.01  # it is another model


def test_a_finger_drags_the_object(page, base_url, teacher, bank):
    widget = open_widget(page, base_url + PAGE + "/")
    before = shown(page, widget)["state"]["object"]
    session = page.context.new_cdp_session(page)

    def touch(kind: str, points: list) -> None:
        session.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [{"x": px, "y": py} for px, py in points],
            },
        )

    touch("touchStart", [pixel_point(widget, 16, 16)])
    for step in range(1, 5):  # 4 pixels down, 2 left
        touch("touchMove", [pixel_point(widget, 16 - step // 2, 16 + step)])
    touch("touchEnd", [])
    thing = check(page, widget, teacher, bank)["state"]["object"]
    assert (thing["cx"], thing["cy"]) == (before["cx"] - 2, before["cy"] + 4)


def test_the_open_widget_passes_axe_core(page, base_url):
    """axe-core finds nothing serious in the opened widget (every control
    and picture named), in its file input's refusal either."""
    from tests.support.axe import axe, axe_script

    widget = open_widget(page, base_url + PAGE + "/")
    page.add_script_tag(path=str(axe_script()))
    violations = axe(page)
    print("axe-core, widget open:", violations)
    assert violations == []
    assert (
        widget.locator("input[type=file]").evaluate(
            "node => node.labels.length"
        )
        == 1
    )
