"""Component 3: the CLS token and the complete ViT input embedding.

The CLS token (borrowed from BERT) is one extra learnable vector put in
front of the patch tokens. It has no pixels of its own; through attention it
gathers information from every patch, and its final state is what a
classification head (or DINO's projection head) reads.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vitlesson.patching import PatchEmbedding
from vitlesson.position import PositionalEmbedding


# --8<-- [start:vit_embedding]
class VisionTransformerEmbedding(nn.Module):
    """Images (B, C, H, W) -> tokens (B, N+1, D).

    Patch tokens, the CLS token in front, a position vector added to each.
    """

    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        dropout=0.1,
    ):
        super().__init__()
        self.patch_embedding = PatchEmbedding(
            img_size, patch_size, in_channels, embed_dim
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.normal_(self.cls_token, std=0.02)
        n_patches = self.patch_embedding.n_patches
        self.pos_embedding = PositionalEmbedding(n_patches, embed_dim, dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(images)  # (B, N, D)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)  # (B, 1, D)
        tokens = torch.cat([cls, patches], dim=1)  # (B, N+1, D), CLS first
        return self.pos_embedding(tokens)  # (B, N+1, D)


# --8<-- [end:vit_embedding]
