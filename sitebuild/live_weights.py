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

from vitlesson.lab.dino.evaluation import DINO_WEIGHTS, load_backbone
from vitlesson.lab.train import WEIGHTS, load_trained
from vitlesson.vit import VisionTransformer


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


def render() -> dict[str, bytes]:
    """Every live model's script: site path -> bytes."""
    return {
        f"live/{name}.js": script(name, exported(model, weights))
        for name, (model, weights) in shipped_models().items()
    }


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
