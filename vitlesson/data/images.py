"""The lesson's sample photograph and the preprocessing a ViT expects.

Every figure in the lesson uses the same real photograph, Grace Hopper's portrait
that ships with matplotlib, so it works offline and patches show recognisable
content (an eye, a collar, background) instead of random noise.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib.cbook
import matplotlib.image
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from vitlesson import _validation as check
from vitlesson.data.shapes import unit_interval

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_photo() -> torch.Tensor:
    """Grace Hopper's portrait as a float tensor (3, 600, 512) with values in [0, 1]."""
    path = matplotlib.cbook.get_sample_data(
        "grace_hopper.jpg", asfileobj=False
    )
    pixels = torch.from_numpy(
        matplotlib.image.imread(path).copy()
    )  # (H, W, 3) uint8
    return pixels.permute(2, 0, 1).float() / 255.0  # (H, W, 3) -> (3, H, W)


def square_crop_resize(image: torch.Tensor, size) -> torch.Tensor:
    """Crop the largest centred square (or the aspect ratio of ``size``) and resize to ``size``.

    The crop is explicit and documented: the lesson never cuts pixels off silently.
    Resizing uses bilinear interpolation with antialiasing. ``image`` holds
    values in [0, 1] (an image of 0-255 values is refused, not clipped).
    """
    check.float_tensor(image, "image")
    if image.dim() != 3:
        raise ValueError(
            f"image must have shape (channels, height, width), got {tuple(image.shape)}"
        )
    unit_interval(image, "image")
    out_h, out_w = check.image_size_pair(size, "size")
    check.fits_in_memory(  # the result and the resize's intermediate
        (2, image.shape[0], out_h, out_w),
        f"An image of size {size!r} ({image.shape[0]}x{out_h}x{out_w})",
        image.element_size(),
    )
    _, height, width = image.shape
    # at least one pixel, however far the shapes' aspect ratios are apart
    crop_h = min(height, max(1, round(width * out_h / out_w)))
    crop_w = min(width, max(1, round(height * out_w / out_h)))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = image[:, top : top + crop_h, left : left + crop_w]
    resized = F.interpolate(
        crop[None],
        size=(out_h, out_w),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    # the filter's weights are positive and sum to 1: only rounding can
    # leave [0, 1]
    return resized[0].clamp(0.0, 1.0)  # (3, out_h, out_w)


def sample_image(size=224) -> torch.Tensor:
    """The lesson photograph at ``size`` (e.g. 224, 384 or (224, 160)): (3, H, W) in [0, 1]."""
    return square_crop_resize(load_photo(), size)


def normalize(
    images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD
) -> torch.Tensor:
    """Standardise each channel with the ImageNet statistics that ViT/DINO checkpoints expect.

    ``mean`` and ``std`` hold one finite number per channel; every ``std``
    is positive."""
    check.float_tensor(images, "images")
    given = f"mean={mean!r} and std={std!r}"[:200]
    mean, std = _statistic(mean, "mean"), _statistic(std, "std", low=0)
    if len(mean) != len(std):
        raise ValueError(
            f"mean and std must hold one value per channel each, got "
            f"{len(mean)} and {len(std)} values ({given})"
        )
    if images.dim() < 3:
        raise ValueError(
            f"images must have shape (..., channels, height, width), got "
            f"shape {tuple(images.shape)}"
        )
    if images.shape[-3] != len(mean):
        raise ValueError(
            f"mean and std hold {len(mean)} values ({given}) but the "
            f"images have {images.shape[-3]} channels in dimension -3 "
            f"(shape {tuple(images.shape)}): give one value per channel"
        )
    mean = torch.tensor(mean, dtype=images.dtype).reshape(
        -1, 1, 1
    )  # (C,) -> (C, 1, 1)
    std = torch.tensor(std, dtype=images.dtype).reshape(
        -1, 1, 1
    )  # (C,) -> (C, 1, 1)
    return (images - mean) / std


def _statistic(values, name: str, low=None) -> tuple[float, ...]:
    """A per-channel mean or std: a sequence of finite numbers (above
    ``low``)."""
    if isinstance(values, torch.Tensor) and values.dim() == 1:
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(
            f"{name} must be a sequence of one number per channel, got "
            f"{type(values).__name__} ({values!r})"[:300]
        )
    if len(values) == 0:
        raise ValueError(
            f"{name} must hold one number per channel, got {values!r} (empty)"
        )
    return tuple(
        check.finite_number(value, f"{name}[{i}]", low=low, low_open=True)
        for i, value in enumerate(values)
    )


# Reading a user's image file ------------------------------------------------
# Pillow's own limit (about 89 megapixels, twice that is its hard error): a
# larger file is refused before its pixels are decoded.
MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def _unit_pixels(image: Image.Image, path) -> np.ndarray:
    """(H, W, C) float32 values in [0, 1] with the file's own precision."""
    mode = image.mode
    if mode.startswith("I;16"):  # 16-bit greyscale: 0..65535
        return np.asarray(image, dtype=np.float32)[..., None] / 65535
    if mode == "I":  # 32-bit integers: 16-bit PNGs, integer TIFFs
        values = np.asarray(image, dtype=np.float32)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ValueError(
                f"{path} holds 32-bit integers from {values.min():g} to "
                f"{values.max():g}; expected 0 to 65535 (16-bit)"
            )
        return values[..., None] / 65535
    if mode == "F":  # 32-bit floats, taken as they are
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError(
                f"{path} holds non-finite floats; expected values in [0, 1]"
            )
        if values.size and (values.min() < 0 or values.max() > 1):
            raise ValueError(
                f"{path} holds floats from {values.min():g} to "
                f"{values.max():g}; expected values in [0, 1]"
            )
        return values[..., None]
    if mode in ("1", "L"):
        return (
            np.asarray(image.convert("L"), dtype=np.float32)[..., None] / 255
        )
    if mode == "P":  # a palette, maybe with a transparent colour
        transparent = "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    elif mode in _ALPHA_MODES:
        image = image.convert(
            "RGBA" if mode in ("RGBA", "RGBa", "PA") else "LA"
        )
    elif mode != "RGB":  # CMYK, YCbCr, LAB, HSV, RGBX ...
        try:
            image = image.convert("RGB")
        except ValueError as error:
            raise ValueError(
                f"{path} has the {mode} colour mode, which "
                f"cannot be read as RGB: {error}"
            ) from None
    return np.asarray(image, dtype=np.float32) / 255


def read_image(path) -> torch.Tensor:
    """An image file as RGB (3, H, W) float32 values in [0, 1].

    Every mode Pillow opens is read with its own values: 16-bit and 32-bit
    greyscale are scaled from their range (not clipped to 8 bits), 32-bit
    floats are taken as they are, palettes and CMYK become RGB, greyscale is
    copied to the three channels, and a transparent image is composited over
    white. The EXIF orientation is applied, as a photo viewer does. A folder,
    a truncated file, or one larger than :data:`MAX_PIXELS` is refused with a
    ``ValueError`` naming the file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a file name (str or Path), got {type(path).__name__}"
        )
    if not os.fspath(path).strip():
        raise ValueError("path is empty: name an image file")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, expected an image file")
    if not path.exists():
        raise FileNotFoundError(f"No image at {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError(
                        f"{path} is {width}×{height} pixels "
                        f"({width * height / 1e6:,.0f} megapixels), more than "
                        f"the {MAX_PIXELS / 1e6:,.0f} megapixels this reads; "
                        "make it smaller first"
                    )
                image.load()  # a truncated file fails here, in one line
                upright = ImageOps.exif_transpose(image)
                pixels = _unit_pixels(upright, path)  # (H, W, C)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        raise ValueError(
            f"Could not read {path} as an image: {error}"
        ) from None
    except OSError as error:  # truncated or corrupt data
        raise ValueError(
            f"Could not read {path} as an image: {error} (a "
            "truncated or damaged file?)"
        ) from None
    if pixels.shape[-1] in (2, 4):  # composite over white
        colour, alpha = pixels[..., :-1], pixels[..., -1:]
        pixels = colour * alpha + (1 - alpha)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return torch.from_numpy(
        np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)
    )  # (H, W, 3) -> (3, H, W)
