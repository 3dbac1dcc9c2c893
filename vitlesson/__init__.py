"""vitlesson: the code of Lesson 1.2, "Vision Transformers (ViT) Primer"."""

from vitlesson.embedding import VisionTransformerEmbedding
from vitlesson.patching import (
    FlexiblePatchEmbedding,
    PatchEmbedding,
    patchify,
    unpatchify,
)
from vitlesson.position import (
    PositionalEmbedding,
    resample_position_embedding,
    sincos_2d_position_embedding,
)
from vitlesson.vit import VisionTransformer, vit_base, vit_small, vit_tiny

__all__ = [
    "FlexiblePatchEmbedding",
    "PatchEmbedding",
    "PositionalEmbedding",
    "VisionTransformer",
    "VisionTransformerEmbedding",
    "patchify",
    "resample_position_embedding",
    "sincos_2d_position_embedding",
    "unpatchify",
    "vit_base",
    "vit_small",
    "vit_tiny",
]
