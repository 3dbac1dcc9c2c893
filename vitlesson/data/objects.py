"""Images of one object on a cluttered background, for DINO in miniature.

Each 32×32 image holds a single filled shape (a disc, a square, a triangle
or a cross) of random size, place and colour, drawn over a dark grainy
background crossed by thin distractor strokes. Every image comes with
the object's class and its pixel mask. Training never sees either: DINO
learns from the images alone, and the labels and masks only measure
afterwards what it learned (k-NN accuracy, and how well the attention
outlines the object).

Everything is generated from a seed: no download, the same images on every
machine.
"""

from __future__ import annotations

import math

import torch

from vitlesson import _validation as check
from vitlesson.data.shapes import _seed

CLASSES = ("disc", "square", "triangle", "cross")
IMAGE_SIZE = 32
MIN_SIZE, MAX_SIZE = 6.0, 10.0  # the object's half-extent in pixels
STROKES = 3  # distractor strokes per image
GRAIN = 0.15  # the background's pixel-by-pixel noise
MAX_ANGLE = 0.0  # objects turn by up to this many radians either way


def _shape_masks(
    kind: torch.Tensor, u: torch.Tensor, v: torch.Tensor, size: torch.Tensor
) -> torch.Tensor:
    """Which pixels lie inside each object, in its own rotated frame (u, v).

    ``u`` and ``v`` are (n, S, S) pixel offsets from the centre, ``size`` is
    (n, 1, 1): the radius of the disc, of the triangle's circumcircle, and
    the half-width of the cross; the square's side is chosen so that it
    covers about as many pixels as the disc.
    """
    disc = u**2 + v**2 <= size**2
    square = torch.maximum(u.abs(), v.abs()) <= 0.89 * size
    root3 = math.sqrt(3.0)
    up = -v  # image rows grow downwards; the triangle points up
    triangle = (
        (up >= -size / 2)
        & (root3 * u + up <= size)
        & (-root3 * u + up <= size)
    )
    arm = 0.4 * size
    cross = ((u.abs() <= arm) & (v.abs() <= size)) | (
        (v.abs() <= arm) & (u.abs() <= size)
    )
    shapes = torch.stack(
        [disc, square, triangle, cross], dim=1
    )  # (n, 4, S, S)
    return shapes[torch.arange(len(kind)), kind]  # (n, S, S)


def _hsv_colours(
    n: int,
    saturation: tuple[float, float],
    value: tuple[float, float],
    generator: torch.Generator,
) -> torch.Tensor:
    """``n`` RGB colours (n, 3) of random hue, saturation and value."""
    hue, s, v = torch.rand(3, n, generator=generator)
    s = saturation[0] + s * (saturation[1] - saturation[0])
    v = value[0] + v * (value[1] - value[0])
    k = (torch.tensor([5.0, 3.0, 1.0]) + 6 * hue[:, None]) % 6  # (n, 3)
    return v[:, None] - v[:, None] * s[:, None] * (
        torch.minimum(k, 4 - k).clamp(0, 1)
    )


def _background(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Dark grey grain, different at every pixel, crossed by thin strokes.

    The grain and its level are alike in every image, so that the background
    gives no way to tell two images apart: what one image shares with its
    own crops, and not with other images, is its object and its strokes.
    """
    level = 0.08 + 0.12 * torch.rand(n, 1, 1, 1, generator=generator)
    images = level + GRAIN * torch.rand(n, 3, size, size, generator=generator)
    ys, xs = torch.meshgrid(
        torch.arange(size).float() + 0.5,
        torch.arange(size).float() + 0.5,
        indexing="ij",
    )  # (S, S) each
    for _ in range(STROKES):
        start = torch.rand(n, 2, generator=generator) * size
        angle = torch.rand(n, generator=generator) * math.pi
        length = 6 + torch.rand(n, generator=generator) * 12
        direction = torch.stack([angle.cos(), angle.sin()], dim=1)  # (n, 2)
        dx = xs - start[:, 0, None, None]  # (n, S, S)
        dy = ys - start[:, 1, None, None]
        along = (
            (
                dx * direction[:, 0, None, None]
                + dy * direction[:, 1, None, None]
            )
            .clamp(min=0)
            .minimum(length[:, None, None])
        )
        gap = (dx - along * direction[:, 0, None, None]) ** 2 + (
            dy - along * direction[:, 1, None, None]
        ) ** 2
        on_stroke = gap <= 0.5**2 + 0.25  # about one pixel wide
        colour = _hsv_colours(n, (0.0, 1.0), (0.3, 0.9), generator)
        images = torch.where(
            on_stroke[:, None], colour[:, :, None, None], images
        )
    return images


def make_objects(
    n: int, seed: int, image_size: int = IMAGE_SIZE
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` images (n, 3, S, S) in [0, 1], their object masks (n, S, S)
    and class labels (n,), indices into :data:`CLASSES`."""
    n = check.non_negative_int(n, "n")
    seed = _seed(seed)
    size = check.positive_int(image_size, "image_size")
    if size < 2 * MAX_SIZE + 2:
        raise ValueError(
            f"image_size must be at least {2 * MAX_SIZE + 2:.0f}"
            f" to fit the largest object, got {size}"
        )
    check.fits_in_memory(
        (n * 12 + 4) * size * size, f"{n} images of {size}x{size} pixels"
    )
    generator = torch.Generator().manual_seed(seed)
    images = _background(n, size, generator)
    labels = torch.randint(len(CLASSES), (n,), generator=generator)
    half = MIN_SIZE + torch.rand(n, generator=generator) * (
        MAX_SIZE - MIN_SIZE
    )
    centre = (
        half[:, None]
        + 0.5
        + torch.rand(n, 2, generator=generator)
        * (size - 1 - 2 * half[:, None])
    )  # (n, 2): x, y
    angle = (torch.rand(n, generator=generator) * 2 - 1) * MAX_ANGLE
    ys, xs = torch.meshgrid(
        torch.arange(size).float() + 0.5,
        torch.arange(size).float() + 0.5,
        indexing="ij",
    )  # (S, S) each
    dx = xs - centre[:, 0, None, None]  # (n, S, S)
    dy = ys - centre[:, 1, None, None]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotated frame
    masks = _shape_masks(labels, u, v, half[:, None, None])
    colour = 0.45 + 0.55 * _hsv_colours(n, (0.5, 1.0), (0.75, 1.0), generator)
    images = torch.where(masks[:, None], colour[:, :, None, None], images)
    return images, masks, labels
