"""``vitlesson.data.shapes``: the square-position task of the training lab, and the data sets' argument checks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.data_inputs import SETTINGS
from tests.support.examples import examples
from tests.support.refusals import expect
from vitlesson.data.objects import make_objects
from vitlesson.data.shapes import make_shapes, normalize_shapes


def test_shapes_are_deterministic_and_balanced():
    images, labels = make_shapes(400, seed=3)
    again, again_labels = make_shapes(400, seed=3)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert not torch.equal(images, make_shapes(400, seed=4)[0])
    assert (
        images.shape == (400, 3, 32, 32)
        and 0 <= images.min()
        and images.max() <= 1
    )
    assert 0.4 < labels.float().mean() < 0.6


def test_labels_say_where_the_square_is():
    images, labels = make_shapes(50, seed=5)
    red = (images[:, 0] > 0.79) & (
        images[:, 2] < 0.31
    )  # the square's warm shades
    blue = (images[:, 2] > 0.79) & (
        images[:, 0] < 0.31
    )  # the circle's cool shades
    columns = torch.arange(32).float()
    square_x = (red.float().sum(dim=1) * columns).sum(dim=1) / red.float().sum(
        dim=(1, 2)
    )
    circle_x = (blue.float().sum(dim=1) * columns).sum(
        dim=1
    ) / blue.float().sum(dim=(1, 2))
    assert torch.equal((square_x < circle_x).long(), labels)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"n": -1, "seed": 0}, ValueError, "n must be 0 or more, got -1"),
        (
            {"n": 2, "seed": 0, "image_size": 8},
            ValueError,
            "image_size must be at least 24 to place both shapes apart, got 8",
        ),
        ({"n": 2.5, "seed": 0}, TypeError, "n must be an int, got float"),
    ],
)
def test_shapes_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_shapes(**kwargs)


# --- the data sets ---------------------------------------------------------


counts = st.one_of(st.integers(-2, 3), st.sampled_from([2.0, "3", None, True]))


seeds = st.one_of(
    st.integers(-2, 5),
    st.sampled_from([2**64 - 1, 2**64, 1.5, "1", None, False]),
)


image_sizes = st.one_of(
    st.integers(-1, 40), st.sampled_from([32.0, "32", None, True])
)


@settings(SETTINGS, max_examples=examples(40))
@given(
    dataset=st.sampled_from(["shapes", "objects"]),
    n=counts,
    seed=seeds,
    image_size=image_sizes,
)
def test_data_sets(dataset, n, seed, image_size):
    make = make_shapes if dataset == "shapes" else make_objects
    smallest = 24 if dataset == "shapes" else 22

    def check(result):
        assert type(n) is int and n >= 0
        assert type(seed) is int and 0 <= seed < 2**64
        assert type(image_size) is int and image_size >= smallest
        images = result[0]
        assert images.shape == (n, 3, image_size, image_size)
        assert ((images >= 0) & (images <= 1)).all()

    expect(
        lambda: make(n, seed, image_size),
        check,
        names=("n", "seed", "image_size"),
        values=(n, seed, image_size),
    )


@pytest.mark.parametrize("make", [make_shapes, make_objects])
def test_data_too_large_for_memory_is_refused_before_allocating(make):
    with pytest.raises(ValueError, match="GiB of memory"):
        make(10**9, 0)
    with pytest.raises(ValueError, match="GiB of memory"):
        make(0, 0, image_size=10**7)


def test_normalize_shapes_refuses_integer_images():
    with pytest.raises(TypeError, match="images must be a floating-point"):
        normalize_shapes(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    assert normalize_shapes(torch.ones(1)).item() == 1.0


# --- the colourings: a test for the colour shortcut --------------------------


def _warm(images):
    return (images[:, 0] > 0.79) & (images[:, 2] < 0.31)  # (n, S, S)


def _cool(images):
    return (images[:, 2] > 0.79) & (images[:, 0] < 0.31)  # (n, S, S)


@pytest.mark.parametrize("colours", ["swapped", "grey", "random"])
def test_a_seed_draws_the_same_scene_in_every_colouring(colours):
    images, labels = make_shapes(60, seed=7)
    other, other_labels = make_shapes(60, seed=7, colours=colours)
    assert torch.equal(labels, other_labels)
    background = images[:, :, :1, :1]  # (n, 3, 1, 1): a corner is background
    assert torch.equal(background, other[:, :, :1, :1])
    shapes = (images != background).any(dim=1)  # (n, S, S)
    assert torch.equal(shapes, (other != background).any(dim=1))


def test_swapped_colours_paint_the_square_cool_and_the_circle_warm():
    images, _ = make_shapes(60, seed=7)
    swapped, _ = make_shapes(60, seed=7, colours="swapped")
    assert _warm(images).any() and _cool(images).any()
    assert torch.equal(_warm(images), _cool(swapped))
    assert torch.equal(_cool(images), _warm(swapped))


def test_grey_shapes_have_equal_channels_and_differ_from_each_other():
    images, _ = make_shapes(60, seed=7)
    grey, _ = make_shapes(60, seed=7, colours="grey")
    square, circle = _warm(images), _cool(images)  # where each shape is
    for where in (square, circle):
        pixels = grey.permute(0, 2, 3, 1)[where]  # (pixels, 3)
        assert (pixels[:, :1] == pixels).all()
        assert 0.5 <= pixels.min() and pixels.max() <= 1
    first = grey[:, 0][square].unique().numel()
    assert first > 30  # each image its own grey, not one for all


def test_random_colours_are_bright_and_of_every_hue():
    images, _ = make_shapes(200, seed=7)
    coloured, _ = make_shapes(200, seed=7, colours="random")
    for where in (_warm(images), _cool(images)):
        pixels = coloured.permute(0, 2, 3, 1)[where]  # (pixels, 3)
        brightest = pixels.amax(dim=1)
        assert 0.6 <= brightest.min() and brightest.max() <= 1
        # red, green and blue each lead in some squares and some circles
        assert set(pixels.argmax(dim=1).tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    "colours,error,message",
    [
        (
            "gray",
            ValueError,
            "'families', 'swapped', 'grey', 'random', got 'gray'",
        ),
        ("", ValueError, "colours must be one of 'families'"),
        (None, TypeError, "colours must be a str, one of 'families', "),
        (["grey"], TypeError, "got list"),
    ],
)
def test_an_unknown_colouring_names_the_choices(colours, error, message):
    with pytest.raises(error, match=message):
        make_shapes(2, seed=0, colours=colours)
