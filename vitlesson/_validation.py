"""Input checks shared by every module.

Each check raises a ``ValueError`` or ``TypeError`` whose message names what was
expected and what was given, so a learner sees the mistake in their own terms
instead of a shape error from deep inside a matrix multiplication.
"""

from __future__ import annotations

import torch


def positive_int(value, name: str) -> int:
    """Return ``value`` if it is a positive ``int``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def non_negative_int(value, name: str) -> int:
    """Return ``value`` if it is an ``int`` >= 0; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value}")
    return value


def image_size_pair(img_size, name: str = "img_size") -> tuple[int, int]:
    """Turn ``224`` or ``(224, 160)`` into a ``(height, width)`` pair of positive ints."""
    if isinstance(img_size, (tuple, list)):
        if len(img_size) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {img_size!r}")
        return positive_int(img_size[0], f"{name}[0] (height)"), positive_int(img_size[1], f"{name}[1] (width)")
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


def float_tensor(x, name: str, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Require a floating-point tensor, of ``dtype`` when one is given (the module's parameters)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {x.dtype}: "
            "convert images with x.float() / 255 (or a normalising transform) first"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the module's parameters are {dtype}: call x.to({dtype})")
    return x


def image_batch(
    x, *, in_channels: int | None = None, img_size: tuple[int, int] | None = None, dtype=None
) -> torch.Tensor:
    """Check a (B, C, H, W) batch: a float tensor of rank 4 with the expected channels and size."""
    float_tensor(x, "images", dtype=dtype)
    if x.dim() != 4:
        raise ValueError(
            f"images must have shape (batch, channels, height, width), got {x.dim()} dimensions "
            f"{tuple(x.shape)}" + (": add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "")
        )
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(f"Expected {in_channels} input channels, got {x.shape[1]} (images of shape {tuple(x.shape)})")
    if img_size is not None and tuple(x.shape[-2:]) != tuple(img_size):
        raise ValueError(
            f"Input image size ({x.shape[-2]}*{x.shape[-1]}) doesn't match model "
            f"({img_size[0]}*{img_size[1]})"
        )
    return x
