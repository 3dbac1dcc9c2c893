"""The lesson's sample photograph and the preprocessing a ViT expects.

Every figure in the lesson uses the same real photograph, Grace Hopper's portrait
that ships with matplotlib, so it works offline and patches show recognisable
content (an eye, a collar, background) instead of random noise.
"""

from __future__ import annotations

import matplotlib.cbook
import matplotlib.image
import torch
import torch.nn.functional as F

from vitlesson import _validation as check

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
    Resizing uses bilinear interpolation with antialiasing.
    """
    check.float_tensor(image, "image")
    if image.dim() != 3:
        raise ValueError(
            f"image must have shape (channels, height, width), got {tuple(image.shape)}"
        )
    out_h, out_w = check.image_size_pair(size, "size")
    _, height, width = image.shape
    crop_h = min(height, round(width * out_h / out_w))
    crop_w = min(width, round(height * out_w / out_h))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = image[:, top : top + crop_h, left : left + crop_w]
    resized = F.interpolate(
        crop[None],
        size=(out_h, out_w),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return resized[0].clamp(0.0, 1.0)  # (3, out_h, out_w)


def sample_image(size=224) -> torch.Tensor:
    """The lesson photograph at ``size`` (e.g. 224, 384 or (224, 160)): (3, H, W) in [0, 1]."""
    return square_crop_resize(load_photo(), size)


def normalize(
    images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD
) -> torch.Tensor:
    """Standardise each channel with the ImageNet statistics that ViT/DINO checkpoints expect."""
    check.float_tensor(images, "images")
    if images.dim() < 3 or images.shape[-3] != len(mean):
        raise ValueError(
            f"Expected images with {len(mean)} channels in dimension -3, got shape {tuple(images.shape)}"
        )
    mean = torch.tensor(mean, dtype=images.dtype).reshape(
        -1, 1, 1
    )  # (C,) -> (C, 1, 1)
    std = torch.tensor(std, dtype=images.dtype).reshape(
        -1, 1, 1
    )  # (C,) -> (C, 1, 1)
    return (images - mean) / std
