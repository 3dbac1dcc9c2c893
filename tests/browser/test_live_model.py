"""The live models of docs/javascripts/vit-live.js against PyTorch.

The page runs the shipped tiny ViTs in plain JavaScript on weights the
build exported (sitebuild/live_model.py). Here Chromium runs them, on the
site served and on the copy opened from disk, on test images of each
model's data set and on random inputs, and every output and every
attention weight is compared with the package's PyTorch model on the same
weights: at most 1e-5 apart. The page computes in float64: it is also
compared with the same model run by PyTorch in float64, which it equals to
1e-12 (PyTorch's float32 answers are themselves up to about 1e-6 from those,
and 1e-5 on some inputs of random Gaussian noise, which are no image).
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from sitebuild import live_model, live_weights
from tests.support.browser import files_only
from vitlesson.data.objects import make_objects
from vitlesson.data.shapes import make_shapes, normalize_shapes
from vitlesson.lab.dino import evaluation
from vitlesson.lab.train import TEST_SEED, TEST_SIZE, load_trained
from vitlesson.vit import attention_rollout

TOLERANCE = 1e-5  # from PyTorch's float32 results
EXACT = 1e-12  # from PyTorch's float64 results
IMAGES, RANDOM = 34, 16  # inputs per model: test images, random pixels
PAGES = {  # where each model's widget lives (any page can run any model)
    "tiny-shapes": "lessons/learned-positions",
    "dino-tiny": "lessons/what-dino-learned",
}
MAX_DATA_BYTES = 1_500_000  # model data one page may load

# Runs each input (base64 float64) and returns output and attention as
# base64 float64: exact numbers, a tenth of the size of JSON arrays.
RUN_ALL = """async ([name, inputs]) => {
  const decode = text => new Float64Array(
    Uint8Array.from(atob(text), c => c.charCodeAt(0)).buffer);
  const encode = array => {
    const bytes = new Uint8Array(Float64Array.from(array).buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000)
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  const results = [];
  for (const input of inputs) {
    const r = await vitlessonLive.run(name, Array.from(decode(input)));
    results.push([encode(r.output), encode(r.attention)]);
  }
  return results;
}"""


def _float64(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8")


def _model(name: str):
    if name == "tiny-shapes":
        return load_trained()[0]
    return evaluation.load_backbone(evaluation.DINO_WEIGHTS)


def _images(name: str) -> torch.Tensor:
    """Held-out images of the model's own data set, normalised as its
    training normalised them."""
    if name == "tiny-shapes":
        images, _ = make_shapes(TEST_SIZE, seed=TEST_SEED)
    else:
        images, _, _ = make_objects(
            evaluation.TEST_SIZE, seed=evaluation.TEST_SEED
        )
    return normalize_shapes(images[:IMAGES])


@pytest.fixture(scope="module")
def cases() -> dict[str, tuple[torch.Tensor, dict]]:
    """Each model's inputs (test images, then images of random pixels,
    normalised) and PyTorch's outputs and attention (B, depth, heads, T,
    T) for them, computed in float32 and in float64."""
    generator = torch.Generator().manual_seed(35)
    found = {}
    for name in live_model.MODELS:
        model = _model(name)
        pixels = torch.rand(RANDOM, 3, 32, 32, generator=generator)
        inputs = torch.cat([_images(name), normalize_shapes(pixels)])
        results = {}
        for dtype in (torch.float32, torch.float64):
            with torch.no_grad():
                x, net = inputs.to(dtype), model.to(dtype)
                results[dtype] = (net(x), net.get_all_selfattention(x))
        found[name] = (inputs, results)
    return found


def live_results(page, name: str, inputs: torch.Tensor):
    """What the page's vitlessonLive.run gives for each input: outputs
    (B, out) and attention (B, depth*heads*T*T), in float64."""
    encoded = [
        base64.b64encode(x.double().numpy().astype("<f8").tobytes()).decode()
        for x in inputs
    ]
    results = page.evaluate(RUN_ALL, [name, encoded])
    outputs = np.stack([_float64(output) for output, _ in results])
    maps = np.stack([_float64(attention) for _, attention in results])
    return outputs, maps


def check_parity(page, cases, where: str, every: int = 1) -> None:
    """Each model's answers on the page equal PyTorch's, on every
    ``every``-th input of :func:`cases`."""
    for name, (inputs, results) in cases.items():
        inputs = inputs[::every]
        got_outputs, got_maps = live_results(page, name, inputs)
        for dtype, limit in (
            (torch.float32, TOLERANCE),
            (torch.float64, EXACT),
        ):
            outputs, maps = (r[::every] for r in results[dtype])
            assert got_outputs.shape == tuple(outputs.shape), name
            assert got_maps.shape == (len(inputs), maps[0].numel()), name
            output_gap = np.abs(got_outputs - outputs.double().numpy()).max()
            maps_gap = np.abs(
                got_maps - maps.double().flatten(1).numpy()
            ).max()
            print(
                f"{name} ({where}, {len(inputs)} inputs, PyTorch {dtype}): "
                f"outputs within {output_gap:.2e}, attention within "
                f"{maps_gap:.2e}"
            )
            assert output_gap <= limit, (name, where, dtype, output_gap)
            assert maps_gap <= limit, (name, where, dtype, maps_gap)


def test_the_live_models_equal_pytorch_served(page, base_url, cases):
    page.goto(base_url + PAGES["tiny-shapes"] + "/", wait_until="load")
    check_parity(page, cases, "served")


def test_the_live_models_equal_pytorch_from_disk(page, offline_site, cases):
    """The copy opened from disk (file://) loads the weights as scripts
    and gives the same numbers; nothing is requested from another host.
    The code that computes is the served page's (tested above on every
    input): a weight loaded wrongly shows on any input, so one in eight
    (test images and random pixels) is enough here."""
    elsewhere = files_only(page.context)
    page.goto(
        (offline_site / f"{PAGES['dino-tiny']}.html").as_uri(),
        wait_until="load",
    )
    check_parity(page, cases, "from disk", every=8)
    assert elsewhere == []


def test_models_name_the_shipped_checkpoints(page, base_url):
    page.goto(base_url, wait_until="load")
    models = page.evaluate("vitlessonLive.models")
    assert models == live_model.MODELS
    shipped = {model: weights for model, (_, weights) in _shipped().items()}
    assert {name: m["weights"] for name, m in models.items()} == shipped


def _shipped():
    return live_weights.shipped_models()


def test_the_exported_weights_are_the_checkpoints_numbers():
    """Every tensor of each script equals the shipped state dict's,
    bit for bit (float32: no rounding), in the state dict's order."""
    scripts = live_model.generated()
    for name, (model, weights) in _shipped().items():
        value, tensors = live_weights.read_script(scripts[f"live/{name}.js"])
        assert value["weights"] == weights
        state = model.state_dict()
        assert list(tensors) == list(state)
        for key, tensor in state.items():
            assert torch.equal(tensors[key], tensor), (name, key)


def test_a_page_loads_at_most_one_and_a_half_mb_of_model_data(page, base_url):
    """Lab part 1 with its widget opened loads the shapes model and its
    examples, within the budget; no page loads any of it before."""
    page.goto(base_url + PAGES["tiny-shapes"] + "/", wait_until="load")
    page.wait_for_load_state("networkidle")
    assert live_data(page) == {}  # the widget is folded: nothing yet
    page.click("details.example summary")
    page.wait_for_selector("[data-live-widget][data-ready=true]")
    loaded = live_data(page)
    total = sum(loaded.values())
    print(f"{PAGES['tiny-shapes']}: {total:,} bytes of model data {loaded}")
    assert set(loaded) == {"live/tiny-shapes.js", "live/shapes-examples.js"}
    assert total <= MAX_DATA_BYTES
    for path, content in live_model.generated().items():
        assert len(content) <= MAX_DATA_BYTES, path  # any model, any page


def live_data(page) -> dict[str, int]:
    """The live/ scripts a page has loaded, with their sizes in bytes."""
    entries = page.evaluate(
        """() => performance.getEntriesByType("resource")
          .filter(entry => entry.name.includes("/live/"))
          .map(entry => [entry.name, entry.encodedBodySize])"""
    )
    return {url[url.index("live/") :]: size for url, size in entries}


def test_rollout_is_the_packages(page, base_url, cases):
    page.goto(base_url, wait_until="load")
    _, results = cases["tiny-shapes"]
    _, maps = results[torch.float64]
    depth, heads, tokens = maps.shape[1:4]
    for index in (0, IMAGES):  # a test image and a random input
        got = page.evaluate(
            """([maps, depth, heads, tokens]) => Array.from(
                vitlessonLive.rollout(maps, depth, heads, tokens))""",
            [maps[index].flatten().tolist(), depth, heads, tokens],
        )
        expected = attention_rollout(maps[index : index + 1])[0]
        gap = np.abs(np.array(got) - expected.flatten().numpy()).max()
        assert gap <= 1e-12, gap


@pytest.mark.parametrize(
    "call, message",
    [
        (
            "vitlessonLive.run('tiny-shape', [])",
            'vitlessonLive has no model "tiny-shape"; expected one of '
            "tiny-shapes, dino-tiny",
        ),
        (
            "vitlessonLive.run('tiny-shapes', new Array(3 * 32 * 31).fill(0))",
            'vitlessonLive.run("tiny-shapes", x): x must hold 3072 '
            "numbers (3x32x32, flat), got 2976",
        ),
        (
            "vitlessonLive.run('dino-tiny', 5)",
            'vitlessonLive.run("dino-tiny", x): x must be an array of '
            "3072 numbers (3x32x32), got number",
        ),
        (
            "vitlessonLive.run('dino-tiny', new Array(3072).fill(NaN))",
            'vitlessonLive.run("dino-tiny", x): x[0] must be a finite '
            "number, got NaN",
        ),
    ],
)
def test_a_wrong_call_is_refused_in_one_line(page, base_url, call, message):
    page.goto(base_url, wait_until="load")
    refused = page.evaluate(
        f"{call}.then(() => 'ran', error => error.message)"
    )
    assert refused == message
