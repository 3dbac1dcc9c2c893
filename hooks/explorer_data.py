"""The data of the in-page explorers, computed from the package and the shipped weights.

Imported by hooks/explorers.py only when the data has to be made (a cache miss). Every
number comes from the package: the attention of the trained tiny ViT, its rollout and the
cosine similarities of its position table. Attention weights and similarities are stored as
little-endian uint16 fixed point (a step of 1/65535), precise to 1e-5 and half the size of
float32.
"""

from __future__ import annotations

import base64
import io
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402

from vitlesson.images import sample_image  # noqa: E402
from vitlesson.position import cosine_similarity_maps, sincos_2d_position_embedding  # noqa: E402
from vitlesson.shapes import make_shapes, normalize_shapes  # noqa: E402
from vitlesson.train import TEST_SEED, load_trained, tiny_vit  # noqa: E402

ATTENTION_IMAGES = 2  # test images in the attention explorer: 2 x 4 layers x 4 heads x 65 x 65 weights
SCALE = 65535


def _png_data_url(image: torch.Tensor) -> str:
    pixels = (image.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()  # (3, H, W) -> (H, W, 3)
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="png", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def fixed_point(values: torch.Tensor) -> bytes:
    """Values in [0, 1] as little-endian uint16 fixed point."""
    return (values.clamp(0, 1) * SCALE).round().to(torch.int64).numpy().astype("<u2").tobytes()


def photo() -> bytes:
    buffer = io.BytesIO()
    image = (sample_image(384).permute(1, 2, 0) * 255).round().byte().numpy()  # (H, W, 3)
    PIL.Image.fromarray(image).save(buffer, format="webp", quality=82, method=6)
    return buffer.getvalue()


def attention() -> tuple[bytes, bytes]:
    """The shapes model's attention, every layer and head, for the first test images."""
    model, record = load_trained()
    images, labels = make_shapes(ATTENTION_IMAGES, seed=TEST_SEED)
    with torch.no_grad():
        maps = model.get_all_selfattention(normalize_shapes(images))  # (B, depth, heads, T, T)
        answers = model(normalize_shapes(images)).argmax(dim=1)
    names = ["right of", "left of"]
    meta = {
        "model": "the tiny ViT of part 7 (patch 4, 8x8 grid, width 64, 4 blocks of 4 heads), "
                 "trained on the shapes task",
        "accuracy": record["test_accuracy"],
        "test_size": record["test_size"],
        "images": [{"src": _png_data_url(image), "truth": f"square {names[y]} the circle",
                    "model": f"square {names[a]} the circle"}
                   for image, y, a in zip(images, labels.tolist(), answers.tolist())],
        "shape": list(maps.shape),
        "scale": SCALE,
        "grid": list(model.patch_embed.grid_size),
    }
    return fixed_point(maps), json.dumps(meta, sort_keys=True).encode()


def positions() -> tuple[bytes, bytes]:
    """Cosine similarity of every pair of positions, for three tables of the 8x8 grid."""
    torch.manual_seed(0)
    trained, _ = load_trained()
    tables = {
        "trained on shapes": trained.pos_embed.detach()[0, 1:],
        "random initialisation": tiny_vit().pos_embed.detach()[0, 1:],
        "2-D sin-cos": sincos_2d_position_embedding(8, 64),
    }
    maps = torch.stack([cosine_similarity_maps(table, 8).reshape(64, 64) for table in tables.values()])
    meta = {"names": list(tables), "grid": [8, 8], "scale": SCALE, "encoding": "(cosine + 1) / 2"}
    return fixed_point((maps + 1) / 2), json.dumps(meta, sort_keys=True).encode()


def render() -> dict[str, bytes]:
    """Every generated file of the explorers: site path -> bytes."""
    attention_data, attention_meta = attention()
    position_data, position_meta = positions()
    return {
        "explorers/photo.webp": photo(),
        "explorers/attention.bin": attention_data,
        "explorers/attention.json": attention_meta,
        "explorers/positions.bin": position_data,
        "explorers/positions.json": position_meta,
    }


def uint16(data: bytes) -> np.ndarray:
    """Read a .bin file back (for the tests): values in [0, 1]."""
    return np.frombuffer(data, dtype="<u2") / SCALE
