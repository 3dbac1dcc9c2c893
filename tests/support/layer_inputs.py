"""Inputs for property tests of the core layers (patching, positions, attention, the ViT): hypothesis strategies that mix good values with bad ones; ``tests.support.refusals.expect`` judges the results."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import vitlesson
from tests.support.examples import property_settings
from tests.support.refusals import CASES  # noqa: F401 (counted there)

SETTINGS = property_settings(150)


sizes = st.one_of(
    st.integers(-4, 48),
    st.tuples(st.integers(-2, 48), st.integers(-2, 48)),
    st.floats(-1, 48),
    st.just("16"),
    st.none(),
    st.booleans(),
    st.lists(st.integers(1, 32), max_size=3),
)


small_ints = st.one_of(
    st.integers(-3, 12),
    st.floats(0, 8),
    st.just("3"),
    st.none(),
    st.booleans(),
)


dtypes = st.sampled_from(
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.uint8,
        torch.bool,
        torch.complex64,
    ]
)


shapes = st.lists(st.integers(0, 40), min_size=0, max_size=5)


small_shapes = st.lists(st.integers(0, 9), min_size=0, max_size=4)


def tensor(shape, dtype, nan: bool) -> torch.Tensor:
    x = (
        torch.zeros(shape, dtype=dtype)
        if not dtype.is_floating_point
        else torch.randn(shape).to(dtype)
    )
    if nan and dtype.is_floating_point and x.numel():
        x.view(-1)[0] = float("nan")
    return x


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.sampled_from(["0.1", "4", None, True, [0.1]]),
)


def tiny_vit(**kwargs):
    config = dict(img_size=16, patch_size=8, embed_dim=8, depth=1, num_heads=2)
    return vitlesson.VisionTransformer(**(config | kwargs)).eval()
