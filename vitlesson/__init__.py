"""vitlesson: the code of Lesson 1.2, "Vision Transformers (ViT) Primer".

The tree follows the course. At the top, the lesson's concepts, one module
each: ``patching`` (images as patch tokens), ``position`` (position
embeddings), ``embedding`` (CLS token and the embedding layer), ``vit`` (the
encoder), ``costs`` (what a configuration costs) and ``exercises`` (the
checks of the exercise at the end of each part); ``data`` and ``figures``
make the images and drawings the pages show. ``lab`` is what the lab trains
and measures (``train``: the tiny ViT on shapes; ``dino``: DINO in
miniature; ``probes``), ``tools`` the standalone tools (``bench``,
``checkpoints``, ``attention``). Modules whose names start with ``_`` are
shared plumbing.
"""

from vitlesson import _moved
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

_moved.install()

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
