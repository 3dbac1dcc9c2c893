"""Component 1: cutting an image into patches and embedding each patch.

A ViT never sees pixels one by one. It cuts the image into non-overlapping
``P x P`` squares, flattens each square into a vector of ``C * P * P`` numbers
and maps that vector to a ``D``-dimensional token with one shared linear layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check


def patch_config(
    img_size, patch_size, in_channels=3, embed_dim=768, **flags
) -> tuple[int, int]:
    """Check the sizes of a patch embedding; return its (rows, cols) grid.

    ``img_size`` is an int or (H, W) that the patches tile exactly (nothing
    is cropped); the sizes are positive ints; each keyword flag is a bool.
    """
    H, W = check.patch_embedding_config(
        img_size, patch_size, in_channels, embed_dim, **flags
    )
    return H // patch_size, W // patch_size


# --8<-- [start:patchify]
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*P*P): patches in raster order.

    Inside a patch the numbers go channel, then row, then column: the
    order of a Conv2d kernel flattened with ``weight.flatten(1)``.
    """
    check.patchable(images, patch_size)  # float (B, C, H, W), P tiles H, W
    B, C, H, W = images.shape
    P = patch_size
    rows, cols = H // P, W // P  # the grid of patches
    x = images.reshape(B, C, rows, P, cols, P)  # (B, C, H/P, P, W/P, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(B, rows * cols, C * P * P)  # (B, N, C*P*P)


# --8<-- [end:patchify]


# --8<-- [start:unpatchify]
def unpatchify(patches: torch.Tensor, patch_size: int, img_size):
    """(B, N, C*P*P) -> (B, C, H, W): the exact inverse of :func:`patchify`.

    ``img_size`` is ``H`` (square images) or ``(H, W)``.
    """
    H, W = check.unpatchable(patches, patch_size, img_size)  # (H, W)
    P = patch_size
    rows, cols = H // P, W // P  # the grid of patches
    B, C = patches.shape[0], patches.shape[-1] // (P * P)
    x = patches.reshape(B, rows, cols, C, P, P)  # (B, H/P, W/P, C, P, P)
    x = x.permute(0, 3, 1, 4, 2, 5)  # (B, C, H/P, P, W/P, P)
    return x.reshape(B, C, H, W)  # (B, C, H, W)


# --8<-- [end:unpatchify]


# --8<-- [start:patch_embedding]
class PatchEmbedding(nn.Module):
    """Images (B, C, H, W) -> patch tokens (B, N, D).

    The weights live in a Conv2d with kernel = stride = P, named ``proj``
    as in DINO and timm checkpoints. Such a conv is one matrix applied to
    every patch, and ``forward`` computes it as exactly that product.
    """

    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        *,
        dynamic_img_size=False,
    ):
        super().__init__()
        self.img_size = check.patch_embedding_config(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            dynamic_img_size=dynamic_img_size,
        )  # (H, W), tiled exactly by P x P patches
        self.patch_size, self.in_channels = patch_size, in_channels
        self.embed_dim, self.dynamic_img_size = embed_dim, dynamic_img_size
        H, W = self.img_size
        self.grid_size = (H // patch_size, W // patch_size)  # (rows, cols)
        self.n_patches = self.grid_size[0] * self.grid_size[1]  # N
        self.proj = nn.Conv2d(
            in_channels, embed_dim, kernel_size=patch_size, stride=patch_size
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check.patch_embedding_input(self, images)
        patches = patchify(images, self.patch_size)  # (B, N, C*P*P)
        weight = self.proj.weight.flatten(1)  # (D, C, P, P) -> (D, C*P*P)
        return F.linear(patches, weight, self.proj.bias)  # (B, N, D)


# --8<-- [end:patch_embedding]


class FlexiblePatchEmbedding(nn.Module):
    """A patch embedding in either textbook form, to compare them.

    ``flatten_patches=True``: patchify, then ``nn.Linear(C*P*P, D)``.
    ``flatten_patches=False``: one ``nn.Conv2d`` with kernel = stride = P.
    With ``linear.weight == conv.weight.flatten(1)`` both give one result.
    """

    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        flatten_patches=True,
    ):
        super().__init__()
        self.img_size = check.patch_embedding_config(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            flatten_patches=flatten_patches,
        )  # (H, W)
        self.patch_size, self.flatten_patches = patch_size, flatten_patches
        H, W = self.img_size
        self.grid_size = (H // patch_size, W // patch_size)  # (rows, cols)
        self.n_patches = self.grid_size[0] * self.grid_size[1]
        self.patch_dim = in_channels * patch_size * patch_size
        if flatten_patches:
            self.projection = nn.Linear(self.patch_dim, embed_dim)
        else:
            self.projection = nn.Conv2d(
                in_channels, embed_dim, patch_size, stride=patch_size
            )

    def check_input(self, images: torch.Tensor) -> torch.Tensor:
        weight = self.projection.weight
        return check.image_batch(
            images,
            in_channels=self.patch_dim // self.patch_size**2,
            img_size=self.img_size,
            dtype=weight.dtype,
            device=weight.device,
        )

    def manual_patching(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, C*P*P), checked against this layer."""
        return patchify(self.check_input(images), self.patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.flatten_patches:
            return self.projection(self.manual_patching(images))  # (B, N, D)
        x = self.projection(self.check_input(images))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)
