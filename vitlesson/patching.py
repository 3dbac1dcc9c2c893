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
    (H, W), P, _, _ = _checked_size(
        img_size, patch_size, in_channels, embed_dim, **flags
    )
    return H // P, W // P


# --8<-- [start:patchify]
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*P*P): patches in raster order.

    Inside a patch the numbers go channel, then row, then column: the
    order of a Conv2d kernel flattened with ``weight.flatten(1)``.
    """
    _check_patchable(images, patch_size)  # float (B, C, H, W), P tiles H, W
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
    H, W = _checked_unpatch_size(patches, patch_size, img_size)  # (H, W)
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

    ``proj`` is a Conv2d with kernel = stride = P, named as in DINO and
    timm checkpoints: (B, C, H, W) -> (B, D, H/P, W/P), one D-vector per
    patch, which ``forward`` lays out as a sequence of N = H/P * W/P tokens.
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
        self.img_size, patch_size, in_channels, embed_dim = _checked_size(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            dynamic_img_size=dynamic_img_size,
        )  # (H, W), tiled exactly by P x P patches; sizes as Python ints
        self.patch_size, self.in_channels = patch_size, in_channels
        self.embed_dim, self.dynamic_img_size = embed_dim, dynamic_img_size
        H, W = self.img_size
        self.grid_size = (H // patch_size, W // patch_size)  # (rows, cols)
        self.n_patches = self.grid_size[0] * self.grid_size[1]  # N
        self.proj = PatchProjection(in_channels, embed_dim, patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_input(self, images)
        x = self.proj(images)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)


# --8<-- [end:patch_embedding]


# --8<-- [start:patch_projection]
class PatchProjection(nn.Conv2d):
    """A Conv2d with kernel = stride = P, computed the faster of two ways.

    Such a conv applies one (D, C*P*P) matrix to every patch, so cutting the
    patches out and multiplying once gives the same numbers. On the CPU we
    measured (see the Performance page), PyTorch's convolution is the faster
    form for patches of up to 28 pixels and about twice as slow from 32 on,
    where the matrix product takes over. Weights, input and output are the
    conv's either way, so checkpoints load and forward hooks see a Conv2d.
    """

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int):
        super().__init__(in_channels, embed_dim, patch_size, patch_size)
        self.as_matmul = patch_size >= MATMUL_FROM_PATCH_SIZE

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        P, D = self.stride[0], self.out_channels
        if not self.as_matmul:
            _check_patchable(images, P)  # as patchify: never a silent crop
            return super().forward(images)  # (B, D, H/P, W/P)
        patches = patchify(images, P)  # (B, N, C*P*P), N = H/P * W/P
        B, _, H, W = images.shape  # checked by patchify
        weight = self.weight.flatten(1)  # (D, C, P, P) -> (D, C*P*P)
        tokens = F.linear(patches, weight, self.bias)  # (B, N, D)
        grid = tokens.view(B, H // P, W // P, D)  # (B, H/P, W/P, D)
        return grid.permute(0, 3, 1, 2)  # (B, D, H/P, W/P), no copy


# The smallest patch that PatchProjection multiplies instead of convolving.
MATMUL_FROM_PATCH_SIZE = 32


# --8<-- [end:patch_projection]


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
        self.img_size, patch_size, in_channels, embed_dim = _checked_size(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            flatten_patches=flatten_patches,
        )  # (H, W) and the sizes as Python ints
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


# --- checks of this module's arguments ---------------------------------------


def _check_patchable(images, patch_size) -> None:
    """A float (B, C, H, W) batch whose sides ``patch_size`` tiles exactly."""
    check.image_batch(images)
    patch_size = check.positive_int(patch_size, "patch_size")
    if 0 in images.shape[1:]:
        raise ValueError(
            "images must have at least one channel, row and column, got "
            f"shape {tuple(images.shape)}: there are no patches to cut"
        )
    check.patch_grid(images.shape[-2:], patch_size)


def _checked_size(
    img_size, patch_size, in_channels, embed_dim, **flags
) -> tuple[tuple[int, int], int, int, int]:
    """Check a patch embedding's settings; return ``img_size`` as (H, W)
    and the three other sizes as Python ints (a NumPy or 0-d tensor size
    is the number it holds).

    The sizes are positive ints, the patches tile the image exactly (nothing
    is cropped), each keyword flag is a bool, and the (D, C, P, P) kernel
    fits in memory.
    """
    for name, value in flags.items():
        check.boolean(value, name)
    size = check.image_size_pair(img_size)
    patch_size = check.positive_int(patch_size, "patch_size")
    in_channels = check.positive_int(in_channels, "in_channels")
    embed_dim = check.positive_int(embed_dim, "embed_dim")
    check.patch_grid(size, patch_size)
    check.fits_in_memory(
        (embed_dim, in_channels, patch_size, patch_size),
        f"A patch kernel of {embed_dim} x {in_channels} x {patch_size} x "
        f"{patch_size}",
    )
    return size, patch_size, in_channels, embed_dim


def _check_input(layer: PatchEmbedding, images) -> None:
    """Check a batch against a PatchEmbedding (any tiling size if dynamic)."""
    weight = layer.proj.weight
    check.image_batch(
        images,
        in_channels=layer.in_channels,
        img_size=None if layer.dynamic_img_size else layer.img_size,
        dtype=weight.dtype,
        device=weight.device,
    )
    height, width = images.shape[-2:]
    if min(height, width) < layer.patch_size:
        raise ValueError(
            f"Image size ({height}*{width}) is smaller than one patch "
            f"({layer.patch_size}*{layer.patch_size}): nothing to embed"
        )


def _checked_unpatch_size(patches, patch_size, img_size) -> tuple[int, int]:
    """Check (B, N, C*P*P) patches for :func:`unpatchify`; return (H, W)."""
    size = check.image_size_pair(img_size)
    patch_size = check.positive_int(patch_size, "patch_size")
    rows, cols = check.patch_grid(size, patch_size)
    check.float_tensor(patches, "patches")
    if patches.dim() != 3:
        raise ValueError(
            "patches must have shape (batch, n_patches, patch_dim), "
            f"got {tuple(patches.shape)}"
        )
    got, patch_dim = patches.shape[1:]
    if got != rows * cols:
        raise ValueError(
            f"Expected {rows * cols} patches for a {size[0]}*{size[1]} "
            f"image with patch size {patch_size}, got {got}"
        )
    if patch_dim % (patch_size * patch_size) or not patch_dim:
        raise ValueError(
            f"patch_dim must be channels * {patch_size}**2, got {patch_dim}"
        )
    return size
