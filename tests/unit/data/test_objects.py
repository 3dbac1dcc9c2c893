"""``vitlesson.data.objects``: the seeded coloured-shape images DINO learns from in miniature."""

import math

import pytest
import torch

from vitlesson.data.objects import CLASSES, make_objects

# --- the data ------------------------------------------------------------------------------


def test_objects_are_seeded_and_shaped():
    images, masks, labels = make_objects(64, seed=5)
    again = make_objects(64, seed=5)
    assert (
        images.shape == (64, 3, 32, 32)
        and masks.shape == (64, 32, 32)
        and masks.dtype == torch.bool
    )
    assert (
        torch.equal(images, again[0])
        and torch.equal(masks, again[1])
        and torch.equal(labels, again[2])
    )
    assert not torch.equal(images, make_objects(64, seed=6)[0])
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) == set(range(len(CLASSES)))


def test_every_masked_pixel_has_the_object_colour():
    images, masks, _ = make_objects(32, seed=1)
    for image, mask in zip(images, masks, strict=True):
        inside = image[:, mask]  # (3, pixels)
        assert torch.allclose(inside, inside[:, :1].expand_as(inside))
        assert (
            40 < mask.sum() < 32 * 32 / 2
        )  # an object, well inside the image


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,check",
    [
        (
            "square",
            lambda box, m: m.all(),
        ),  # an axis-aligned square fills its bounding box
        ("disc", lambda box, m: abs(m.float().mean() - math.pi / 4) < 0.1),
        (
            "cross",
            lambda box, m: (
                m[m.shape[0] // 2].all()
                and m[:, m.shape[1] // 2].all()
                and not m[0, 0]
            ),
        ),
        (
            "triangle",
            lambda box, m: (
                m[-1].sum() > 2 * m[0].sum()
                and abs(m.float().mean() - 0.5) < 0.12
            ),
        ),
    ],
)
def test_each_class_draws_its_shape(name, check):
    _, masks, labels = make_objects(200, seed=2)
    for mask in masks[labels == CLASSES.index(name)][:10]:
        rows, cols = mask.any(dim=1).nonzero(), mask.any(dim=0).nonzero()
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert check(None, box), name


def test_objects_refuse_bad_arguments():
    with pytest.raises(
        ValueError,
        match="image_size must be at least 22 to fit the largest object, got 16",
    ):
        make_objects(4, seed=0, image_size=16)
    with pytest.raises(ValueError, match="n must be 0 or more, got -1"):
        make_objects(-1, seed=0)
