"""``vitlesson.data.multicrop``: DINO's global and local views, flips, colour operations, and every setting checked by name."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.support.data_inputs import SETTINGS
from tests.support.refusals import expect
from vitlesson.data import multicrop
from vitlesson.data.multicrop import (
    MultiCropConfig,
    _grey,
    _rotate_hue,
    colour_jitter,
    gaussian_blur,
    multi_crop,
    random_greyscale,
    random_resized_crop,
    random_solarize,
)
from vitlesson.data.objects import make_objects

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


dtypes = st.sampled_from([*FLOATS, torch.float32, torch.uint8, torch.bool])


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.sampled_from(["0.5", None, True, [0.5]]),
)


pairs = st.one_of(
    st.tuples(st.floats(-0.5, 1.5), st.floats(-0.5, 1.5)),
    st.tuples(st.floats(0.05, 1), st.floats(0.05, 1)),
    st.sampled_from(
        [(0.1, 0.5), [0.2, 0.2], (0.5,), 0.5, "0.1-0.5", (float("nan"), 1)]
    ),
)


generators = st.sampled_from(
    ["one", "one", "per image", "short list", 0, None]
)


devices = st.sampled_from(["cpu", "cpu", "cpu", "meta", "sparse"])


def items(value) -> tuple:
    """A pair's two values, each of which a message may name alone."""
    return tuple(value) if isinstance(value, tuple | list) else ()


def generator_for(kind, n):
    if kind == "one":
        return torch.Generator().manual_seed(0)
    if kind == "per image":
        return [torch.Generator().manual_seed(i) for i in range(n)]
    if kind == "short list":
        return [torch.Generator().manual_seed(0)] * (n + 1)
    return kind


def images_for(shape, dtype, where):
    x = torch.rand(shape)
    x = x.to(dtype) if dtype.is_floating_point else (x * 255).to(dtype)
    if where == "meta":
        return x.to("meta")
    if where == "sparse" and x.dim():
        return x.to_sparse()
    return x


def good_range(value, high=math.inf):
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(type(v) in (int, float) for v in value)
        and 0 < value[0] <= value[1] <= high
    )


# --- the configuration -----------------------------------------------------


@SETTINGS
@given(
    field=st.sampled_from(
        [
            "global_size",
            "local_size",
            "local_crops",
            "global_scale",
            "local_scale",
            "blur_sigma",
            "hue",
            "greyscale",
        ]
    ),
    value=st.one_of(numbers, pairs, st.integers(-2, 40)),
)
def test_config_fields(field, value):
    def check(config):
        if field in ("global_size", "local_size"):
            assert type(value) is int and value >= 3
        elif field == "local_crops":
            assert type(value) is int and value >= 0
        elif field in ("global_scale", "local_scale"):
            assert good_range(value, high=1)
        elif field == "blur_sigma":
            assert good_range(value) and math.isfinite(value[1])
        else:
            assert type(value) in (int, float)
            assert 0 <= value <= (0.5 if field == "hue" else 1)
        assert getattr(config, field) == value

    expect(
        lambda: MultiCropConfig(**{field: value}),
        check,
        names=field,
        values=(value, *items(value)),
    )


def test_config_messages():
    with pytest.raises(
        ValueError,
        match="global_scale must be a .low, high. pair with low <= high",
    ):
        MultiCropConfig(global_scale=(0.9, 0.4))  # reversed
    with pytest.raises(ValueError, match=r"local_scale\[1\] must be in"):
        MultiCropConfig(local_scale=(0.05, 1.5))  # above the whole image
    with pytest.raises(ValueError, match="local_crops must be 0 or more"):
        MultiCropConfig(local_crops=-1)
    with pytest.raises(ValueError, match="local_size must be at least 3"):
        MultiCropConfig(local_size=2)
    assert (
        len(
            multi_crop(
                torch.rand(2, 3, 8, 8),
                torch.Generator(),
                MultiCropConfig(local_crops=0),
            )
        )
        == 2
    )


# --- multi_crop and each augmentation --------------------------------------


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 12), min_size=2, max_size=5),
    dtype=dtypes,
    where=devices,
    generator=generators,
    local_crops=st.integers(0, 2),
    config_kind=st.sampled_from(["config", "config", "dict"]),
)
def test_multi_crop(shape, dtype, where, generator, local_crops, config_kind):
    images = images_for(shape, dtype, where)
    n = shape[0]
    config = MultiCropConfig(
        global_size=8, local_size=4, local_crops=local_crops
    )
    if config_kind == "dict":
        config = {"local_crops": local_crops}

    def check(views):
        assert where == "cpu" and dtype in FLOATS and config_kind == "config"
        assert len(shape) == 4 and shape[1] == 3
        assert (
            generator in ("one", "per image") and len(views) == 2 + local_crops
        )
        for i, view in enumerate(views):
            size = 8 if i < 2 else 4
            assert view.shape == (n, 3, size, size) and view.dtype == dtype
            assert ((view >= 0) & (view <= 1)).all()

    expect(
        lambda: multi_crop(images, generator_for(generator, n), config),
        check,
        names=("images", "generator", "config", "channels"),
        values=(images, generator_for(generator, n), config),
    )


@pytest.mark.parametrize(
    "dtype", [torch.float64, torch.float16, torch.bfloat16]
)
def test_crops_of_other_float_dtypes_match_float32(dtype):
    images = torch.rand(3, 3, 12, 12)
    config = MultiCropConfig(global_size=8, local_size=4, local_crops=1)
    expected = multi_crop(images, torch.Generator().manual_seed(1), config)
    views = multi_crop(
        images.to(dtype), torch.Generator().manual_seed(1), config
    )
    for view, reference in zip(views, expected, strict=True):
        assert view.dtype == dtype
        difference = (view.double() - reference.double()).abs()
        if dtype == torch.float64:
            assert difference.max() < 1e-5
        else:  # rounded to 8 or 11 bits at every step
            assert difference.mean() < 0.01


@SETTINGS
@given(
    function=st.sampled_from(
        ["crop", "jitter", "greyscale", "blur", "solarize"]
    ),
    shape=st.sampled_from(
        [(2, 3, 8, 8), (2, 3, 8, 8), (0, 3, 8, 8), (2, 1, 8, 8), (2, 3, 2, 8)]
    ),
    dtype=dtypes,
    generator=generators,
    p=numbers,
    size=st.one_of(st.integers(-1, 6), st.sampled_from([2.0, "4"])),
    pair=pairs,
    hue=numbers,
)
def test_augmentations(function, shape, dtype, generator, p, size, pair, hue):
    images = images_for(shape, dtype, "cpu")
    g = generator_for(generator, shape[0])
    build = {
        "crop": lambda: random_resized_crop(images, size, pair, g),
        "jitter": lambda: colour_jitter(images, g, p, hue),
        "greyscale": lambda: random_greyscale(images, g, p),
        "blur": lambda: gaussian_blur(images, g, p, pair),
        "solarize": lambda: random_solarize(images, g, p),
    }[function]

    def check(out):
        assert dtype in FLOATS and generator in ("one", "per image")
        assert out.dtype == dtype and out.shape[:2] == shape[:2]
        if function == "crop":
            assert type(size) is int and size > 0 and good_range(pair, 1)
            assert out.shape[2:] == (size, size)
        else:
            assert type(p) in (int, float) and 0 <= p <= 1
            assert out.shape == shape
        if function in ("jitter", "greyscale"):
            assert shape[1] == 3
        if function == "jitter":
            assert type(hue) in (int, float) and 0 <= hue <= 0.5
        if function == "blur":
            assert good_range(pair) and min(shape[2:]) >= 3
        assert out.isfinite().all()

    expect(
        build,
        check,
        names=("images", "generator", "size", "scale", "sigma", "p", "hue"),
        values=(images, g, p, size, pair, hue, *items(pair)),
    )


def test_multi_crop_messages():
    images = torch.rand(2, 3, 8, 8)
    with pytest.raises(
        TypeError,
        match=r"generator must be a torch.Generator"
        r" or a list of 2 \(one per image\), got int \(0\)",
    ):
        multi_crop(images, 0)
    with pytest.raises(
        TypeError, match=r"generator\[1\] must be a torch.Generator, got int"
    ):
        multi_crop(images, [torch.Generator(), 3])
    with pytest.raises(ValueError, match="a list of 2 .one per image., got a"):
        multi_crop(images, [torch.Generator()])
    with pytest.raises(ValueError, match="images must be on the CPU"):
        multi_crop(images.to("meta"), torch.Generator())
    with pytest.raises(TypeError, match="got dtype torch.uint8"):
        multi_crop((images * 255).to(torch.uint8), torch.Generator())
    with pytest.raises(ValueError, match=r"got \(0.9, 0.1\)"):
        random_resized_crop(images, 4, (0.9, 0.1), torch.Generator())
    with pytest.raises(ValueError, match="at least 3x3 pixels to blur"):
        gaussian_blur(torch.rand(2, 3, 2, 2), torch.Generator(), 1.0, (1, 1))


def test_an_empty_batch_gives_empty_views():
    views = multi_crop(
        torch.rand(0, 3, 8, 8), [], MultiCropConfig(local_crops=1)
    )
    assert [tuple(v.shape) for v in views] == [(0, 3, 32, 32)] * 2 + [
        (0, 3, 16, 16)
    ]


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


# --- multi-crop --------------------------------------------------------------------------


@pytest.mark.slow
def test_multi_crop_makes_dinos_views():
    images, _, _ = make_objects(8, seed=0)
    views = multi_crop(images, generator(), MultiCropConfig(local_crops=5))
    assert [tuple(v.shape) for v in views] == [(8, 3, 32, 32)] * 2 + [
        (8, 3, 16, 16)
    ] * 5
    assert all(v.min() >= 0 and v.max() <= 1 for v in views)
    again = multi_crop(images, generator(), MultiCropConfig(local_crops=5))
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    with pytest.raises(ValueError, match="add a batch dimension"):
        multi_crop(images[0], generator())


def test_crops_are_flipped_half_the_time():
    x = torch.linspace(0, 1, 32)
    ramp = torch.stack(
        [x[None].expand(32, 32)] * 3
    )  # brightness grows to the right
    crops = random_resized_crop(
        ramp[None].expand(200, -1, -1, -1), 16, (0.3, 0.3), generator()
    )
    rising = crops[:, 0, 0, -1] > crops[:, 0, 0, 0]
    assert 0.35 < rising.float().mean() < 0.65
    steps = crops[:, 0, 0].diff(
        dim=-1
    )  # each crop is one way or the other, never mixed
    assert ((steps > 0).all(dim=1) | (steps < 0).all(dim=1)).all()


def test_crops_cover_the_areas_asked_for():
    x = torch.linspace(0, 1, 256)
    ramp = torch.stack(
        [
            x[None].expand(256, 256),
            x[:, None].expand(256, 256),
            torch.zeros(256, 256),
        ]
    )
    crops = random_resized_crop(
        ramp[None].expand(400, -1, -1, -1), 16, (0.05, 0.4), generator()
    )
    width = crops[:, 0, 0].amax(dim=-1) - crops[:, 0, 0].amin(
        dim=-1
    )  # share of the image's width
    height = crops[:, 1, :, 0].amax(dim=-1) - crops[:, 1, :, 0].amin(dim=-1)
    area = (width * height) * (
        16 / 15
    ) ** 2  # pixel centres span 15/16 of the crop
    assert area.min() > 0.05 * 0.9 and area.max() < 0.4 * 1.1
    ratio = width / height
    assert ratio.min() > 3 / 4 * 0.9 and ratio.max() < 4 / 3 * 1.1


def test_colour_operations():
    images = torch.rand(8, 3, 16, 16)
    assert torch.equal(colour_jitter(images, generator(), p=0.0), images)
    grey = random_greyscale(images, generator(), p=1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(
        grey[:, 0], _grey(images)[:, 0]
    )
    solar = random_solarize(images, generator(), p=1.0)
    assert torch.equal(solar, torch.where(images >= 0.5, 1 - images, images))
    assert torch.equal(
        gaussian_blur(images, generator(), 0.0, (0.1, 1.0)), images
    )
    blurred = gaussian_blur(images, generator(), 1.0, (1.0, 1.0))
    assert blurred.var() < 0.5 * images.var()
    flat = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(
        gaussian_blur(flat, generator(), 1.0, (0.5, 1.0)), flat
    )


def test_hue_rotation_keeps_luma_and_a_full_turn():
    images = torch.rand(4, 3, 8, 8)
    turned = _rotate_hue(images, torch.tensor([0.1, 0.25, -0.3, 1.0]))
    assert torch.allclose(_grey(turned), _grey(images), atol=1e-5)
    assert torch.allclose(turned[3], images[3], atol=1e-5)
    assert not torch.allclose(turned[1], images[1], atol=1e-2)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (
            lambda g: random_resized_crop(
                torch.rand(2, 3, 8, 8), 4, (0.5, 1.5), g
            ),
            ValueError,
            "scale[1] must be in (0, 1], got 1.5",
        ),
        (
            lambda g: multi_crop(torch.rand(2, 1, 8, 8), g),
            ValueError,
            "Expected 3 input channels, got 1 (images of shape (2, 1, 8, 8))",
        ),
        (
            lambda g: multi_crop(
                torch.rand(2, 3, 8, 8), g, {"local_crops": 1}
            ),
            TypeError,
            "config must be a MultiCropConfig, got dict",
        ),
    ],
)
def test_crop_refusals_word_for_word(call, error, message):
    with pytest.raises(error) as refused:
        call(torch.Generator().manual_seed(0))
    assert str(refused.value) == message


RANGES = st.sampled_from(
    [(0.0, 1.0), (0.0, 255.0), (-1.0, 1.0), (0.2, 0.8), (1.0, 2.0)]
)


@SETTINGS
@given(
    low_high=RANGES,
    nan=st.booleans(),
    function=st.sampled_from(
        [
            "multi_crop",
            "random_resized_crop",
            "colour_jitter",
            "random_greyscale",
            "gaussian_blur",
            "random_solarize",
        ]
    ),
)
def test_images_outside_0_1_are_refused_not_clamped(low_high, nan, function):
    """Every view is promised in [0, 1]: 0-255 images (or NaN) are refused
    where a clamp would turn them into white images."""
    low, high = low_high
    images = low + (high - low) * torch.rand(2, 3, 8, 8)
    if nan:
        images[0, 0, 0, 0] = float("nan")
    generator = torch.Generator().manual_seed(0)
    call = {
        "multi_crop": lambda: multi_crop(
            images, generator, MultiCropConfig(8, 4, 1)
        ),
        "random_resized_crop": lambda: [
            random_resized_crop(images, 4, (0.5, 1.0), generator)
        ],
        "colour_jitter": lambda: [colour_jitter(images, generator)],
        "random_greyscale": lambda: [random_greyscale(images, generator)],
        "gaussian_blur": lambda: [
            gaussian_blur(images, generator, 1.0, (0.1, 1.0))
        ],
        "random_solarize": lambda: [random_solarize(images, generator, 1)],
    }[function]

    def check(views):
        assert 0 <= low and high <= 1 and not nan
        for view in views:
            assert 0 <= view.min() and view.max() <= 1

    expect(
        call,
        check,
        names=("images",),
        values=(
            f"{images.min().item():g}",
            f"{images.max().item():g}",
            "nan",
        ),
    )


# --- each augmentation against a written-out reference -----------------------------------
# The references below draw the same numbers from a generator seeded alike, in
# the order the docstrings give, and compute each operation the long way.

YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ],
    dtype=torch.float64,
)


def turn_hue(pixel: torch.Tensor, turns: float) -> torch.Tensor:
    """Rotate one RGB pixel's chroma (I, Q) by ``turns`` of a circle."""
    y, i, q = YIQ @ pixel
    angle = 2 * math.pi * turns
    i, q = (
        i * math.cos(angle) - q * math.sin(angle),
        i * math.sin(angle) + q * math.cos(angle),
    )
    return torch.linalg.solve(YIQ, torch.stack([y, i, q]))


def reference_jitter(images, seed, p, hue):
    """Brightness, contrast and saturation as torchvision blends them (with
    black, the mean grey, the grey image), then the hue turn, each clamped
    to [0, 1]; pixel by pixel in float64."""
    g, n = generator(seed), len(images)
    apply = torch.rand(n, generator=g) < p
    brightness, contrast = 0.6 + 0.8 * torch.rand(2, n, generator=g)
    saturation = 0.8 + 0.4 * torch.rand(n, generator=g)
    turns = (2 * torch.rand(n, generator=g) - 1) * hue
    out = images.double().clone()
    for k in range(n):
        if not apply[k]:
            continue
        x = (images[k].double() * brightness[k]).clamp(0, 1)
        mean = torch.einsum("c,chw->", YIQ[0], x) / x[0].numel()
        x = ((x - mean) * contrast[k] + mean).clamp(0, 1)
        grey = torch.einsum("c,chw->hw", YIQ[0], x)
        x = ((x - grey) * saturation[k] + grey).clamp(0, 1)
        for r in range(x.shape[1]):
            for c in range(x.shape[2]):
                x[:, r, c] = turn_hue(x[:, r, c], turns[k].item())
        out[k] = x.clamp(0, 1)
    return out


@pytest.mark.parametrize("p,hue", [(0.8, 0.1), (1.0, 0.5), (0.5, 0.3)])
def test_colour_jitter_is_torchvisions_blends_then_a_hue_turn(p, hue):
    images = torch.rand(6, 3, 5, 4, generator=generator(1))
    images[:, :, 0] = 0.0  # black and white pixels, which the clamps meet
    images[:, :, 1] = 1.0
    jittered = colour_jitter(images, generator(7), p=p, hue=hue)
    torch.testing.assert_close(
        jittered.double(),
        reference_jitter(images, 7, p, hue),
        rtol=0,
        atol=2e-6,
    )


def test_jitter_clamps_images_a_rounding_below_0():
    """Images may be up to 1e-4 outside [0, 1] (an earlier augmentation's
    rounding); the jitter's first step already brings them back."""
    images = torch.full((4, 3, 2, 2), -5e-5)
    images[:, 0] = 1.0
    jittered = colour_jitter(images, generator(), p=1.0, hue=0.0)
    torch.testing.assert_close(
        jittered.double(), reference_jitter(images, 0, 1.0, 0.0)
    )


def test_a_quarter_hue_turn_maps_chroma_i_q_to_minus_q_i():
    images = torch.rand(3, 3, 2, 2, generator=generator(2))
    yiq = torch.einsum("ij,njhw->nihw", YIQ.float(), images)
    turned = torch.einsum(
        "ij,njhw->nihw",
        YIQ.float(),
        _rotate_hue(images, torch.tensor([0.25, -0.25, 0.5])),
    )
    y, i, q = yiq.unbind(dim=1)
    expected = torch.stack(
        [
            torch.stack([y[0], -q[0], i[0]]),  # a quarter turn
            torch.stack([y[1], q[1], -i[1]]),  # a quarter turn back
            torch.stack([y[2], -i[2], -q[2]]),  # half a turn
        ]
    )
    torch.testing.assert_close(turned, expected, atol=1e-5, rtol=0)
    small = torch.tensor([0.01, 0.1, 0.3])  # turn, then turn back
    back = _rotate_hue(_rotate_hue(images, small), -small)
    torch.testing.assert_close(back, images, atol=1e-5, rtol=0)


def test_the_blur_of_a_point_is_the_gaussian_of_the_drawn_sigma():
    images = torch.zeros(5, 3, 9, 9)
    images[:, :, 4, 4] = 1.0  # one white pixel in the middle
    blurred = gaussian_blur(images, generator(3), 1.0, (0.4, 1.6))
    g = generator(3)
    sigma = 0.4 + torch.rand(5, generator=g) * 1.2  # drawn first
    for k in range(5):
        taps = torch.exp(-(torch.arange(-2.0, 3.0) ** 2) / (2 * sigma[k] ** 2))
        taps = taps / taps.sum()  # five taps, summing to 1
        point = torch.zeros(9, 9)
        point[2:7, 2:7] = taps[:, None] * taps[None, :]
        for c in range(3):
            torch.testing.assert_close(blurred[k, c], point)


def test_the_smallest_images_blur():
    """3x3 images are the smallest the 5-tap kernel reflects around."""
    flat = torch.full((2, 3, 3, 3), 0.25)
    blurred = gaussian_blur(flat, generator(), 1.0, (0.5, 1.0))
    torch.testing.assert_close(blurred, flat)
    config = MultiCropConfig(global_size=3, local_size=3, local_crops=1)
    views = multi_crop(torch.rand(2, 3, 8, 8), generator(), config)
    assert [tuple(v.shape) for v in views] == [(2, 3, 3, 3)] * 3


def coordinates(size: int) -> torch.Tensor:
    """An image whose red channel is each pixel centre's x and whose green
    channel is its y, as fractions of the width and height."""
    centres = (torch.arange(size) + 0.5) / size
    return torch.stack(
        [
            centres[None].expand(size, size),
            centres[:, None].expand(size, size),
            torch.zeros(size, size),
        ]
    )


@pytest.mark.parametrize("scale", [(0.05, 0.4), (0.8, 1.0)])
def test_a_crop_samples_the_box_its_draws_give(scale):
    """Area, aspect ratio (log-uniform in 3/4 to 4/3, each side at most
    the image's), position and flip, drawn in that order: a crop of an
    image of its own coordinates shows the box."""
    n, size, side = 64, 16, 8  # crops larger than the image: its borders
    crops = random_resized_crop(
        coordinates(side).expand(n, -1, -1, -1), size, scale, generator(4)
    )
    g = generator(4)
    area = scale[0] + torch.rand(n, generator=g) * (scale[1] - scale[0])
    log_ratio = (2 * torch.rand(n, generator=g) - 1) * math.log(4 / 3)
    width = (area * log_ratio.exp()).sqrt().clamp(max=1)
    height = (area / log_ratio.exp()).sqrt().clamp(max=1)
    left = torch.rand(n, generator=g) * (1 - width)
    top = torch.rand(n, generator=g) * (1 - height)
    flipped = torch.rand(n, generator=g) < 0.5
    steps = (torch.arange(size) + 0.5) / size  # output pixel centres
    x = left[:, None] + width[:, None] * steps
    x = torch.where(flipped[:, None], x.flip(-1), x)
    y = top[:, None] + height[:, None] * steps
    # bilinear sampling of a ramp gives the coordinate itself, and the
    # border's value beyond the outermost pixel centres
    low, high = 0.5 / side, 1 - 0.5 / side
    torch.testing.assert_close(
        crops[:, 0], x.clamp(low, high)[:, None, :].expand(-1, size, -1)
    )
    torch.testing.assert_close(
        crops[:, 1], y.clamp(low, high)[:, :, None].expand(-1, -1, size)
    )
    assert (width == 1).any() == (scale[1] == 1.0)  # the clamp is met


def test_crops_warn_nothing():
    """affine_grid and grid_sample are told align_corners=False, which
    they would otherwise warn about."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        random_resized_crop(torch.rand(2, 3, 8, 8), 4, (0.5, 1), generator())


def test_the_crops_memory_guard_counts_the_pixels_and_the_grid(monkeypatch):
    """n crops of C channels, and the (x, y) sampling grid: n·(C+2)·size²
    numbers."""
    counted = []
    monkeypatch.setattr(
        multicrop.check,
        "fits_in_memory",
        lambda n, what, *_: counted.append((n, what)),
    )
    random_resized_crop(torch.rand(4, 5, 8, 8), 6, (0.5, 1), generator())
    assert counted == [(4 * (5 + 2) * 6 * 6, "4 crops of 5x6x6 pixels")]


def test_one_channel_and_one_pixel_wide_images_crop_and_blur():
    images = torch.rand(2, 1, 8, 1)
    crops = random_resized_crop(images, 4, (0.5, 1.0), generator())
    assert crops.shape == (2, 1, 4, 4)
    grey = torch.rand(2, 1, 4, 4)
    assert gaussian_blur(grey, generator(), 0.0, (0.5, 1)).equal(grey)


def test_per_image_generators_alone_decide_the_numbers():
    """With one generator per image, the global seed changes nothing."""
    images = torch.rand(3, 3, 8, 8)
    views = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        per_image = [generator(10 + k) for k in range(3)]
        views.append(multi_crop(images, per_image, MultiCropConfig(8, 4, 1)))
    for a, b in zip(*views, strict=True):
        assert torch.equal(a, b)


def test_multi_crop_is_its_steps_in_dinos_order():
    """Both global views: crop, jitter, greyscale; the first always
    blurred and never solarized, the second blurred with p=0.1 and
    solarized with p=0.2; each local view blurred with p=0.5; the config's
    hue, greyscale and blur range used throughout."""
    config = MultiCropConfig(
        global_size=8,
        local_size=4,
        local_crops=2,
        global_scale=(0.5, 0.9),
        local_scale=(0.1, 0.3),
        blur_sigma=(0.3, 0.7),
        hue=0.35,
        greyscale=0.6,
    )
    images = torch.rand(16, 3, 12, 12, generator=generator(5))
    views = multi_crop(images, generator(6), config)
    g = generator(6)

    def coloured(size, scale):
        x = random_resized_crop(images, size, scale, g)
        return random_greyscale(colour_jitter(x, g, hue=0.35), g, 0.6)

    first = gaussian_blur(coloured(8, (0.5, 0.9)), g, 1.0, (0.3, 0.7))
    first = random_solarize(first, g, 0.0)
    second = gaussian_blur(coloured(8, (0.5, 0.9)), g, 0.1, (0.3, 0.7))
    second = random_solarize(second, g, 0.2)
    local = [
        gaussian_blur(coloured(4, (0.1, 0.3)), g, 0.5, (0.3, 0.7))
        for _ in range(2)
    ]
    for view, expected in zip(views, [first, second, *local], strict=True):
        assert torch.equal(view, expected)


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda g: colour_jitter(torch.rand(2, 1, 8, 8), g),
            "Expected 3 input channels, got 1 (images of shape (2, 1, 8, 8))",
        ),
        (
            lambda g: random_greyscale(torch.rand(2, 1, 8, 8), g),
            "Expected 3 input channels, got 1 (images of shape (2, 1, 8, 8))",
        ),
        (
            lambda g: colour_jitter(torch.rand(2, 3, 8, 8), g, hue=0.6),
            "hue must be in [0, 0.5], got 0.6",
        ),
        (
            lambda g: colour_jitter(torch.rand(2, 3, 8, 8), g, hue=-0.1),
            "hue must be in [0, 0.5], got -0.1",
        ),
        (
            lambda g: gaussian_blur(torch.rand(2, 3, 8, 8), g, 1, (1.0, 0.5)),
            "sigma must be a (low, high) pair with low <= high, got "
            "(1.0, 0.5)",
        ),
        (
            lambda g: random_resized_crop(
                torch.rand(2, 3, 8, 8), 0, (1, 1), g
            ),
            "size must be positive, got 0",
        ),
        (
            lambda g: random_resized_crop(
                torch.rand(2, 0, 8, 8), 4, (1, 1), g
            ),
            "images must have at least one channel and one pixel, got shape "
            "(2, 0, 8, 8)",
        ),
        (
            lambda g: MultiCropConfig(global_size=2),
            "global_size must be at least 3 pixels (the blur reflects 2 at "
            "the border), got 2",
        ),
        (
            lambda g: MultiCropConfig(global_scale=(0.4, 1.5)),
            "global_scale[1] must be in (0, 1], got 1.5",
        ),
        (
            lambda g: MultiCropConfig(greyscale=-0.1),
            "greyscale must be in [0, 1], got -0.1",
        ),
    ],
)
def test_augmentation_refusals_word_for_word(call, message):
    with pytest.raises(ValueError) as refused:
        call(generator())
    assert str(refused.value) == message


def test_a_half_precision_batch_is_cropped_to_one_pixel():
    """Found by the property test: torch's CPU affine_grid has no float16
    kernel for a 1-pixel output; the grid is made in float32."""
    images = torch.rand(2, 3, 8, 8).half()
    crops = multicrop.random_resized_crop(
        images, 1, (1.0, 1.0), torch.Generator().manual_seed(0)
    )
    assert crops.shape == (2, 3, 1, 1) and crops.dtype == torch.float16
    assert ((crops >= 0) & (crops <= 1)).all()
