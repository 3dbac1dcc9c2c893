"""Input checks shared by every module.

Each check raises a ``ValueError`` or ``TypeError`` whose message names what
was expected and what was given, so a learner sees the mistake in their own
terms instead of a shape error from deep inside a matrix multiplication.
A check returns a value or raises; it never sets anything on a layer.
"""

from __future__ import annotations

import math
import os

import torch

# Read once at import: a check that runs inside ``forward`` never calls the
# operating system (``torch.compile(fullgraph=True)`` could not trace it).
PHYSICAL_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# --- numbers -----------------------------------------------------------------


def _is_int(value) -> bool:
    """An int (or a traced size, under torch.export), never a bool."""
    return isinstance(value, (int, torch.SymInt)) and not isinstance(
        value, bool
    )


def positive_int(value, name: str) -> int:
    """Return ``value`` if it is a positive ``int``; raise otherwise."""
    if not _is_int(value):
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} ({value!r})"
        )
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def non_negative_int(value, name: str) -> int:
    """Return ``value`` if it is an ``int`` >= 0; raise otherwise."""
    if not _is_int(value):
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} ({value!r})"
        )
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value}")
    return value


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
            f"{name} must be in {left}{low_text}, {high_text}{right}, "
            f"got {value}"
        )
    return float(value)


def probability(value, name: str) -> float:
    """A dropout rate: a number in [0, 1)."""
    return finite_number(value, name, low=0, high=1, high_open=True)


def boolean(value, name: str) -> bool:
    """Return ``value`` if it is a bool; a string such as "no" is refused."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} must be True or False, got {type(value).__name__} "
            f"({value!r})"
        )
    return value


# --- memory ------------------------------------------------------------------


def physical_memory() -> int:
    """Bytes of memory of this machine."""
    return PHYSICAL_MEMORY


def fits_in_memory(numbers, what: str, bytes_per_number: int = 4) -> None:
    """Refuse, before allocating, anything larger than this machine's memory.

    ``numbers`` is a count, or the shape of the tensor about to be made.
    """
    if isinstance(numbers, tuple):
        numbers = math.prod(numbers)
    needed = numbers * bytes_per_number
    if needed > PHYSICAL_MEMORY:
        raise ValueError(
            f"{what} would need {needed / 2**30:,.1f} GiB of memory "
            f"({numbers:,} numbers); this machine has "
            f"{PHYSICAL_MEMORY / 2**30:,.1f} GiB"
        )


# --- tensors -----------------------------------------------------------------


def float_tensor(
    x,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Require a dense floating-point tensor.

    When ``dtype`` or ``device`` is given (the module's parameters'), the
    tensor must have that dtype and be on that device.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}"
        )
    if x.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense tensor, got layout {x.layout}: "
            "call x.to_dense() first"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {x.dtype}: "
            + (
                "convert images with x.float() / 255 (or a normalising "
                "transform) first"
                if name in ("image", "images")
                else "call x.float() first"
            )
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but the module's parameters are "
            f"{dtype}: call x.to({dtype})"
        )
    if device is not None and x.device != device:
        raise ValueError(
            f"{name} are on device {x.device} but the module's parameters "
            f"are on {device}: move one to the other, e.g. "
            f"x.to('{device}') or module.to('{x.device}')"
        )
    return x


def with_values(x: torch.Tensor, name: str) -> torch.Tensor:
    """Refuse a tensor on the meta device where its numbers are needed."""
    if x.is_meta:
        raise ValueError(
            f"{name} is on the meta device (a shape without numbers): "
            "pass a tensor with values, e.g. on 'cpu'"
        )
    return x


def image_size_pair(img_size, name: str = "img_size") -> tuple[int, int]:
    """Turn ``224`` or ``(224, 160)`` into a (height, width) pair."""
    if isinstance(img_size, (tuple, list)):
        if len(img_size) != 2:
            raise ValueError(
                f"{name} must be an int or a (height, width) pair, "
                f"got {img_size!r}"
            )
        return positive_int(img_size[0], f"{name}[0] (height)"), positive_int(
            img_size[1], f"{name}[1] (width)"
        )
    size = positive_int(img_size, name)
    return size, size


def patch_grid(img_size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Rows and columns of patches; refuse a size they do not tile exactly."""
    height, width = img_size
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"Image size ({height}*{width}) is not divisible by patch size "
            f"{patch_size}: use a multiple of {patch_size} such as "
            f"{height - height % patch_size or patch_size}"
            f"*{width - width % patch_size or patch_size} "
            "(nothing is cropped silently)"
        )
    return height // patch_size, width // patch_size


def image_batch(
    x,
    *,
    in_channels: int | None = None,
    img_size: tuple[int, int] | None = None,
    dtype=None,
    device=None,
) -> torch.Tensor:
    """Check a float (B, C, H, W) batch with the expected channels and size."""
    float_tensor(x, "images", dtype=dtype, device=device)
    if x.dim() != 4:
        raise ValueError(
            "images must have shape (batch, channels, height, width), got "
            f"{x.dim()} dimensions {tuple(x.shape)}"
            + (
                ": add a batch dimension with x.unsqueeze(0)"
                if x.dim() == 3
                else ""
            )
        )
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(
            f"Expected {in_channels} input channels, got {x.shape[1]} "
            f"(images of shape {tuple(x.shape)})"
        )
    if img_size is not None and tuple(x.shape[-2:]) != tuple(img_size):
        raise ValueError(
            f"Input image size ({x.shape[-2]}*{x.shape[-1]}) doesn't match "
            f"model ({img_size[0]}*{img_size[1]})"
        )
    return x


# --- patches -----------------------------------------------------------------


def patchable(images, patch_size) -> None:
    """A float (B, C, H, W) batch whose sides ``patch_size`` tiles exactly."""
    image_batch(images)
    patch_grid(images.shape[-2:], positive_int(patch_size, "patch_size"))


def patch_embedding_config(
    img_size, patch_size, in_channels, embed_dim, **flags
) -> tuple[int, int]:
    """Check a patch embedding's settings; return ``img_size`` as (H, W).

    The sizes are positive ints, the patches tile the image exactly (nothing
    is cropped), each keyword flag is a bool, and the (D, C, P, P) kernel
    fits in memory.
    """
    for name, value in flags.items():
        boolean(value, name)
    size = image_size_pair(img_size)
    positive_int(patch_size, "patch_size")
    positive_int(in_channels, "in_channels")
    positive_int(embed_dim, "embed_dim")
    patch_grid(size, patch_size)
    fits_in_memory(
        (embed_dim, in_channels, patch_size, patch_size),
        f"A patch kernel of {embed_dim} x {in_channels} x {patch_size} x "
        f"{patch_size}",
    )
    return size


def patch_embedding_input(layer, images) -> None:
    """Check a batch against a PatchEmbedding (any tiling size if dynamic)."""
    weight = layer.proj.weight
    image_batch(
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


def unpatchable(patches, patch_size, img_size) -> tuple[int, int]:
    """Check patches for :func:`unpatchify`; return ``img_size`` as (H, W)."""
    size = image_size_pair(img_size)
    rows, cols = patch_grid(size, positive_int(patch_size, "patch_size"))
    patch_sequence(patches, rows * cols, patch_size, size)
    return size


def patch_sequence(patches, n_patches: int, patch_size: int, img_size):
    """Check (B, N, C*P*P) patches for an ``img_size`` (H, W) image."""
    float_tensor(patches, "patches")
    if patches.dim() != 3:
        raise ValueError(
            "patches must have shape (batch, n_patches, patch_dim), "
            f"got {tuple(patches.shape)}"
        )
    got, patch_dim = patches.shape[1:]
    if got != n_patches:
        raise ValueError(
            f"Expected {n_patches} patches for a {img_size[0]}*{img_size[1]} "
            f"image with patch size {patch_size}, got {got}"
        )
    if patch_dim % (patch_size * patch_size) or not patch_dim:
        raise ValueError(
            f"patch_dim must be channels * {patch_size}**2, got {patch_dim}"
        )


# --- positions ---------------------------------------------------------------


def position_config(n_patches, embed_dim, dropout) -> None:
    """Check a PositionalEmbedding's sizes and dropout rate."""
    positive_int(n_patches, "n_patches")
    positive_int(embed_dim, "embed_dim")
    probability(dropout, "dropout")


def token_table(tokens, table) -> None:
    """Check tokens (B, N+1, D) against a (1, N+1, D) position table."""
    float_tensor(tokens, "tokens", dtype=table.dtype, device=table.device)
    expected = tuple(table.shape[1:])
    if tokens.dim() != 3 or tuple(tokens.shape[1:]) != expected:
        raise ValueError(
            f"tokens must have shape (batch, {expected[0]}, {expected[1]}) "
            f"(CLS + {expected[0] - 1} patches), got {tuple(tokens.shape)}"
        )


def sincos_config(grid_size, embed_dim, temperature) -> tuple[int, int]:
    """Check a 2-D sin-cos table's arguments; return its (rows, cols)."""
    rows, cols = image_size_pair(grid_size, "grid_size")
    embed_dim = positive_int(embed_dim, "embed_dim")
    finite_number(temperature, "temperature", low=1.0, low_open=True)
    fits_in_memory(
        (rows * cols, embed_dim),
        f"A {rows}x{cols} sin-cos table",
        bytes_per_number=8,
    )
    if embed_dim % 4:
        raise ValueError(
            "embed_dim must be divisible by 4 for a 2-D sin-cos embedding, "
            f"got {embed_dim}"
        )
    return rows, cols


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
        side = math.isqrt(n_patches)
        if side * side != n_patches:
            raise ValueError(
                f"{n_patches} patch positions (after num_prefix_tokens="
                f"{prefix}) are not a square grid: pass old_grid=(rows, cols)"
            )
        old_grid = (side, side)
    old = image_size_pair(old_grid, "old_grid")
    new = image_size_pair(new_grid, "new_grid")
    fits_in_memory(
        (prefix + new[0] * new[1], shape[2]),
        f"A position table resampled to {new[0]}x{new[1]}",
    )
    if old[0] * old[1] != n_patches:
        raise ValueError(
            f"old_grid {old[0]}x{old[1]} has {old[0] * old[1]} positions, "
            f"pos_embed has {n_patches}"
        )
    return old, new


# --- transformer blocks ------------------------------------------------------


def attention_config(
    dim, num_heads, qkv_bias, attn_drop=0.0, proj_drop=0.0
) -> None:
    """Check the sizes and dropout rates of multi-head attention.

    The qkv (3D x D) and output (D x D) projections must fit in memory.
    """
    positive_int(dim, "embed_dim")
    positive_int(num_heads, "num_heads")
    boolean(qkv_bias, "qkv_bias")
    probability(attn_drop, "attn_drop")
    probability(proj_drop, "proj_drop")
    if dim % num_heads:
        raise ValueError(
            f"embed_dim ({dim}) must be divisible by num_heads ({num_heads})"
        )
    fits_in_memory(4 * dim * dim, f"Attention of width {dim}")


def mlp_hidden(dim, mlp_ratio) -> int:
    """The MLP's hidden width ``dim * mlp_ratio``: a whole number >= 1.

    A ratio whose width is not whole is refused rather than truncated: a
    loader reads the ratio back as fc1's width / dim, and 16 * 4.1 = 65.6
    would build a width of 65 that no ratio in a config names.
    """
    positive_int(dim, "embed_dim")
    finite_number(mlp_ratio, "mlp_ratio", low=0, low_open=True)
    width = dim * mlp_ratio
    if not math.isfinite(width) or round(width) < 1:
        raise ValueError(
            "mlp_ratio must give a hidden width of at least 1 (embed_dim * "
            f"mlp_ratio), got {dim} * {mlp_ratio} = {width}"
        )
    hidden = round(width)
    if abs(width - hidden) > 1e-6 * hidden:
        whole = max(int(width), 1)
        raise ValueError(
            f"mlp_ratio must give a whole hidden width, got {dim} * "
            f"{mlp_ratio} = {width:g}: int() would build a width of "
            f"{int(width)}; use mlp_ratio={whole / dim!r} for a width of "
            f"{whole}"
        )
    fits_in_memory(
        2 * dim * hidden,
        f"An MLP of width {dim} -> {hidden:,} (mlp_ratio={mlp_ratio})",
    )
    return hidden


def mlp_config(dim, hidden_dim, drop) -> None:
    """Check an MLP's widths and dropout; fc1 and fc2 must fit in memory."""
    positive_int(dim, "dim")
    positive_int(hidden_dim, "hidden_dim")
    probability(drop, "drop")
    fits_in_memory(
        2 * dim * hidden_dim, f"An MLP of width {dim} -> {hidden_dim:,}"
    )


def tokens(x, dim: int, dtype, device=None) -> None:
    """Check a (batch, tokens, dim) float tensor of the module's dtype."""
    float_tensor(x, "tokens", dtype=dtype, device=device)
    if x.dim() != 3 or x.shape[-1] != dim:
        raise ValueError(
            f"tokens must have shape (batch, tokens, {dim}), "
            f"got {tuple(x.shape)}"
        )


def tokens_for(layer, x, **flags) -> None:
    """Check tokens (batch, tokens, D) for ``layer``, a Linear reading D.

    They must have the dtype and device of its weight; each keyword flag of
    the forward call must be a bool.
    """
    for name, value in flags.items():
        boolean(value, name)
    weight = layer.weight
    tokens(x, layer.in_features, weight.dtype, weight.device)


def query_key(q, k) -> None:
    """Check queries and keys (..., T, d) that can be multiplied."""
    float_tensor(q, "q")
    float_tensor(k, "k", dtype=q.dtype, device=q.device)
    if (
        q.dim() < 2
        or k.dim() != q.dim()
        or q.shape[:-2] != k.shape[:-2]
        or q.shape[-1] != k.shape[-1]
        or not k.shape[-2]
    ):
        raise ValueError(
            "q and k must have shapes (..., T, d) and (..., S, d), the same "
            "batch dimensions and d, at least one key, got "
            f"{tuple(q.shape)} and {tuple(k.shape)}"
        )


def vit_config(
    depth, num_classes, drop_rate, attn_drop_rate, drop_path_rate
) -> None:
    """Check the settings a VisionTransformer uses itself, by its names."""
    positive_int(depth, "depth")
    non_negative_int(num_classes, "num_classes")
    probability(drop_rate, "drop_rate")
    probability(attn_drop_rate, "attn_drop_rate")
    probability(drop_path_rate, "drop_path_rate")
