"""Input checks shared by every module.

Each check raises a ``ValueError`` or ``TypeError`` whose message names what was
expected and what was given, so a learner sees the mistake in their own terms
instead of a shape error from deep inside a matrix multiplication.
"""

from __future__ import annotations

import math
import os

import torch


def positive_int(value, name: str) -> int:
    """Return ``value`` if it is a positive ``int``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} ({value!r})"
        )
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def non_negative_int(value, name: str) -> int:
    """Return ``value`` if it is an ``int`` >= 0; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} ({value!r})"
        )
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value}")
    return value


def image_size_pair(img_size, name: str = "img_size") -> tuple[int, int]:
    """Turn ``224`` or ``(224, 160)`` into a ``(height, width)`` pair of positive ints."""
    if isinstance(img_size, (tuple, list)):
        if len(img_size) != 2:
            raise ValueError(
                f"{name} must be an int or a (height, width) pair, got {img_size!r}"
            )
        return positive_int(img_size[0], f"{name}[0] (height)"), positive_int(
            img_size[1], f"{name}[1] (width)"
        )
    size = positive_int(img_size, name)
    return size, size


def patch_grid(img_size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Rows and columns of patches, refusing a size the patches do not tile exactly."""
    height, width = img_size
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"Image size ({height}*{width}) is not divisible by patch size {patch_size}: "
            f"use a multiple of {patch_size} such as {height - height % patch_size or patch_size}"
            f"*{width - width % patch_size or patch_size} (nothing is cropped silently)"
        )
    return height // patch_size, width // patch_size


def float_tensor(
    x, name: str, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Require a floating-point tensor, of ``dtype`` when one is given (the module's parameters)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {x.dtype}: "
            "convert images with x.float() / 255 (or a normalising transform) first"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but the module's parameters are {dtype}: call x.to({dtype})"
        )
    return x


def image_batch(
    x,
    *,
    in_channels: int | None = None,
    img_size: tuple[int, int] | None = None,
    dtype=None,
) -> torch.Tensor:
    """Check a (B, C, H, W) batch: a float tensor of rank 4 with the expected channels and size."""
    float_tensor(x, "images", dtype=dtype)
    if x.dim() != 4:
        raise ValueError(
            f"images must have shape (batch, channels, height, width), got {x.dim()} dimensions "
            f"{tuple(x.shape)}"
            + (
                ": add a batch dimension with x.unsqueeze(0)"
                if x.dim() == 3
                else ""
            )
        )
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(
            f"Expected {in_channels} input channels, got {x.shape[1]} (images of shape {tuple(x.shape)})"
        )
    if img_size is not None and tuple(x.shape[-2:]) != tuple(img_size):
        raise ValueError(
            f"Input image size ({x.shape[-2]}*{x.shape[-1]}) doesn't match model "
            f"({img_size[0]}*{img_size[1]})"
        )
    return x


def boolean(value, name: str) -> bool:
    """Return ``value`` if it is a bool: a string such as "False" is refused."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} must be True or False, got {type(value).__name__} "
            f"({value!r})"
        )
    return value


def patch_sequence(patches, n_patches: int, patch_size: int, img_size):
    """Check (B, N, C*P*P) patches for an image; return (B, N, C)."""
    float_tensor(patches, "patches")
    if patches.dim() != 3:
        raise ValueError(
            "patches must have shape (batch, n_patches, patch_dim), "
            f"got {tuple(patches.shape)}"
        )
    batch, got, patch_dim = patches.shape
    if got != n_patches:
        raise ValueError(
            f"Expected {n_patches} patches for a {img_size[0]}*{img_size[1]} "
            f"image with patch size {patch_size}, got {got}"
        )
    if patch_dim % (patch_size * patch_size):
        raise ValueError(
            f"patch_dim must be channels * {patch_size}**2, got {patch_dim}"
        )
    return batch, got, patch_dim // (patch_size * patch_size)


def patch_embedding_config(
    layer, img_size, patch_size, in_channels, embed_dim, dynamic_img_size
) -> None:
    """Check a PatchEmbedding's arguments and store them on ``layer``."""
    layer.dynamic_img_size = boolean(dynamic_img_size, "dynamic_img_size")
    layer.img_size = image_size_pair(img_size)
    layer.patch_size = positive_int(patch_size, "patch_size")
    layer.in_channels = positive_int(in_channels, "in_channels")
    layer.embed_dim = positive_int(embed_dim, "embed_dim")
    layer.grid_size = patch_grid(layer.img_size, layer.patch_size)
    layer.n_patches = layer.grid_size[0] * layer.grid_size[1]


def patch_embedding_input(layer, images) -> None:
    """Check a batch against a PatchEmbedding (any tiling size if dynamic)."""
    image_batch(
        images,
        in_channels=layer.in_channels,
        img_size=None if layer.dynamic_img_size else layer.img_size,
        dtype=layer.proj.weight.dtype,
    )
    height, width = images.shape[-2:]
    if min(height, width) < layer.patch_size:
        raise ValueError(
            f"Image size ({height}*{width}) is smaller than one patch "
            f"({layer.patch_size}*{layer.patch_size}): nothing to embed"
        )


def attention_config(
    dim, num_heads, qkv_bias, attn_drop=0.0, proj_drop=0.0
) -> None:
    """Check the sizes and dropout rates of multi-head attention."""
    positive_int(dim, "embed_dim")
    positive_int(num_heads, "num_heads")
    boolean(qkv_bias, "qkv_bias")
    probability(attn_drop, "attn_drop")
    probability(proj_drop, "proj_drop")
    if dim % num_heads:
        raise ValueError(
            f"embed_dim ({dim}) must be divisible by num_heads ({num_heads})"
        )


def tokens(x, dim: int, dtype) -> None:
    """Check a (batch, tokens, dim) float tensor of the module's dtype."""
    float_tensor(x, "tokens", dtype=dtype)
    if x.dim() != 3 or x.shape[-1] != dim:
        raise ValueError(
            f"tokens must have shape (batch, tokens, {dim}), "
            f"got {tuple(x.shape)}"
        )


def mlp_hidden(dim: int, mlp_ratio) -> int:
    """The MLP's hidden width ``dim * mlp_ratio``, at least 1 and finite."""
    finite_number(mlp_ratio, "mlp_ratio", low=0, low_open=True)
    width = dim * mlp_ratio
    if not (math.isfinite(width) and width >= 1):
        raise ValueError(
            "mlp_ratio must give a hidden width of at least 1 (embed_dim * "
            f"mlp_ratio), got {dim} * {mlp_ratio}"
        )
    return int(width)


def position_config(layer, n_patches, embed_dim, dropout) -> None:
    """Check a PositionalEmbedding's arguments and store the sizes."""
    layer.n_patches = positive_int(n_patches, "n_patches")
    layer.embed_dim = positive_int(embed_dim, "embed_dim")
    probability(dropout, "dropout")
    fits_in_memory(
        (n_patches + 1) * embed_dim,
        f"A position table of {n_patches + 1} x {embed_dim}",
    )


def token_table(tokens, table) -> None:
    """Check tokens (B, N+1, D) against a (1, N+1, D) position table."""
    float_tensor(tokens, "tokens", dtype=table.dtype)
    expected = tuple(table.shape[1:])
    if tokens.dim() != 3 or tuple(tokens.shape[1:]) != expected:
        raise ValueError(
            f"tokens must have shape (batch, {expected[0]}, {expected[1]}) "
            f"(CLS + {expected[0] - 1} patches), got {tuple(tokens.shape)}"
        )


def sincos_config(grid_size, embed_dim, temperature) -> tuple[int, int, int]:
    """Check a 2-D sin-cos table's arguments; return rows, cols and D/4."""
    rows, cols = image_size_pair(grid_size, "grid_size")
    embed_dim = positive_int(embed_dim, "embed_dim")
    finite_number(temperature, "temperature", low=1.0, low_open=True)
    fits_in_memory(
        rows * cols * embed_dim,
        f"A {rows}x{cols} sin-cos table",
        bytes_per_number=8,
    )
    if embed_dim % 4:
        raise ValueError(
            "embed_dim must be divisible by 4 for a 2-D sin-cos embedding, "
            f"got {embed_dim}"
        )
    return rows, cols, embed_dim // 4


def resample_args(pos_embed, new_grid, old_grid, num_prefix_tokens, antialias):
    """Check resampling arguments; return the (old, new) grids."""
    float_tensor(pos_embed, "pos_embed")
    prefix = non_negative_int(num_prefix_tokens, "num_prefix_tokens")
    boolean(antialias, "antialias")
    shape = tuple(pos_embed.shape)
    if (
        pos_embed.dim() != 3
        or shape[0] != 1
        or shape[1] <= prefix
        or not shape[2]
    ):
        raise ValueError(
            f"pos_embed must have shape (1, {prefix} + rows*cols, D), "
            f"got {shape}"
        )
    n_patches = shape[1] - prefix
    if old_grid is None:
        side = round(n_patches**0.5)
        if side * side != n_patches:
            raise ValueError(
                f"{n_patches} patch positions (after num_prefix_tokens="
                f"{prefix}) are not a square grid: pass old_grid=(rows, cols)"
            )
        old_grid = (side, side)
    old = image_size_pair(old_grid, "old_grid")
    new = image_size_pair(new_grid, "new_grid")
    fits_in_memory(
        (prefix + new[0] * new[1]) * shape[2],
        f"A position table resampled to {new[0]}x{new[1]}",
    )
    if old[0] * old[1] != n_patches:
        raise ValueError(
            f"old_grid {old[0]}x{old[1]} has {old[0] * old[1]} positions, "
            f"pos_embed has {n_patches}"
        )
    return old, new


def finite_number(
    value, name: str, *, low=None, high=None, low_open=False, high_open=False
) -> float:
    """Return ``value`` if it is a real, finite number in the given range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number, got {type(value).__name__} ({value!r})"
        )
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (
        value >= high if high_open else value > high
    )
    if too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        low_text = "-inf" if low is None else low
        high_text = "inf" if high is None else high
        raise ValueError(
            f"{name} must be in {left}{low_text}, {high_text}{right}, got {value}"
        )
    return float(value)


def probability(value, name: str) -> float:
    """A dropout rate: a number in [0, 1)."""
    return finite_number(value, name, low=0, high=1, high_open=True)


def physical_memory() -> int:
    """Bytes of memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def fits_in_memory(numbers: int, what: str, bytes_per_number: int = 4) -> None:
    """Refuse, before allocating, anything larger than this machine's memory."""
    needed = numbers * bytes_per_number
    if needed > physical_memory():
        raise ValueError(
            f"{what} would need {needed / 2**30:,.1f} GiB of memory "
            f"({numbers:,} numbers); this machine has "
            f"{physical_memory() / 2**30:,.1f} GiB"
        )


def vit_config(
    img_size,
    patch_size,
    in_channels,
    embed_dim,
    depth,
    num_heads,
    mlp_ratio,
    qkv_bias,
    drop_rate,
    attn_drop_rate,
) -> None:
    """Check a VisionTransformer's arguments, and that its parameters fit."""
    rows, cols = patch_grid(
        image_size_pair(img_size), positive_int(patch_size, "patch_size")
    )
    dim, depth = (
        positive_int(embed_dim, "embed_dim"),
        positive_int(depth, "depth"),
    )
    probability(drop_rate, "drop_rate")
    probability(attn_drop_rate, "attn_drop_rate")
    attention_config(dim, num_heads, qkv_bias)
    hidden = mlp_hidden(dim, mlp_ratio)
    positive_int(in_channels, "in_channels")
    per_block = 4 * dim * dim + 2 * dim * hidden + 9 * dim + hidden
    total = (
        depth * per_block
        + (rows * cols + 2) * dim
        + in_channels * patch_size**2 * dim
    )
    fits_in_memory(
        total,
        f"A ViT with depth={depth}, embed_dim={dim}, "
        f"mlp_ratio={mlp_ratio} and a {rows}x{cols} patch grid",
    )
