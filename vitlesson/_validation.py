"""Input checks that several modules share.

A check used by one module only lives next to its caller in that module.
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


def plain_number(value):
    """A NumPy scalar or a 0-d tensor as the Python number it holds
    (``np.float32(0.1)``, ``torch.tensor(0.99)``); anything else as is."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 0 and value.device.type != "meta":
            return value.item()
    elif type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def positive_int(value, name: str) -> int:
    """Return ``value`` if it is a positive ``int`` (or a NumPy or 0-d
    tensor integer, returned as an ``int``); raise otherwise."""
    value = plain_number(value)
    if not _is_int(value):
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} ({value!r})"
        )
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def non_negative_int(value, name: str) -> int:
    """Return ``value`` if it is an ``int`` >= 0 (NumPy and 0-d tensor
    integers too, returned as an ``int``); raise otherwise."""
    value = plain_number(value)
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
    """Return ``value`` if it is a real, finite number in the given range
    (NumPy scalars and 0-d tensors are the numbers they hold)."""
    value = plain_number(value)
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
    Called once per allocation, where its sizes come from the caller's
    settings. Without it, PyTorch's allocator names the bytes of one tensor
    it cannot allocate, but a size past 2**63 fails with a C++ traceback,
    and one the operating system lets through is filled until the process
    is killed (several blocks, or a Python list, each of which fits).
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
    against: str | None = None,
) -> torch.Tensor:
    """Require a dense floating-point tensor.

    When ``dtype`` or ``device`` is given, the tensor must have that dtype
    and be on that device: those of the module's parameters, or of the
    tensor named ``against``.
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
        has = f"{against} has" if against else "the module's parameters are"
        raise TypeError(
            f"{name} has dtype {x.dtype} but {has} {dtype}: call x.to({dtype})"
        )
    if device is not None and x.device != device:
        if against:
            raise ValueError(
                f"{name} is on device {x.device} but {against} is on "
                f"{device}: move one to the other, e.g. x.to('{device}')"
            )
        raise ValueError(
            f"{name} are on device {x.device} but the module's parameters "
            f"are on {device}: move one to the other, e.g. "
            f"x.to('{device}') or module.to('{x.device}')"
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
    if patch_size > min(height, width):  # no multiple of it fits: say so
        raise ValueError(
            f"Image size ({height}*{width}) is smaller than patch size "
            f"{patch_size}: use a patch size that tiles it, such as "
            f"{math.gcd(height, width)} (nothing is cropped silently)"
        )
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
