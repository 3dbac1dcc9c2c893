"""vitlesson: the code of Lesson 1.2, "Vision Transformers (ViT) Primer"."""

from vitlesson.embedding import VisionTransformerEmbedding
from vitlesson.patching import FlexiblePatchEmbedding, PatchEmbedding, patchify, unpatchify
from vitlesson.position import PositionalEmbedding, sincos_2d_position_embedding

__all__ = [
    "FlexiblePatchEmbedding",
    "PatchEmbedding",
    "PositionalEmbedding",
    "VisionTransformerEmbedding",
    "patchify",
    "sincos_2d_position_embedding",
    "unpatchify",
]
