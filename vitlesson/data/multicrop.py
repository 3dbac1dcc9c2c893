"""Multi-crop: many augmented views of each image, as DINO makes them.

DINO's ``DataAugmentationDINO`` (``main_dino.py``) turns every image into 2
*global* crops that cover 40–100% of it and several *local* crops that cover
5–40%, each flipped, colour-jittered, sometimes turned grey, blurred or
solarized. The student must give every view the answer the teacher gives a
global view, so what the views share (the object) is what the features keep.

Here the crops are computed for a whole batch at once in torch (no
torchvision): one ``affine_grid`` + ``grid_sample`` call cuts, resizes and
flips every image. Sizes scale down with the images: 32-pixel global crops
and 16-pixel local ones instead of 224 and 96.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from vitlesson import _validation as check
from vitlesson.data.shapes import unit_interval

# one generator for the batch, or one per image
Generators = torch.Generator | Sequence[torch.Generator]


@dataclass(frozen=True)
class MultiCropConfig:
    """Sizes and area ranges of the crops (DINO: 224/96 px, 8 local)."""

    global_size: int = 32
    local_size: int = 16
    local_crops: int = 8
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    blur_sigma: tuple[float, float] = (0.1, 1.0)  # DINO: 0.1-2 px at 224
    hue: float = 0.5  # any hue; DINO: up to 0.1 of a turn
    greyscale: float = 0.2  # DINO: 0.2

    def __post_init__(self):
        plain_fields(self)
        for name in ("global_size", "local_size"):
            if check.positive_int(getattr(self, name), name) < 3:
                raise ValueError(
                    f"{name} must be at least 3 pixels (the blur reflects 2 "
                    f"at the border), got {getattr(self, name)}"
                )
        check.non_negative_int(self.local_crops, "local_crops")
        _range(self.global_scale, "global_scale", high=1)
        _range(self.local_scale, "local_scale", high=1)
        _range(self.blur_sigma, "blur_sigma")
        check.finite_number(self.hue, "hue", low=0, high=0.5)
        check.finite_number(self.greyscale, "greyscale", low=0, high=1)


def plain_fields(config) -> None:
    """Store a frozen dataclass's NumPy and 0-d tensor numbers (also in a
    pair) as the Python numbers they are, so that the config compares,
    prints and saves as JSON like one built from Python numbers."""
    for field in fields(config):
        value = getattr(config, field.name)
        if isinstance(value, tuple):
            value = tuple(check.plain_number(v) for v in value)
        else:
            value = check.plain_number(value)
        object.__setattr__(config, field.name, value)


def _range(value, name: str, high: float | None = None) -> None:
    """A (low, high) pair with 0 < low <= high (<= ``high``)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(
            f"{name} must be a (low, high) pair of numbers, got {value!r}"
        )
    low, top = (
        check.finite_number(v, f"{name}[{i}]", low=0, low_open=True, high=high)
        for i, v in enumerate(value)
    )
    if low > top:
        raise ValueError(
            f"{name} must be a (low, high) pair with low <= high, got "
            f"{tuple(value)}"
        )


def _images(images, channels: int | None = None) -> None:
    """A float batch (B, C, H, W) on the CPU, where the crops are drawn,
    of values in [0, 1] (up to the rounding of an earlier augmentation)."""
    check.image_batch(images, in_channels=channels)
    if images.layout != torch.strided:
        raise TypeError(
            f"images must be a dense tensor, got layout {images.layout}: "
            f"call images.to_dense()"
        )
    if images.device.type != "cpu":
        raise ValueError(
            f"images must be on the CPU (the crops are drawn there, from "
            f"CPU generators), got images on {images.device}: crop first, "
            f"then move the views"
        )
    if 0 in images.shape[1:]:
        raise ValueError(
            f"images must have at least one channel and one pixel, got "
            f"shape {tuple(images.shape)}"
        )
    unit_interval(images, "images", rounding=1e-4)


def _probability(p) -> None:
    check.finite_number(p, "p", low=0, high=1)


def _generator(generator, n: int) -> None:
    """One CPU generator for the batch, or a list of ``n``, one per image."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != n:
            raise ValueError(
                f"generator must be a torch.Generator or a list of {n} "
                f"(one per image), got a list of {len(generator)}"
            )
        named = [(f"generator[{i}]", g) for i, g in enumerate(generator)]
    else:
        named = [("generator", generator)]
    for name, g in named:
        if not isinstance(g, torch.Generator):
            raise TypeError(
                f"{name} must be a torch.Generator"
                + (
                    f" or a list of {n} (one per image)"
                    if name == "generator"
                    else ""
                )
                + f", got {type(g).__name__} ({g!r})"
            )
        if g.device.type != "cpu":
            raise ValueError(
                f"{name} must be a CPU generator, got one on {g.device}"
            )


def _uniform(generator, n: int, *shape: int) -> torch.Tensor:
    """Uniform numbers (*shape, n): from one generator for the batch, or
    from one generator per image (then an image's numbers depend only on
    its own generator, not on the batch it is in)."""
    if isinstance(generator, torch.Generator):
        return torch.rand(*shape, n, generator=generator)
    if n == 0:
        return torch.rand(*shape, 0)
    return torch.stack(
        [
            torch.rand(shape or (1,), generator=g).reshape(shape)
            for g in generator
        ],
        dim=-1,
    )


def random_resized_crop(
    images: torch.Tensor,
    size: int,
    scale: tuple[float, float],
    generator: Generators,
) -> torch.Tensor:
    """One random crop per image, resized to ``size``×``size`` and flipped
    left-right with probability 0.5 (torchvision's ``RandomResizedCrop``
    with aspect ratios 3/4 to 4/3, then ``RandomHorizontalFlip``)."""
    _images(images)
    size = check.positive_int(size, "size")
    _range(scale, "scale", high=1)
    _generator(generator, len(images))
    n, channels = images.shape[:2]
    check.fits_in_memory(
        n * (channels + 2) * size * size,
        f"{n} crops of {channels}x{size}x{size} pixels",
    )
    if n == 0:  # no crops to draw (affine_grid refuses an empty batch)
        return images.new_empty(0, channels, size, size)
    area = scale[0] + _uniform(generator, n) * (scale[1] - scale[0])
    log_ratio = (_uniform(generator, n) * 2 - 1) * math.log(4 / 3)
    width = (area * log_ratio.exp()).sqrt().clamp(max=1)  # fraction of W
    height = (area / log_ratio.exp()).sqrt().clamp(max=1)
    left = _uniform(generator, n) * (1 - width)
    top = _uniform(generator, n) * (1 - height)
    flip = torch.where(_uniform(generator, n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)  # output [-1, 1] -> input [-1, 1]
    theta[:, 0, 0] = width * flip
    theta[:, 0, 2] = 2 * left + width - 1
    theta[:, 1, 1] = height
    theta[:, 1, 2] = 2 * top + height - 1
    # The grid at float32 precision or more (torch's CPU affine_grid has no
    # half-precision kernel for a 1-pixel output), then in the images' dtype.
    grid_dtype = torch.promote_types(images.dtype, torch.float32)
    grid = F.affine_grid(
        theta.to(grid_dtype), [n, channels, size, size], align_corners=False
    ).to(images.dtype)
    return F.grid_sample(
        images,
        grid,
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )


def _grey(images: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601, as torchvision): (n, 3, H, W) -> (n, 1, H, W)."""
    weights = torch.tensor([0.299, 0.587, 0.114])
    return (images * weights[:, None, None]).sum(dim=1, keepdim=True)


def _rotate_hue(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Turn each image's hue by ``turns`` of a full circle, in YIQ space."""
    to_yiq = torch.tensor(
        [
            [0.299, 0.587, 0.114],
            [0.596, -0.274, -0.322],
            [0.211, -0.523, 0.312],
        ]
    )
    cos, sin = (2 * math.pi * turns).cos(), (2 * math.pi * turns).sin()
    rotation = torch.zeros(len(images), 3, 3)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", matrix.to(images.dtype), images)


def colour_jitter(
    images: torch.Tensor,
    generator: Generators,
    p: float = 0.8,
    hue: float = 0.1,
) -> torch.Tensor:
    """DINO's ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` with probability ``p``:
    brightness and contrast ×[0.6, 1.4], saturation ×[0.8, 1.2], hue
    ±0.1 turn (applied in this fixed order; torchvision shuffles it)."""
    _images(images, channels=3)
    _generator(generator, len(images))
    _probability(p)
    check.finite_number(hue, "hue", low=0, high=0.5)
    n = len(images)
    apply = (_uniform(generator, n) < p)[:, None, None, None]
    brightness, contrast = (
        0.6 + 0.8 * _uniform(generator, n, 2)[..., None, None, None]
    )
    saturation = 0.8 + 0.4 * _uniform(generator, n)[:, None, None, None]
    turns = (_uniform(generator, n) * 2 - 1) * hue
    x = (images * brightness).clamp(0, 1)
    mean = _grey(x).mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean).clamp(0, 1)
    grey = _grey(x)
    x = ((x - grey) * saturation + grey).clamp(0, 1)
    x = _rotate_hue(x, turns).clamp(0, 1)
    return torch.where(apply, x, images).to(images.dtype)


def random_greyscale(
    images: torch.Tensor, generator: Generators, p: float = 0.2
) -> torch.Tensor:
    """Turn each image grey (its luma in every channel) with probability
    ``p``."""
    _images(images, channels=3)
    _generator(generator, len(images))
    _probability(p)
    apply = _uniform(generator, len(images)) < p
    grey = _grey(images).expand_as(images)
    return torch.where(apply[:, None, None, None], grey, images).to(
        images.dtype
    )


def gaussian_blur(
    images: torch.Tensor,
    generator: Generators,
    p: float,
    sigma: tuple[float, float],
) -> torch.Tensor:
    """Blur each image with probability ``p``, σ drawn from ``sigma``."""
    _images(images)
    _generator(generator, len(images))
    _probability(p)
    _range(sigma, "sigma")
    n, c, h, w = images.shape
    if min(h, w) < 3:
        raise ValueError(
            f"images must be at least 3x3 pixels to blur (the kernel "
            f"reflects 2 pixels at the border), got {h}x{w}"
        )
    if n == 0:  # nothing to blur
        return images
    s = sigma[0] + _uniform(generator, n) * (sigma[1] - sigma[0])
    apply = _uniform(generator, n) < p
    offsets = torch.arange(-2, 3).float()
    kernel = torch.exp(-(offsets**2) / (2 * s[:, None] ** 2))  # (n, 5)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, 0)
    kernel = kernel.to(images.dtype)  # (n·c, 5)
    x = images.reshape(1, n * c, h, w)  # one channel group per image channel
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, kernel[:, None, None, :], groups=n * c)  # along W
    x = F.conv2d(x, kernel[:, None, :, None], groups=n * c)  # along H
    blurred = x.reshape(n, c, h, w)
    return torch.where(apply[:, None, None, None], blurred, images)


def random_solarize(
    images: torch.Tensor, generator: Generators, p: float
) -> torch.Tensor:
    """Invert the pixels above 0.5 with probability ``p``."""
    _images(images)
    _generator(generator, len(images))
    _probability(p)
    apply = _uniform(generator, len(images)) < p
    solarized = torch.where(images >= 0.5, 1 - images, images)
    return torch.where(apply[:, None, None, None], solarized, images)


def multi_crop(
    images: torch.Tensor,
    generator: Generators,
    config: MultiCropConfig = MultiCropConfig(),
) -> list[torch.Tensor]:
    """DINO's views of a batch: [global 1, global 2, local 1, …], each
    (B, 3, size, size) in [0, 1], in the images' dtype. ``generator`` is
    one ``torch.Generator`` for the batch, or a list of one per image.

    As in DINO, the first global view is always blurred, the second rarely
    blurred but sometimes solarized, and each local view blurred half the
    time; all are flipped and colour-jittered.
    """
    _images(images, channels=3)
    _generator(generator, len(images))
    if not isinstance(config, MultiCropConfig):
        raise TypeError(
            f"config must be a MultiCropConfig, got {type(config).__name__}"
        )
    views = []
    for blur, solarize in [(1.0, 0.0), (0.1, 0.2)]:
        x = random_resized_crop(
            images, config.global_size, config.global_scale, generator
        )
        x = random_greyscale(
            colour_jitter(x, generator, hue=config.hue),
            generator,
            config.greyscale,
        )
        x = gaussian_blur(x, generator, blur, config.blur_sigma)
        views.append(random_solarize(x, generator, solarize))
    for _ in range(config.local_crops):
        x = random_resized_crop(
            images, config.local_size, config.local_scale, generator
        )
        x = random_greyscale(
            colour_jitter(x, generator, hue=config.hue),
            generator,
            config.greyscale,
        )
        views.append(gaussian_blur(x, generator, 0.5, config.blur_sigma))
    return views
