"""A dataset that cannot be solved without positions: "is the square left of the circle?"

Each 32×32 image holds one filled square and one filled circle of random sizes, places
and shades on a random dark background. The label says whether the square's centre lies to
the left of the circle's centre. Colours and sizes carry no information about the
answer; only *where* the shapes are does (square shades are warm, circle shades cool, so
telling the two apart is easy and the position is what remains to be learned). A ViT without position embeddings sees a
bag of patches and can do no better than chance, so a model that solves this task must
have learned what its position embeddings mean.

Everything is generated from a seed, on the fly: no download, the same images on every
machine.
"""

from __future__ import annotations

import torch

from vitlesson import _validation as check

IMAGE_SIZE = 32
MIN_GAP = 2  # pixels between the two centres along x, so that no label is a coin toss
MIN_SIZE = 24  # smaller images leave the largest pairs (almost) no room apart


COLOURS = ("families", "swapped", "grey", "random")


def _colours(
    n: int, generator: torch.Generator, colours: str = "families"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A dark background and the colours of the square and the circle.

    ``"families"`` (the training data): a warm (red) square and a cool
    (blue) circle. The families make *what* each shape is easy to see (a
    tiny ViT trained from scratch on a CPU for two minutes stalls at chance
    when it must also learn shapes from random colours), so what is left to
    learn is *where* the shapes are. The colour carries no information
    about the answer, but it tells the shapes apart: a model can answer
    "is the red blob left of the blue one" and never look at an outline.
    The other choices test for that shortcut, or remove it:

    - ``"swapped"``: the same draws with the families swapped, a cool
      square and a warm circle;
    - ``"grey"``: each shape a grey from 0.5 to 1, drawn independently, so
      only its outline says which shape it is;
    - ``"random"``: each shape a random bright colour (any hue, its largest
      channel from 0.6 to 1), drawn independently.

    The background is drawn first and in the same way for all four, so a
    seed gives the same places, sizes and background whatever the colours.
    """
    background = 0.3 * torch.rand(n, 3, generator=generator)
    if colours in ("families", "swapped"):
        warm = torch.rand(n, 3, generator=generator) * torch.tensor(
            [0.2, 0.4, 0.3]
        ) + torch.tensor([0.8, 0.0, 0.0])
        cool = torch.rand(n, 3, generator=generator) * torch.tensor(
            [0.3, 0.4, 0.2]
        ) + torch.tensor([0.0, 0.0, 0.8])
        if colours == "swapped":
            return background, cool, warm
        return background, warm, cool
    if colours == "grey":
        square, circle = 0.5 + 0.5 * torch.rand(2, n, 1, generator=generator)
        return background, square.expand(n, 3), circle.expand(n, 3)
    hues = torch.rand(2, n, 3, generator=generator)  # "random"
    brightest = 0.6 + 0.4 * torch.rand(2, n, 1, generator=generator)
    square, circle = (
        hues / hues.amax(dim=2, keepdim=True).clamp_min(1e-3) * brightest
    )
    return background, square, circle


def check_colours(colours) -> str:
    """One of :data:`COLOURS`, else an error naming them."""
    allowed = ", ".join(map(repr, COLOURS))
    if not isinstance(colours, str):
        raise TypeError(
            f"colours must be a str, one of {allowed}, got "
            f"{type(colours).__name__}"
        )
    if colours not in COLOURS:
        raise ValueError(f"colours must be one of {allowed}, got {colours!r}")
    return colours


def make_shapes(
    n: int,
    seed: int,
    image_size: int = IMAGE_SIZE,
    colours: str = "families",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (n, 3, S, S) in [0, 1] and labels (n,): 1 if the square
    is left of the circle.

    ``colours`` is one of :data:`COLOURS` (see :func:`_colours`):
    ``"families"`` (warm square, cool circle: the training data),
    ``"swapped"``, ``"grey"`` or ``"random"``. A seed gives the same
    places, sizes, background and labels whatever the colours, so the
    test sets differ only in the shapes' colours."""
    n = check.non_negative_int(n, "n")
    seed = _seed(seed)
    size = check.positive_int(image_size, "image_size")
    colours = check_colours(colours)
    if size < MIN_SIZE:
        raise ValueError(
            f"image_size must be at least {MIN_SIZE} to place both shapes "
            f"apart, got {size}"
        )
    check.fits_in_memory(
        (n * 6 + 2) * size * size, f"{n} images of {size}x{size} pixels"
    )
    generator = torch.Generator().manual_seed(seed)
    half_side = torch.randint(
        2, 5, (n,), generator=generator
    ).float()  # square of side 5..9
    radius = torch.randint(
        3, 6, (n,), generator=generator
    ).float()  # circle of radius 3..5
    square, circle = torch.empty(n, 2), torch.empty(n, 2)
    pending = torch.ones(n, dtype=torch.bool)
    while (
        pending.any()
    ):  # redraw the places of the pairs that overlap or are too close in x
        k = int(pending.sum())
        margin_s, margin_c = half_side[pending], radius[pending]
        square[pending] = margin_s[:, None] + torch.rand(
            k, 2, generator=generator
        ) * (size - 1 - 2 * margin_s[:, None])
        circle[pending] = margin_c[:, None] + torch.rand(
            k, 2, generator=generator
        ) * (size - 1 - 2 * margin_c[:, None])
        apart = (square - circle).abs().max(
            dim=1
        ).values > half_side + radius + 1
        pending = ~(apart & ((square[:, 0] - circle[:, 0]).abs() >= MIN_GAP))
    ys, xs = torch.meshgrid(
        torch.arange(size).float(), torch.arange(size).float(), indexing="ij"
    )  # (S, S) each
    in_square = (
        (xs - square[:, None, None, 0]).abs() <= half_side[:, None, None]
    ) & (
        (ys - square[:, None, None, 1]).abs() <= half_side[:, None, None]
    )  # (n, S, S)
    in_circle = (xs - circle[:, None, None, 0]) ** 2 + (
        ys - circle[:, None, None, 1]
    ) ** 2 <= radius[:, None, None] ** 2
    background, square_colour, circle_colour = _colours(n, generator, colours)
    images = (
        background[:, :, None, None].expand(n, 3, size, size).clone()
    )  # (n, 3) -> (n, 3, S, S)
    images = torch.where(
        in_square[:, None], square_colour[:, :, None, None], images
    )
    images = torch.where(
        in_circle[:, None], circle_colour[:, :, None, None], images
    )
    labels = (square[:, 0] < circle[:, 0]).long()
    return images, labels


def _seed(seed) -> int:
    """A seed a torch.Generator takes: an int in [0, 2**64)."""
    seed = check.non_negative_int(seed, "seed")
    if seed >= 2**64:
        raise ValueError(f"seed must be less than 2**64, got {seed}")
    return seed


def unit_interval(
    images: torch.Tensor, name: str, rounding: float = 0.0
) -> None:
    """Every value in [0, 1] (give or take ``rounding``), as the images of
    this package are; 0-255 values or NaN are refused in one line naming
    the range found, where a clamp would hide them."""
    if images.numel() == 0 or images.device.type == "meta":
        return
    low, high = images.min().item(), images.max().item()
    if not (-rounding <= low and high <= 1 + rounding):  # False for NaN
        raise ValueError(
            f"{name} must hold values in [0, 1], got values from {low:g} to "
            f"{high:g}" + (": divide 0-255 pixels by 255" if high > 1 else "")
        )


def normalize_shapes(images: torch.Tensor) -> torch.Tensor:
    """Centre pixel values around 0 (the shapes have no dataset statistics worth estimating)."""
    check.float_tensor(images, "images")
    return (images - 0.5) / 0.5
