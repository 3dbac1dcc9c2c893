"""The shipped weights as scripts the page's live model reads.

Imported by sitebuild/live_model.py only when the scripts have to be made (a
cache miss). Each model's script, ``live/<name>.js``, sets
``window.vlLiveWeights[name]``: the model's sizes and every tensor of its
state dict, in the state dict's order, as little-endian float32 in base64.
The numbers are the checkpoint's own (no rounding), so the page's forward
pass (docs/javascripts/vit-live.js) can equal PyTorch's. A script, not a
.json or .bin file, because a page opened from disk (file://) may load a
script but Chromium refuses it ``fetch()``.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import torch

from vitlesson.data.objects import CLASSES, make_objects
from vitlesson.data.shapes import make_shapes, normalize_shapes
from vitlesson.lab.dino.evaluation import (
    BANK_SEED,
    BANK_SIZE,
    DINO_WEIGHTS,
    load_backbone,
)
from vitlesson.lab.probes import cls_features
from vitlesson.lab.train import TEST_SEED, TEST_SIZE, WEIGHTS, load_trained
from vitlesson.vit import VisionTransformer

# The shapes model's classes, by output index (make_shapes' labels).
SHAPES_CLASSES = ["square right of the circle", "square left of the circle"]
EXAMPLES = 8  # test images the drawing widget can start from
PER_CLASS = 12  # images of each class in the page's k-NN bank


def shipped_models() -> dict[str, tuple[VisionTransformer, str]]:
    """Each live model's name -> (the shipped model in eval mode, the
    file its weights come from); the names are those of the page's
    ``vitlessonLive.models``."""
    return {
        "tiny-shapes": (load_trained()[0], WEIGHTS.name),
        "dino-tiny": (load_backbone(DINO_WEIGHTS), DINO_WEIGHTS.name),
    }


def config(model: VisionTransformer) -> dict:
    """The sizes the forward pass needs, read from the model itself."""
    embed = model.patch_embed
    return {
        "img_size": list(embed.img_size),
        "patch_size": embed.patch_size,
        "in_channels": embed.in_channels,
        "embed_dim": model.embed_dim,
        "depth": model.depth,
        "num_heads": model.blocks[0].attn.num_heads,
        "mlp_hidden": model.blocks[0].mlp.fc1.out_features,
        "num_classes": model.num_classes,
        "eps": model.norm.eps,
    }


def exported(model: VisionTransformer, weights: str) -> dict:
    """The value of one model's script: sizes, tensor names and shapes,
    and all the numbers as float32 in one base64 string."""
    state = model.state_dict()
    data = b"".join(
        tensor.detach().contiguous().numpy().astype("<f4").tobytes()
        for tensor in state.values()
    )
    return {
        "weights": weights,
        "config": config(model),
        "tensors": [[name, list(t.shape)] for name, t in state.items()],
        "data": base64.b64encode(data).decode(),
    }


def script(name: str, value: dict) -> bytes:
    """A script that hands ``value`` to docs/javascripts/vit-live.js."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return (
        "// Made by the site build (sitebuild/live_weights.py) from "
        f"vitlesson/weights/{value['weights']}; do not edit.\n"
        "window.vlLiveWeights = window.vlLiveWeights || {};\n"
        f"window.vlLiveWeights[{json.dumps(name)}] = {text};\n"
    ).encode()


def shapes_examples() -> dict:
    """The first test images of the shapes task, each as its background
    colour and its two shapes (the pixels each covers, row * 32 + column,
    and its colour): the widget rebuilds every image exactly, and can move
    and recolour its shapes."""
    images, labels = make_shapes(TEST_SIZE, seed=TEST_SEED)
    examples = []
    first = zip(images[:EXAMPLES], labels[:EXAMPLES].tolist(), strict=True)
    for image, label in first:
        pixels = image.flatten(1).T  # (3, H, W) -> (H*W, 3)
        colours, which = pixels.unique(dim=0, return_inverse=True)
        counts = torch.bincount(which, minlength=len(colours))
        if len(colours) != 3:
            raise ValueError(f"a shapes image of {len(colours)} colours")
        background = int(counts.argmax())
        shapes = {}
        for index, colour in enumerate(colours.tolist()):
            if index == background:
                continue
            kind = "square" if colour[0] > colour[2] else "circle"  # warm
            shapes[kind] = {
                "colour": colour,
                "pixels": (which == index).nonzero()[:, 0].tolist(),
            }
        examples.append(
            {
                "background": colours[background].tolist(),
                "square": shapes["square"],
                "circle": shapes["circle"],
                "label": label,
            }
        )
    return {
        "weights": WEIGHTS.name,
        "classes": SHAPES_CLASSES,
        "test_seed": TEST_SEED,
        "examples": examples,
    }


def bank_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The page's small k-NN bank: the first :data:`PER_CLASS` images of
    each class in the labelled bank DINO's k-NN votes with (seed
    ``BANK_SEED``), in bank order, stored at 8 bits per channel: images
    (n, 3, 32, 32) as uint8, and their classes (n,)."""
    images, _, labels = make_objects(BANK_SIZE, seed=BANK_SEED)
    chosen = (
        torch.cat(
            [
                (labels == c).nonzero()[:PER_CLASS, 0]
                for c in range(len(CLASSES))
            ]
        )
        .sort()
        .values
    )  # (4 * PER_CLASS,) bank indices, in bank order
    stored = (images[chosen] * 255).round().to(torch.uint8)
    return stored, labels[chosen]


def objects_bank() -> dict:
    """The bank as the page reads it: images (uint8, base64), classes,
    and the shipped DINO teacher's unit CLS features of the images
    (float32, base64, computed as ``cls_features`` does, on ``images /
    255`` normalised), so the page finds neighbours without running the
    bank; for a learner's own weights it runs it."""
    stored, labels = bank_images()
    model = load_backbone(DINO_WEIGHTS)
    features = cls_features(model, normalize_shapes(stored.float() / 255))
    return {
        "weights": DINO_WEIGHTS.name,
        "classes": list(CLASSES),
        "bank_seed": BANK_SEED,
        "labels": labels.tolist(),
        "images": base64.b64encode(stored.numpy().tobytes()).decode(),
        "features": base64.b64encode(
            features.numpy().astype("<f4").tobytes()
        ).decode(),
    }


def render() -> dict[str, bytes]:
    """Every live model's script, and the shapes examples: site path ->
    bytes."""
    scripts = {
        f"live/{name}.js": script(name, exported(model, weights))
        for name, (model, weights) in shipped_models().items()
    }
    text = json.dumps(shapes_examples(), sort_keys=True, separators=(",", ":"))
    scripts["live/shapes-examples.js"] = (
        "// Made by the site build (sitebuild/live_weights.py) from "
        "vitlesson.data.shapes; do not edit.\n"
        f"window.vlLiveShapes = {text};\n"
    ).encode()
    text = json.dumps(objects_bank(), sort_keys=True, separators=(",", ":"))
    scripts["live/objects-bank.js"] = (
        "// Made by the site build (sitebuild/live_weights.py) from "
        "vitlesson.data.objects and vitlesson/weights/dino-tiny.pt; do not "
        "edit.\n"
        f"window.vlLiveObjects = {text};\n"
    ).encode()
    return scripts


def read_script(content: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """A script read back (for the tests): its value, and its tensors by
    name."""
    text = content.decode()
    value = json.loads(text[text.rindex("] = ") + 4 :].strip().rstrip(";"))
    flat = np.frombuffer(base64.b64decode(value["data"]), dtype="<f4")
    tensors, start = {}, 0
    for name, shape in value["tensors"]:
        size = int(np.prod(shape, dtype=np.int64))
        part = flat[start : start + size].reshape(shape)  # as in the model
        tensors[name] = torch.from_numpy(part.copy())
        start += size
    if start != flat.size:
        raise ValueError(
            f"the script holds {flat.size} numbers, its tensors {start}"
        )
    return value, tensors
