"""Inputs for property tests of DINO's head, loss, teacher update and probes: strategies and tensors of every kind (dense, sparse, meta, a list); ``tests.support.refusals.expect`` judges the results."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from tests.support.examples import property_settings
from vitlesson.vit import VisionTransformer

SETTINGS = property_settings(60)


widths = st.one_of(
    st.integers(-3, 24),
    st.floats(-1, 8),
    st.sampled_from(["8", None, True, 8.0, [8]]),
)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.sampled_from(["0.1", None, True, [0.1]]),
)


not_booleans = st.one_of(
    st.booleans(),
    st.sampled_from(["False", "no", "", 0, 1, 1.0, None, [True]]),
)


dtypes = st.sampled_from(
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.bool,
        torch.complex64,
    ]
)


kinds = st.sampled_from(["dense", "dense", "dense", "sparse", "meta", "list"])


def tensor(shape, dtype=torch.float32, kind="dense", nan=False):
    """A tensor to feed a function: dense, sparse, on the meta device, or
    not a tensor at all (a nested list)."""
    if dtype.is_floating_point or dtype.is_complex:
        x = torch.randn(shape).to(dtype)
    else:
        x = torch.zeros(shape, dtype=dtype)
    if nan and dtype.is_floating_point and x.numel():
        x.view(-1)[0] = float("nan")
    if kind == "sparse" and x.dim() >= 1:
        return x.to_sparse()
    if kind == "meta":
        return x.to("meta")
    if kind == "list":
        return x.tolist()
    return x


def is_int(value, low=1):
    return type(value) is int and value >= low


def tiny_vit(**options):
    options = {
        "img_size": 16,
        "patch_size": 4,
        "embed_dim": 16,
        "depth": 1,
        "num_heads": 2,
        "dynamic_img_size": True,
        **options,
    }
    return VisionTransformer(**options)
