"""The data of the in-page explorers, computed from the package and the shipped weights.

Imported by sitebuild/explorers.py only when the data has to be made (a cache miss). Every
number comes from the package: the attention of the trained tiny ViT, its rollout and the
cosine similarities of its position table. Attention weights and similarities are stored as
little-endian uint16 fixed point (a step of 1/65535), precise to 1e-5 and half the size of
float32, then split into a plane of low bytes and one of high bytes (which compresses
better: the high bytes of small weights are mostly 0) and gzip-compressed.

Each explorer's data is one script, ``explorers/<name>-data.js``, that sets
``window.vlExplorerData.<name>``: a page opened from disk (file://) may load a script but
Chromium refuses it ``fetch()``, so the data cannot be a separate .json or .bin file.
"""

from __future__ import annotations

import base64
import gzip
import io
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402

from vitlesson.data.images import sample_image  # noqa: E402
from vitlesson.data.shapes import make_shapes, normalize_shapes  # noqa: E402
from vitlesson.lab.train import TEST_SEED, TEST_SIZE, load_trained, tiny_vit  # noqa: E402
from vitlesson.position import (
    cosine_similarity_maps,
    sincos_2d_position_embedding,
)  # noqa: E402

SCALE = 65535
# The attention explorer shows the first test image of each class the model gets right, in this order.
CLASSES = {1: "square left of the circle", 0: "square right of the circle"}
# The position explorer's tables, in the order of the figure above it (sitebuild/figure_recipes.py).
POSITION_TABLES = ["random initialisation", "trained on shapes", "2-D sin-cos"]


def _png_data_url(image: torch.Tensor) -> str:
    pixels = (
        (image.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    )  # (3, H, W) -> (H, W, 3)
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="png", optimize=True)
    return (
        "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    )


def fixed_point(values: torch.Tensor) -> bytes:
    """Values in [0, 1] as little-endian uint16 fixed point."""
    return (
        (values.clamp(0, 1) * SCALE)
        .round()
        .to(torch.int64)
        .numpy()
        .astype("<u2")
        .tobytes()
    )


def photo() -> bytes:
    buffer = io.BytesIO()
    image = (
        (sample_image(384).permute(1, 2, 0) * 255).round().byte().numpy()
    )  # (H, W, 3)
    PIL.Image.fromarray(image).save(
        buffer, format="webp", quality=82, method=6
    )
    return buffer.getvalue()


def attention_examples() -> list[int]:
    """Indices in the test set of the first image of each class (CLASSES' order) that the
    trained model answers correctly: the explorer shows what a working model looks at."""
    model, _ = load_trained()
    images, labels = make_shapes(TEST_SIZE, seed=TEST_SEED)
    with torch.no_grad():
        right = (
            model(normalize_shapes(images)).argmax(dim=1) == labels
        ).tolist()
    return [
        next(
            i
            for i, (y, ok) in enumerate(
                zip(labels.tolist(), right, strict=True)
            )
            if y == label and ok
        )
        for label in CLASSES
    ]


def attention() -> tuple[bytes, bytes]:
    """The shapes model's attention, every layer and head, for the first test images."""
    model, record = load_trained()
    examples = attention_examples()
    images, labels = make_shapes(TEST_SIZE, seed=TEST_SEED)
    images, labels = images[examples], labels[examples]
    with torch.no_grad():
        maps = model.get_all_selfattention(
            normalize_shapes(images)
        )  # (B, depth, heads, T, T)
        answers = model(normalize_shapes(images)).argmax(dim=1)
    names = ["right of", "left of"]
    meta = {
        "model": "the tiny ViT of part 7 (patch 4, 8x8 grid, width 64, 4 blocks of 4 heads), "
        "trained on the shapes task",
        "accuracy": record["test_accuracy"],
        "test_size": record["test_size"],
        "images": [
            {
                "src": _png_data_url(image),
                "truth": f"square {names[y]} the circle",
                "model": f"square {names[a]} the circle",
                "test_index": index,
            }
            for image, y, a, index in zip(
                images,
                labels.tolist(),
                answers.tolist(),
                examples,
                strict=True,
            )
        ],
        "shape": list(maps.shape),
        "scale": SCALE,
        "grid": list(model.patch_embed.grid_size),
    }
    return fixed_point(maps), json.dumps(meta, sort_keys=True).encode()


def positions() -> tuple[bytes, bytes]:
    """Cosine similarity of every pair of positions, for three tables of the 8x8 grid."""
    torch.manual_seed(0)
    random = tiny_vit().pos_embed.detach()[
        0, 1:
    ]  # the first draw after seed 0, as in the figure
    trained, _ = load_trained()
    tables = {
        "random initialisation": random,
        "trained on shapes": trained.pos_embed.detach()[0, 1:],
        "2-D sin-cos": sincos_2d_position_embedding(8, 64),
    }
    assert list(tables) == POSITION_TABLES
    maps = torch.stack(
        [
            cosine_similarity_maps(table, 8).reshape(64, 64)
            for table in tables.values()
        ]
    )
    meta = {
        "names": list(tables),
        "grid": [8, 8],
        "scale": SCALE,
        "encoding": "(cosine + 1) / 2",
    }
    return fixed_point((maps + 1) / 2), json.dumps(
        meta, sort_keys=True
    ).encode()


def script(name: str, value: dict) -> bytes:
    """A script that hands ``value`` to docs/javascripts/explorers.js."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return (
        f"// Made by the site build (sitebuild/explorer_data.py) from the package; do not edit.\n"
        f"window.vlExplorerData = window.vlExplorerData || {{}};\n"
        f"window.vlExplorerData.{name} = {text};\n"
    ).encode()


def packed(data: bytes) -> str:
    """uint16 fixed point as two byte planes (all low bytes, then all high bytes),
    gzip-compressed (no timestamp: the same bytes on every build), in base64."""
    pairs = np.frombuffer(data, dtype=np.uint8).reshape(
        -1, 2
    )  # little-endian: (low, high)
    planes = pairs[:, 0].tobytes() + pairs[:, 1].tobytes()
    return base64.b64encode(
        gzip.compress(planes, compresslevel=9, mtime=0)
    ).decode()


def unpacked(text: str) -> np.ndarray:
    """The inverse of :func:`packed`, as values in [0, 1] (for the tests)."""
    planes = np.frombuffer(
        gzip.decompress(base64.b64decode(text)), dtype=np.uint8
    )
    low, high = (
        planes[: planes.size // 2].astype(np.uint16),
        planes[planes.size // 2 :].astype(np.uint16),
    )
    return (low | (high << 8)) / SCALE


def render() -> dict[str, bytes]:
    """Every generated file of the explorers: site path -> bytes."""
    attention_data, attention_meta = attention()
    position_data, position_meta = positions()
    photo_url = "data:image/webp;base64," + base64.b64encode(photo()).decode()
    return {
        "explorers/patches-data.js": script("patches", {"photo": photo_url}),
        "explorers/attention-data.js": script(
            "attention",
            {
                "meta": json.loads(attention_meta),
                "weights": packed(attention_data),
            },
        ),
        "explorers/positions-data.js": script(
            "positions",
            {
                "meta": json.loads(position_meta),
                "similarity": packed(position_data),
            },
        ),
    }


def read_script(content: bytes) -> dict:
    """A data script read back (for the tests): its value, packed arrays as values in [0, 1]."""
    text = content.decode()
    value = json.loads(
        text[text.index(" = ", text.index(".vlExplorerData.")) + 3 :]
        .strip()
        .rstrip(";")
    )
    for key in ("weights", "similarity"):
        if key in value:
            value[key] = unpacked(value[key])
    return value
