"""Moving weights between this package's DINO/timm layout and Hugging Face's.

The two layouts hold the same numbers under different names, except for one
real difference: DINO and timm compute queries, keys and values with a single
``qkv`` layer, Hugging Face with three. Splitting the ``qkv`` weight into
thirds, in that order, converts one into the other. The key names are those
of transformers 5.x (``layers.N.attention.q_proj``); transformers 4.x named
them ``encoder.layer.N.attention.attention.query`` and would refuse them.

The second half reads published checkpoints, whatever their layout (DINO's
backbone and full training files, timm, Hugging Face folders), into a model
of this package: :func:`load_vit`.
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vitlesson._validation import plain_number

# --8<-- [start:to_hf]
_RENAMES = [
    (r"^cls_token$", "embeddings.cls_token"),
    (r"^pos_embed$", "embeddings.position_embeddings"),
    (r"^patch_embed\.proj\.", "embeddings.patch_embeddings.projection."),
    (r"^blocks\.(\d+)\.norm1\.", r"layers.\1.layernorm_before."),
    (r"^blocks\.(\d+)\.norm2\.", r"layers.\1.layernorm_after."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"layers.\1.attention.o_proj."),
    (r"^blocks\.(\d+)\.mlp\.", r"layers.\1.mlp."),
    (r"^norm\.", "layernorm."),
]


def to_hf_vit_state_dict(
    state_dict: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Rename a DINO/timm ViT state dict (no head) to ``ViTModel``'s keys."""
    _check_state_dict(state_dict, "state_dict")  # tensors; qkv rows 3D
    converted = {}
    for key, value in state_dict.items():
        qkv = re.match(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$", key)
        if qkv:  # one (3D, ...) tensor -> queries, keys, values: (D, ...)
            block, kind = qkv.groups()
            q, k, v = value.chunk(3, dim=0)
            for name, part in (("q", q), ("k", k), ("v", v)):
                new_key = f"layers.{block}.attention.{name}_proj.{kind}"
                converted[new_key] = part
            continue
        for pattern, replacement in _RENAMES:
            if re.match(pattern, key):
                converted[re.sub(pattern, replacement, key)] = value
                break
        else:
            raise ValueError(
                f"No Hugging Face ViTModel key for {key!r} "
                "(a model with a head? use num_classes=0)"
            )
    return converted


# --8<-- [end:to_hf]


def _check_state_dict(state, name: str) -> None:
    """``state`` must be a state dict: string keys, tensor values (a model,
    a list, NumPy arrays or ``None`` are refused); a ``qkv`` tensor must
    stack three equal parts, (3D, ...)."""
    if not isinstance(state, Mapping):
        hint = (
            ": pass model.state_dict()"
            if isinstance(state, torch.nn.Module)
            else ""
        )
        raise TypeError(
            f"{name} must be a state dict (a dict of tensors), got "
            f"{type(state).__name__}{hint}"
        )
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(
                f"{name} keys must be strings, got {type(key).__name__} "
                f"({key!r})"
            )
        if not isinstance(value, torch.Tensor):
            hint = (
                ": convert it with torch.from_numpy(...)"
                if type(value).__module__ == "numpy"
                else ""
            )
            raise TypeError(
                f"{name}[{key!r}] must be a torch.Tensor, got "
                f"{type(value).__name__}{hint}"
            )
        if re.search(r"\.qkv\.(weight|bias)$", key) and (
            value.dim() == 0 or value.shape[0] % 3
        ):
            raise ValueError(
                f"{name}[{key!r}] must stack queries, keys and values, "
                f"(3D, ...) rows, got shape {tuple(value.shape)}"
            )


# --8<-- [start:hf_reference]
def hf_vit_reference(model):
    """Hugging Face's ``ViTModel`` with ``model``'s sizes and weights.

    ``model`` is a :class:`vitlesson.vit.VisionTransformer` without a head.
    The result is an independent implementation of the same network, to
    compare features and speed against.
    """
    import transformers  # only needed for this comparison

    first = model.blocks[0]
    config = transformers.ViTConfig(
        hidden_size=model.embed_dim,
        num_hidden_layers=model.depth,
        num_attention_heads=first.attn.num_heads,
        intermediate_size=first.mlp.fc1.out_features,
        qkv_bias=first.attn.qkv.bias is not None,
        image_size=model.patch_embed.img_size,
        patch_size=model.patch_embed.patch_size,
        num_channels=model.patch_embed.in_channels,
        layer_norm_eps=1e-6,  # DINO's and timm's; HF's default is 1e-12
        attn_implementation="sdpa",
    )
    reference = transformers.ViTModel(config, add_pooling_layer=False).eval()
    reference.load_state_dict(
        to_hf_vit_state_dict(model.state_dict()), strict=True
    )
    return reference


# --8<-- [end:hf_reference]


# Reading published checkpoints ---------------------------------------------
# Hugging Face's names, in transformers 5.x memory (``layers.N.…``) and on
# disk (``save_pretrained`` and the Hub's DINO models: ``encoder.layer.N.…``).
_FROM_HF = [
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (
        r"^(?:layers|encoder\.layer)\.(\d+)\.layernorm_before\.",
        r"blocks.\1.norm1.",
    ),
    (
        r"^(?:layers|encoder\.layer)\.(\d+)\.layernorm_after\.",
        r"blocks.\1.norm2.",
    ),
    (r"^layers\.(\d+)\.attention\.o_proj\.", r"blocks.\1.attn.proj."),
    (
        r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.",
        r"blocks.\1.attn.proj.",
    ),
    (r"^layers\.(\d+)\.mlp\.", r"blocks.\1.mlp."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "norm."),
]
_HF_QKV = re.compile(
    r"^(?:layers\.(\d+)\.attention\.([qkv])_proj|encoder\.layer"
    r"\.(\d+)\.attention\.attention\.(query|key|value))"
    r"\.(weight|bias)$"
)


def from_hf_vit_state_dict(
    state_dict: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face ``ViTModel`` state dict to DINO/timm's keys:
    the inverse of :func:`to_hf_vit_state_dict`, for both key styles.

    Queries, keys and values are stacked back into one ``qkv`` layer; the
    pooler (not part of DINO's backbone) is left out.
    """
    _check_state_dict(state_dict, "state_dict")
    converted, parts = {}, {}
    for key, value in state_dict.items():
        key = key.removeprefix("vit.")  # ViTFor… models wrap a ViTModel
        if key.startswith("pooler."):
            continue
        qkv = _HF_QKV.match(key)
        if qkv:
            block = qkv.group(1) or qkv.group(3)
            which = (qkv.group(2) or qkv.group(4))[0]  # q, k or v
            parts[f"blocks.{block}.attn.qkv.{qkv.group(5)}", which] = value
            continue
        for pattern, replacement in _FROM_HF:
            if re.match(pattern, key):
                converted[re.sub(pattern, replacement, key)] = value
                break
        else:
            raise ValueError(
                f"Unknown Hugging Face ViT key {key!r}: "
                "expected a ViTModel checkpoint"
            )
    for name in sorted({name for name, _ in parts}):
        missing = [w for w in "qkv" if (name, w) not in parts]
        if missing:
            raise ValueError(
                f"{name} needs query, key and value weights; "
                f"missing {', '.join(missing)}"
            )
        shapes = [tuple(parts[name, w].shape) for w in "qkv"]
        if len(set(shapes)) > 1 or not shapes[0]:
            raise ValueError(
                f"{name}: query, key and value must have one shape, "
                f"got {shapes[0]}, {shapes[1]} and {shapes[2]}"
            )
        converted[name] = torch.cat(
            [parts[name, w] for w in "qkv"]
        )  # 3 x (D, ...) -> (3D, ...)
    return converted


# Heads cannot be read from tensor shapes (the qkv matrix is (3D, D) for any
# number of heads), so they come from the published architectures' widths:
# the package's one such table (vitlesson.vit's factories agree with it; a
# DINO checkpoint's --arch, vit_small or deit_small, names the same width).
HEADS_BY_WIDTH = {
    64: 4,  # this course's tiny ViT (vitlesson.lab.dino.tiny_backbone)
    192: 3,  # ViT-Ti / DeiT-Tiny
    384: 6,  # ViT-S: dino_vits16, dino_vits8
    768: 12,  # ViT-B: dino_vitb16, dino_vitb8
    1024: 16,  # ViT-L
}
_WRAPPERS = ("teacher", "student", "model", "state_dict")


def _whole_number(value, what: str) -> int:
    """A positive count read from a file (JSON, metadata strings) or given
    by the caller: ``6`` or ``"6"``, never ``"six"``, ``4.5`` or ``True``
    (a NumPy or 0-d tensor integer is the number it holds)."""
    value = plain_number(value)
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # numpy's integers
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{what} must be a positive whole number, got {value!r}"
        )
    return value


def _image_size(value, what: str) -> tuple[int, int]:
    """``224``, ``[32, 16]``, ``"32x16"`` or ``"32,16"`` as (height, width)."""
    if isinstance(value, str):
        parts = re.split(r"\s*[x×,]\s*", value.strip().strip("()[]"))
        value = parts[0] if len(parts) == 1 else parts
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (
            _whole_number(value[0], f"{what}[0]"),
            _whole_number(value[1], f"{what}[1]"),
        )
    if isinstance(value, (list, tuple)):
        raise ValueError(
            f"{what} must be a size or (height, width), got {value!r}"
        )
    side = _whole_number(value, what)
    return side, side


def _read_file(path) -> tuple[dict, dict]:
    """The raw dictionary stored in ``path`` and what its file says about
    the architecture (``num_heads`` and ``img_size`` from a Hugging Face
    config, safetensors metadata or a saved ``config`` entry)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "path must name a checkpoint file or Hugging Face "
            f"folder (str or Path), got {type(path).__name__}"
        )
    if not str(path).strip():
        raise ValueError("path is empty: name a checkpoint file or folder")
    path = Path(path)
    hints: dict[str, Any] = {}
    if path.is_dir():  # a Hugging Face save_pretrained folder
        config_file = path / "config.json"
        files = [path / n for n in ("model.safetensors", "pytorch_model.bin")]
        found = [f for f in files if f.exists()]
        if not config_file.exists() or not found:
            raise ValueError(
                f"{path} is a folder but not a Hugging Face model: expected "
                "config.json and model.safetensors or pytorch_model.bin in it"
            )
        try:
            settings = json.loads(config_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(
                f"{config_file} is not valid JSON ({error}): expected "
                "a Hugging Face model config"
            ) from None
        if not isinstance(settings, dict):
            raise ValueError(
                f"{config_file} holds a {type(settings).__name__}, "
                "expected a JSON object (a model config)"
            )
        if "num_attention_heads" in settings:
            hints["num_heads"] = _whole_number(
                settings["num_attention_heads"],
                f"{config_file}: num_attention_heads",
            )
        if "image_size" in settings:
            hints["img_size"] = _image_size(
                settings["image_size"], f"{config_file}: image_size"
            )
        path = found[0]
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}")
    if path.stat().st_size == 0:
        raise ValueError(
            f"{path} is empty (0 bytes): expected a file written "
            "by torch.save or safetensors"
        )
    if path.suffix == ".safetensors":
        try:
            from safetensors import SafetensorError
            from safetensors.torch import load_file, safe_open
        except ImportError as error:
            raise ImportError(
                "Reading .safetensors files needs the "
                "safetensors package: pip install "
                "safetensors"
            ) from error
        try:
            with safe_open(str(path), framework="pt") as file:
                metadata = file.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(
                f"Could not read {path} as a safetensors file: "
                f"{_first_line(error)}"
            ) from None
        if "num_heads" in metadata:
            hints["num_heads"] = _whole_number(
                metadata["num_heads"], f"{path}: metadata num_heads"
            )
        if "img_size" in metadata:
            hints["img_size"] = _image_size(
                metadata["img_size"], f"{path}: metadata img_size"
            )
        return tensors, hints
    try:  # DINO's full checkpoints store their argparse options too
        with torch.serialization.safe_globals([argparse.Namespace]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip, EOF, KeyError of a text file
        with open(path, "rb") as handle:
            head = handle.read(8)
        if not head.startswith((b"PK", b"\x80")):  # zip, or a pickle
            raise ValueError(
                f"Could not read {path} as a PyTorch checkpoint: it starts "
                f"with {head!r}, not like a file written by torch.save (a "
                "zip archive) or a .safetensors file; expected weights"
            ) from None
        raise ValueError(
            f"Could not read {path} as a PyTorch checkpoint (expected a file "
            "written by torch.save, a .safetensors file or a Hugging Face "
            f"model folder): {_first_line(error)}"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(
            f"{path} holds a {type(state).__name__}, expected a "
            "dictionary of tensors (a state dict)"
        )
    saved = state.get("config")  # a training script's own settings
    config = saved if isinstance(saved, dict) else {}
    holder: dict
    for where, holder in (("img_size", state), ("config['img_size']", config)):
        if "img_size" in holder and not isinstance(
            holder["img_size"], torch.Tensor
        ):
            hints["img_size"] = _image_size(
                holder["img_size"], f"{path}: {where}"
            )
    return state, hints


def _first_line(error: BaseException) -> str:
    """An exception as one line: its type where its message is empty."""
    lines = str(error).strip().splitlines()
    return (
        f"{type(error).__name__}: {lines[0]}"
        if lines
        else type(error).__name__
    )


def backbone_state_dict(
    state: dict, checkpoint_key: str = "teacher"
) -> dict[str, torch.Tensor]:
    """The ViT backbone's weights, in DINO/timm names, from any of:

    - a backbone state dict (DINO's ``dino_vits16_pretrain.pth``, timm);
    - a full training checkpoint with ``teacher``/``student`` entries whose
      keys start with ``module.`` and ``backbone.`` (DINO's
      ``…_full_checkpoint.pth``), or a ``model``/``state_dict`` entry;
    - a Hugging Face ``ViTModel`` state dict.

    DINO's projection head, kept beside the backbone in a full checkpoint,
    is left out, as DINO's ``visualize_attention.py`` does.
    """
    _check_checkpoint(state, checkpoint_key)
    if checkpoint_key in state and isinstance(state[checkpoint_key], dict):
        state = state[checkpoint_key]
    elif not any(isinstance(v, torch.Tensor) for v in state.values()):
        entries = [k for k in _WRAPPERS if isinstance(state.get(k), dict)]
        if not entries:
            raise ValueError(
                f"No tensors and no {checkpoint_key!r} entry in the "
                f"checkpoint: found entries {sorted(map(str, state))[:8]}"
            )
        if checkpoint_key in _WRAPPERS[:2] and entries[0] in _WRAPPERS[:2]:
            raise ValueError(
                f"No {checkpoint_key!r} entry in the "
                f"checkpoint; it has {entries}"
            )
        state = state[entries[0]]
    _refuse_arrays(state)
    state = {
        k.removeprefix("module."): v
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }
    if any(k.startswith("backbone.") for k in state):
        state = {
            k.removeprefix("backbone."): v
            for k, v in state.items()
            if k.startswith("backbone.")
        }
    if any(
        re.match(r"^(vit\.)?(embeddings|encoder\.layer|layers)\.", k)
        for k in state
    ):
        state = from_hf_vit_state_dict(state)
    return state


def _check_checkpoint(state, checkpoint_key) -> None:
    """A checkpoint's dictionary, and its ``checkpoint_key`` entry (when
    it is the only way in) a state dict rather than a number or a list."""
    if not isinstance(checkpoint_key, str):
        raise TypeError(
            "checkpoint_key must be a string such as 'teacher', "
            f"got {type(checkpoint_key).__name__}"
        )
    if not isinstance(state, Mapping):
        hint = (
            ": pass model.state_dict()"
            if isinstance(state, torch.nn.Module)
            else ""
        )
        raise TypeError(
            "state must be a checkpoint's dictionary (a state dict), got "
            f"{type(state).__name__}{hint}"
        )
    _refuse_arrays(state)
    entry = state.get(checkpoint_key)
    if (
        checkpoint_key in state
        and not isinstance(entry, Mapping)
        and not any(isinstance(v, torch.Tensor) for v in state.values())
    ):
        raise ValueError(
            f"state[{checkpoint_key!r}] is not a state dict (a dict of "
            f"tensors), got {type(entry).__name__} ({entry!r:.60})"
        )


def _refuse_arrays(state: Mapping) -> None:
    """NumPy arrays where tensors belong would be dropped as settings."""
    arrays = [k for k, v in state.items() if type(v).__module__ == "numpy"]
    if arrays:
        raise TypeError(
            f"state[{arrays[0]!r}] must be a torch.Tensor, got "
            f"{type(state[arrays[0]]).__name__}: convert it with "
            "torch.from_numpy(...)"
        )


def architecture(
    state: dict[str, torch.Tensor], num_heads: int | None = None, img_size=None
) -> dict:
    """The ``VisionTransformer`` arguments that fit a backbone state dict,
    read from its tensor shapes (heads from ``num_heads`` or the width).

    A position table of a square number of patches is a square grid; any
    other (the package's ``img_size=(32, 16)``) needs ``img_size``, since
    8 positions may be 4×2, 2×4 or 8×1 patches.
    """
    _check_state_dict(state, "state")
    required = [
        "cls_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "norm.weight",
    ]
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(
            f"Not a ViT backbone: missing {missing} (expected DINO/timm keys "
            f"such as 'blocks.0.attn.qkv.weight'; found "
            f"{sorted(state)[:6]}{' …' if len(state) > 6 else ''})"
        )
    patch = state["patch_embed.proj.weight"]  # (D, C, P, P)
    if patch.dim() != 4 or patch.shape[-1] != patch.shape[-2]:
        raise ValueError(
            "patch_embed.proj.weight must have shape (width, "
            "channels, patch, patch), got "
            f"{tuple(patch.shape)}"
        )
    dim = patch.shape[0]
    for key, shape in (
        ("cls_token", (1, 1, dim)),
        ("pos_embed", (1, "N+1", dim)),
    ):
        got = tuple(state[key].shape)
        if len(got) != 3 or got[0] != 1 or got[2] != dim:
            raise ValueError(
                f"{key} must have shape {shape} for a "
                f"{dim}-wide patch embedding, got {got}"
            )
    depth = 1 + max(
        (
            int(m.group(1))
            for k in state
            if (m := re.match(r"^blocks\.(\d+)\.", k))
        ),
        default=-1,
    )
    if depth == 0:
        raise ValueError(
            "Not a ViT backbone: no transformer blocks (expected "
            "keys blocks.0.attn.qkv.weight, blocks.0.mlp.fc1."
            "weight, …; found only "
            f"{sorted(state)[:6]}{' …' if len(state) > 6 else ''})"
        )
    for key in ("blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight"):
        if key not in state:
            raise ValueError(
                f"Not a ViT backbone: {depth} blocks but no {key!r}"
            )
    n_patches = state["pos_embed"].shape[1] - 1
    size = patch.shape[-1]
    if img_size is not None:
        height, width = _image_size(img_size, "img_size")
        if (
            height % size
            or width % size
            or ((height // size) * (width // size) != n_patches)
        ):
            raise ValueError(
                f"img_size={img_size!r} does not fit the checkpoint: its "
                f"position table holds {n_patches} patches of {size} pixels"
            )
        img = height if height == width else (height, width)
    else:
        side = math.isqrt(n_patches)
        if side * side != n_patches:
            raise ValueError(
                f"pos_embed holds {n_patches} patch positions, not a square "
                "grid: pass the training size, img_size=(height, width) "
                "(--img-size HEIGHT WIDTH)"
            )
        img = side * size
    if num_heads is None:
        if dim not in HEADS_BY_WIDTH:
            raise ValueError(
                f"Cannot tell the number of heads of a {dim}-wide ViT from "
                f"its weights; known widths: {sorted(HEADS_BY_WIDTH)}. Pass "
                "num_heads (--num-heads)"
            )
        num_heads = HEADS_BY_WIDTH[dim]
    num_heads = _whole_number(num_heads, "num_heads")
    head = state.get("head.weight")
    return dict(
        img_size=img,
        patch_size=size,
        in_channels=patch.shape[1],
        embed_dim=dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        num_classes=0 if head is None else head.shape[0],
    )


def load_vit(
    path,
    checkpoint_key: str = "teacher",
    num_heads: int | None = None,
    img_size=None,
):
    """A :class:`~vitlesson.vit.VisionTransformer` (eval mode, any image
    size) with the weights of a checkpoint file or Hugging Face folder,
    loaded strictly: every tensor must find its place and every place its
    tensor. Returns the model and its architecture.

    ``num_heads`` and ``img_size`` (the training size, needed only for a
    position table that is not square) override what the file says.
    Anything unreadable raises a one-line ``ValueError`` (``TypeError`` for
    an argument of the wrong type) naming the file and what was expected.
    """
    from vitlesson.vit import VisionTransformer

    if not isinstance(checkpoint_key, str):
        raise TypeError(
            "checkpoint_key must be a string such as 'teacher', "
            f"got {type(checkpoint_key).__name__}"
        )
    if num_heads is not None:
        num_heads = _whole_number(num_heads, "num_heads")
    raw, hints = _read_file(path)
    state = backbone_state_dict(raw, checkpoint_key)
    if num_heads is None:
        num_heads = hints.get("num_heads")
    hinted, table = hints.get("img_size"), state.get("pos_embed")
    if img_size is None and hinted and isinstance(table, torch.Tensor):
        size = state.get("patch_embed.proj.weight")
        patch = size.shape[-1] if isinstance(size, torch.Tensor) else 0
        if patch and (hinted[0] // patch) * (hinted[1] // patch) == (
            table.shape[1] - 1 if table.dim() == 3 else -1
        ):
            img_size = hinted  # a config's size that fits the table
    try:
        config = architecture(state, num_heads, img_size)
        model = VisionTransformer(**config, dynamic_img_size=True)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        reason = " ".join(str(error).split())  # one line
        raise ValueError(
            f"{path} does not fit a ViT with {config}: {reason}"
        ) from None
    return model.eval(), config
