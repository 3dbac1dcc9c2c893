"""``vitlesson.data.multicrop``: DINO's global and local views, flips, colour operations, and every setting checked by name."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.support.data_inputs import SETTINGS
from tests.support.refusals import expect
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
