"""Component 1: cutting an image into patches and embedding each patch as a token.

A ViT never sees pixels one by one. It cuts the image into non-overlapping
``P x P`` squares, flattens each square into a vector of ``C * P * P`` numbers and
maps that vector to a ``D``-dimensional token with one shared linear layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check


# --8<-- [start:patchify]
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut a batch of images into flattened patches, row by row (raster order).

    Each patch vector is ordered channel first, then patch row, then patch column:
    the same order as the weight of a ``Conv2d(C, D, kernel_size=P, stride=P)``
    flattened with ``weight.flatten(1)``, which is what makes the two forms equal.
    """
    patch_size = check.positive_int(patch_size, "patch_size")
    check.image_batch(images)
    return _cut_patches(images, patch_size)


def _cut_patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The reshape of :func:`patchify`, for callers that have already checked their input."""
    batch, channels, height, width = images.shape
    rows, cols = check.patch_grid((height, width), patch_size)
    x = images.reshape(batch, channels, rows, patch_size, cols, patch_size)  # (B, C, H/P, P, W/P, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(batch, rows * cols, channels * patch_size * patch_size)  # (B, N, C*P*P)
# --8<-- [end:patchify]


# --8<-- [start:unpatchify]
def unpatchify(patches: torch.Tensor, patch_size: int, img_size) -> torch.Tensor:
    """Put flattened patches back into images: the exact inverse of :func:`patchify`.

    ``img_size`` is the image's ``height`` (square) or ``(height, width)``; the
    number of channels follows from the patch length ``C * P * P``.
    """
    patch_size = check.positive_int(patch_size, "patch_size")
    height, width = check.image_size_pair(img_size)
    rows, cols = check.patch_grid((height, width), patch_size)
    check.float_tensor(patches, "patches")
    if patches.dim() != 3:
        raise ValueError(f"patches must have shape (batch, n_patches, patch_dim), got {tuple(patches.shape)}")
    batch, n_patches, patch_dim = patches.shape
    if n_patches != rows * cols:
        raise ValueError(
            f"Expected {rows * cols} patches for a {height}*{width} image with patch size {patch_size}, got {n_patches}"
        )
    if patch_dim % (patch_size * patch_size):
        raise ValueError(f"patch_dim must be channels * {patch_size}**2, got {patch_dim}")
    channels = patch_dim // (patch_size * patch_size)
    x = patches.reshape(batch, rows, cols, channels, patch_size, patch_size)  # (B, H/P, W/P, C, P, P)
    x = x.permute(0, 3, 1, 4, 2, 5)  # (B, C, H/P, P, W/P, P)
    return x.reshape(batch, channels, height, width)  # (B, C, H, W)
# --8<-- [end:unpatchify]


# --8<-- [start:patch_embedding]
class PatchEmbedding(nn.Module):
    """Turn a batch of images (B, C, H, W) into a sequence of patch tokens (B, N, D).

    The projection is stored as a ``Conv2d`` whose kernel and stride both equal the
    patch size, under the name ``proj``: the layout of DINO and timm checkpoints
    (``patch_embed.proj.weight`` of shape (D, C, P, P)). ``projection`` is the
    lesson's name for the same layer. A conv whose kernel equals its stride is one
    linear map applied to every patch, so the forward pass computes it as exactly
    that: :func:`patchify` followed by a single matrix multiplication, which is the
    fastest way to do this on a CPU (see the Performance page).
    """

    def __init__(self, img_size=224, patch_size=16, in_channels=3, embed_dim=768, *, dynamic_img_size=False):
        super().__init__()
        self.dynamic_img_size = bool(dynamic_img_size)  # accept any size the patches tile exactly
        self.img_size = check.image_size_pair(img_size)
        self.patch_size = check.positive_int(patch_size, "patch_size")
        self.in_channels = check.positive_int(in_channels, "in_channels")
        self.embed_dim = check.positive_int(embed_dim, "embed_dim")
        self.grid_size = check.patch_grid(self.img_size, self.patch_size)  # (H/P, W/P)
        self.n_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        # Same shape, values and state_dict key as any Conv2d kernel, stored so that the
        # (C*P*P, D) matrix of the product below is contiguous: the layout BLAS is fastest with.
        kernel = torch.empty(in_channels, patch_size, patch_size, embed_dim).permute(3, 0, 1, 2)  # (D, C, P, P)
        self.proj.weight = nn.Parameter(kernel.copy_(self.proj.weight.detach()))

    @property
    def projection(self) -> nn.Conv2d:
        """The lesson's name for the patch projection (stored as ``proj``)."""
        return self.proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected_size = None if self.dynamic_img_size else self.img_size
        check.image_batch(x, in_channels=self.in_channels, img_size=expected_size, dtype=self.proj.weight.dtype)
        patches = _cut_patches(x, self.patch_size)  # (B, N, C*P*P)
        weight = self.proj.weight.flatten(1)  # (D, C, P, P) -> (D, C*P*P)
        return F.linear(patches, weight, self.proj.bias)  # (B, N, D)
# --8<-- [end:patch_embedding]


# --8<-- [start:flexible_patch_embedding]
class FlexiblePatchEmbedding(nn.Module):
    """A patch embedding with both textbook forms, for comparing them side by side.

    ``flatten_patches=True``: cut the patches out by hand and apply an
    ``nn.Linear(C*P*P, D)``. ``flatten_patches=False``: one ``nn.Conv2d`` with
    kernel and stride ``P``. Given the same weights (``linear.weight ==
    conv.weight.flatten(1)``) both give the same tokens.
    """

    def __init__(self, img_size=224, patch_size=16, in_channels=3, embed_dim=768, flatten_patches=True):
        super().__init__()
        self.img_size = check.image_size_pair(img_size)
        self.patch_size = check.positive_int(patch_size, "patch_size")
        self.in_channels = check.positive_int(in_channels, "in_channels")
        self.embed_dim = check.positive_int(embed_dim, "embed_dim")
        self.flatten_patches = bool(flatten_patches)
        self.grid_size = check.patch_grid(self.img_size, self.patch_size)  # (H/P, W/P)
        self.n_patches = self.grid_size[0] * self.grid_size[1]
        self.patch_dim = in_channels * patch_size * patch_size
        if self.flatten_patches:
            self.projection = nn.Linear(self.patch_dim, embed_dim)
        else:
            self.projection = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def manual_patching(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, C*P*P), checked against this module's configuration."""
        check.image_batch(x, in_channels=self.in_channels, img_size=self.img_size)
        return _cut_patches(x, self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check.image_batch(x, in_channels=self.in_channels, img_size=self.img_size, dtype=self.projection.weight.dtype)
        if self.flatten_patches:
            return self.projection(self.manual_patching(x))  # (B, N, D)
        x = self.projection(x)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)
# --8<-- [end:flexible_patch_embedding]
