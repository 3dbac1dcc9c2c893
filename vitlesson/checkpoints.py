"""Moving weights between this package's DINO/timm layout and Hugging Face's.

The two layouts hold the same numbers under different names, except for one
real difference: DINO and timm compute queries, keys and values with a single
``qkv`` layer, Hugging Face with three. Splitting the ``qkv`` weight into
thirds, in that order, converts one into the other. The key names are those
of transformers 5.x (``layers.N.attention.q_proj``); transformers 4.x named
them ``encoder.layer.N.attention.attention.query`` and would refuse them.
"""

from __future__ import annotations

import re

import torch

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
    converted = {}
    for key, value in state_dict.items():
        qkv = re.match(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$", key)
        if qkv:
            block, kind = qkv.groups()
            for name, part in zip(
                "qkv", value.chunk(3, dim=0)
            ):  # (3D, ...) -> 3 x (D, ...)
                converted[f"layers.{block}.attention.{name}_proj.{kind}"] = (
                    part
                )
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
