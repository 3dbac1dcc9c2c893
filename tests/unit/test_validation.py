"""The checks every public layer shares (``vitlesson._validation``), tried through the layers themselves: flags that must be bools, numbers that must be finite and in range, sizes that cannot fit, inputs on another device, and messages that name the argument."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vitlesson
from tests.support.examples import examples
from tests.support.layer_inputs import (
    CASES,
    SETTINGS,
    numbers,
    tiny_vit,
)
from tests.support.refusals import expect
from vitlesson.data.images import (
    normalize,
    square_crop_resize,
)
from vitlesson.position import (
    cosine_similarity_maps,
    neighbour_similarity,
    principal_component_maps,
)
from vitlesson.vit import (
    Attention,
    Block,
    Mlp,
    attention_rollout,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: normalize([1.0]), "images must be a torch.Tensor, got list"),
        (
            lambda: square_crop_resize([1.0], 8),
            "image must be a torch.Tensor, got list",
        ),
        (
            lambda: square_crop_resize(torch.rand(3, 8, 8), 0),
            "size must be positive, got 0",
        ),
        (
            lambda: principal_component_maps(torch.rand(4, 8), 2, k=0),
            "k must be positive, got 0",
        ),
        (
            lambda: cosine_similarity_maps([1.0], 2),
            "embedding must be a torch.Tensor, got list",
        ),
        (
            lambda: cosine_similarity_maps(torch.rand(4, 8), "x"),
            "grid_size must be an int, got str",
        ),
        (
            lambda: vitlesson.vit_tiny(img_size=32).get_intermediate_layers(
                torch.rand(1, 3, 32, 32), n=0
            ),
            "n must be positive, got 0",
        ),
        (
            lambda: vitlesson.FlexiblePatchEmbedding(flatten_patches="no"),
            "flatten_patches must be True or False",
        ),
        (
            lambda: Attention(8, 2)(torch.rand(1, 3, 8, dtype=torch.float64)),
            "tokens has dtype torch.float64 but the module's parameters are torch.float32",
        ),
    ],
)
def test_messages_name_the_argument(call, message):
    with pytest.raises((TypeError, ValueError)) as error:
        call()
    assert str(error.value).startswith(message)


not_booleans = st.one_of(
    st.booleans(),
    st.sampled_from(["False", "no", "yes", "", 0, 1, 1.0, None, [True]]),
)


@SETTINGS
@given(
    value=not_booleans,
    flag=st.sampled_from(
        ["flatten_patches", "dynamic_img_size", "qkv_bias", "antialias"]
    ),
)
def test_flags_must_be_booleans(value, flag):
    build = {
        "flatten_patches": lambda: vitlesson.FlexiblePatchEmbedding(
            32, 8, flatten_patches=value
        ),
        "dynamic_img_size": lambda: vitlesson.PatchEmbedding(
            32, 8, dynamic_img_size=value
        ),
        "qkv_bias": lambda: Attention(8, 2, qkv_bias=value),
        "antialias": lambda: vitlesson.resample_position_embedding(
            torch.randn(1, 17, 4), 2, antialias=value
        ),
    }[flag]

    def check(_):
        assert isinstance(value, bool), f"{flag}={value!r} was taken"

    expect(build, check, names=flag, values=(value,))


@SETTINGS
@given(
    value=numbers,
    name=st.sampled_from(
        ["drop_rate", "attn_drop_rate", "dropout", "mlp_ratio", "temperature"]
    ),
)
def test_numbers_must_be_finite_and_in_range(value, name):
    build = {
        "drop_rate": lambda: vitlesson.VisionTransformer(
            img_size=16,
            patch_size=8,
            embed_dim=8,
            depth=1,
            num_heads=2,
            drop_rate=value,
        ),
        "attn_drop_rate": lambda: vitlesson.VisionTransformer(
            img_size=16,
            patch_size=8,
            embed_dim=8,
            depth=1,
            num_heads=2,
            attn_drop_rate=value,
        ),
        "dropout": lambda: vitlesson.PositionalEmbedding(4, 8, dropout=value),
        "mlp_ratio": lambda: vitlesson.VisionTransformer(
            img_size=16,
            patch_size=8,
            embed_dim=8,
            depth=1,
            num_heads=2,
            mlp_ratio=value,
        ),
        "temperature": lambda: vitlesson.sincos_2d_position_embedding(
            4, 8, temperature=value
        ),
    }[name]

    def check(result):
        assert (
            not isinstance(value, bool)
            and isinstance(value, (int, float))
            and math.isfinite(value)
        )
        if name == "temperature":
            assert value > 1 and result.isfinite().all()
        elif name == "mlp_ratio":
            assert int(8 * value) >= 1
        else:
            assert 0 <= value < 1

    expect(build, check, names=name, values=(value,))


@SETTINGS
@given(
    case=st.sampled_from(
        ["img_size", "n_patches", "depth", "resample", "sincos"]
    ),
    size=st.sampled_from([10**5, 10**6, 10**9]),
)
def test_sizes_that_cannot_fit_are_refused_before_allocating(case, size):
    build = {
        "img_size": lambda: vitlesson.vit_small(img_size=16 * size),
        "n_patches": lambda: vitlesson.PositionalEmbedding(size * 1000, 768),
        "depth": lambda: vitlesson.VisionTransformer(
            embed_dim=384, num_heads=6, depth=size
        ),
        "resample": lambda: vitlesson.resample_position_embedding(
            torch.randn(1, 17, 384), size // 10
        ),
        "sincos": lambda: vitlesson.sincos_2d_position_embedding(size, 768),
    }[case]
    CASES["count"] += 1
    try:
        build()
    except ValueError as error:
        assert "GiB of memory" in str(error) and "this machine has" in str(
            error
        ), str(error)
    else:
        raise AssertionError(f"{case}={size} was built")


# --- devices, layouts, flags, widths and tokens (issue 22, section 3) --------

MODULES = {
    "PatchEmbedding": (
        lambda: vitlesson.PatchEmbedding(16, 8, 3, 8),
        (2, 3, 16, 16),
    ),
    "linear form": (
        lambda: vitlesson.FlexiblePatchEmbedding(16, 8, 3, 8),
        (2, 3, 16, 16),
    ),
    "conv form": (
        lambda: vitlesson.FlexiblePatchEmbedding(
            16, 8, 3, 8, flatten_patches=False
        ),
        (2, 3, 16, 16),
    ),
    "PositionalEmbedding": (
        lambda: vitlesson.PositionalEmbedding(4, 8),
        (2, 5, 8),
    ),
    "VisionTransformerEmbedding": (
        lambda: vitlesson.VisionTransformerEmbedding(16, 8, 3, 8),
        (2, 3, 16, 16),
    ),
    "Attention": (lambda: Attention(8, 2), (2, 5, 8)),
    "Block": (lambda: Block(8, 2), (2, 5, 8)),
    "Mlp": (lambda: Mlp(8, 32), (2, 5, 8)),
    "VisionTransformer": (
        lambda: vitlesson.VisionTransformer(
            img_size=16, patch_size=8, embed_dim=8, depth=1, num_heads=2
        ),
        (2, 3, 16, 16),
    ),
    "dynamic VisionTransformer": (
        lambda: vitlesson.VisionTransformer(
            img_size=16,
            patch_size=8,
            embed_dim=8,
            depth=1,
            num_heads=2,
            dynamic_img_size=True,
        ),
        (2, 3, 16, 16),
    ),
}


def run(module, x):
    """A module's main output (Attention returns a pair)."""
    out = module.eval()(x)
    return out[0] if isinstance(out, tuple) else out


@settings(
    SETTINGS, max_examples=examples(60)
)  # 30 combinations, each drawn twice
@given(
    name=st.sampled_from(sorted(MODULES)),
    model_on=st.sampled_from(["cpu", "meta"]),
    given_on=st.sampled_from(["cpu", "meta", "sparse"]),
)
def test_input_and_model_on_different_devices_or_sparse(
    name, model_on, given_on
):
    """A model and its input on different devices, or a sparse input: a
    ValueError/TypeError that says so, never a raw torch error and never a
    tensor without values computed silently (the conv form did that)."""
    build, shape = MODULES[name]
    with torch.device(model_on):
        module = build()
    x = torch.randn(shape)
    x = x.to_sparse() if given_on == "sparse" else x.to(given_on)
    CASES["count"] += 1
    try:
        out = run(module, x)
    except (ValueError, TypeError) as error:
        expected = "dense tensor" if given_on == "sparse" else "device"
        assert expected in str(error), str(error)
        return
    assert given_on == model_on, f"{given_on} input to a {model_on} model"
    assert out.device == x.device and out.shape[0] == 2


@SETTINGS
@given(
    value=not_booleans,
    caller=st.sampled_from(
        ["Attention", "Block", "last block", "dynamic patches"]
    ),
)
def test_forward_flags_must_be_booleans(value, caller):
    x = torch.randn(2, 5, 8)
    build = {
        "Attention": lambda: Attention(8, 2)(x, return_attention=value),
        "Block": lambda: Block(8, 2)(x, return_attention=value),
        "last block": lambda: Block(8, 2)(x, value),
        "dynamic patches": lambda: vitlesson.PatchEmbedding(
            16, 8, 3, 8, dynamic_img_size=value
        ),
    }[caller]

    def check_result(result):
        assert isinstance(value, bool), f"{value!r} was taken as a flag"
        if caller != "dynamic patches":
            assert isinstance(result, tuple) == (
                value or caller == "Attention"
            )

    expect(
        build,
        check_result,
        names="dynamic_img_size"
        if caller == "dynamic patches"
        else "return_attention",
        values=(value,),
    )


# --- model and input on different devices; sparse tensors ------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "build,shape",
    [
        (lambda: vitlesson.PatchEmbedding(16, 8, 3, 8), (1, 3, 16, 16)),
        (
            lambda: vitlesson.FlexiblePatchEmbedding(
                16, 8, 3, 8, flatten_patches=False
            ),
            (1, 3, 16, 16),
        ),
        (lambda: vitlesson.PositionalEmbedding(4, 8), (1, 5, 8)),
        (lambda: Attention(8, 2), (1, 5, 8)),
        (lambda: Block(8, 2), (1, 5, 8)),
        (lambda: Mlp(8, 16), (1, 5, 8)),
        (tiny_vit, (1, 3, 16, 16)),
    ],
    ids=["patch", "conv", "position", "attention", "block", "mlp", "vit"],
)
def test_input_on_another_device_than_the_weights(build, shape):
    model = build()
    with pytest.raises(
        ValueError,
        match=r"are on device meta but the module's parameters are on cpu: "
        r"move one to the other, e\.g\. x\.to\('cpu'\)",
    ):
        model(torch.randn(shape, device="meta"))
    with torch.device("meta"):
        on_meta = build()
    with pytest.raises(
        ValueError, match=r"on device cpu but the module's parameters are "
    ):
        on_meta(torch.randn(shape))
    with pytest.raises(
        TypeError,
        match=r"must be a dense tensor, got layout torch\.sparse_coo: "
        r"call x\.to_dense\(\)",
    ):
        model(torch.randn(shape).to_sparse())


def test_functions_without_weights_keep_their_input_device():
    images = torch.randn(2, 3, 16, 16, device="meta")
    patches = vitlesson.patchify(images, 8)
    assert patches.is_meta and patches.shape == (2, 4, 192)
    maps = torch.rand(1, 2, 2, 5, 5)
    assert attention_rollout(maps.to("meta")).is_meta
    with pytest.raises(ValueError, match="embedding is on the meta device"):
        neighbour_similarity(torch.randn(16, 4, device="meta"), 4)


@pytest.mark.parametrize(
    "build,flag",
    [
        (
            lambda v: vitlesson.PatchEmbedding(16, 8, dynamic_img_size=v),
            "dynamic_img_size",
        ),
        (lambda v: tiny_vit(dynamic_img_size=v), "dynamic_img_size"),
        (lambda v: tiny_vit(qkv_bias=v), "qkv_bias"),
        (lambda v: Block(8, 2, qkv_bias=v), "qkv_bias"),
        (
            lambda v: vitlesson.FlexiblePatchEmbedding(
                16, 8, flatten_patches=v
            ),
            "flatten_patches",
        ),
        (
            lambda v: vitlesson.patching.patch_config(16, 8, flag=v),
            "flag",
        ),
    ],
)
def test_constructor_flags_must_be_bools(build, flag):
    with pytest.raises(
        TypeError, match=rf"^{flag} must be True or False, got str \('no'\)"
    ):
        build("no")
