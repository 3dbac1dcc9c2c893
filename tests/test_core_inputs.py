"""Bad inputs to the core classes, one clear error each (issue 22, section 3).

Every case names the parameter, what was expected and what was given. The
checks are pure: building a layer assigns its attributes in its own
``__init__`` and a check never touches the layer (issue 21, section 1).
"""

import ast
import inspect

import pytest
import torch

import vitlesson
from vitlesson import _validation as check
from vitlesson.position import neighbour_similarity, principal_component_maps
from vitlesson.vit import (
    Attention,
    Block,
    DropPath,
    Mlp,
    attention_rollout,
    attention_weights,
)


def tiny_vit(**kwargs):
    config = dict(img_size=16, patch_size=8, embed_dim=8, depth=1, num_heads=2)
    return vitlesson.VisionTransformer(**(config | kwargs)).eval()


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


def test_the_conv_form_no_longer_returns_a_meta_tensor_silently():
    layer = vitlesson.FlexiblePatchEmbedding(
        16, 8, 3, 8, flatten_patches=False
    )
    with pytest.raises(ValueError, match="images are on device meta"):
        layer(torch.randn(1, 3, 16, 16, device="meta"))
    # a model and its input both on meta is fine: shapes without numbers
    with torch.device("meta"):
        model = tiny_vit()
        out = model(torch.randn(2, 3, 16, 16))
    assert out.device.type == "meta" and out.shape == (2, 8)


def test_functions_without_weights_keep_their_input_device():
    images = torch.randn(2, 3, 16, 16, device="meta")
    patches = vitlesson.patchify(images, 8)
    assert patches.is_meta and patches.shape == (2, 4, 192)
    maps = torch.rand(1, 2, 2, 5, 5)
    assert attention_rollout(maps.to("meta")).is_meta
    with pytest.raises(ValueError, match="embedding is on the meta device"):
        neighbour_similarity(torch.randn(16, 4, device="meta"), 4)


# --- flags that are not bools ----------------------------------------------


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None])
def test_return_attention_must_be_a_bool(value):
    x = torch.randn(1, 5, 8)
    for module in (Attention(8, 2), Block(8, 2)):
        with pytest.raises(
            TypeError,
            match=rf"^return_attention must be True or False, got "
            rf"{type(value).__name__} \({value!r}\)$",
        ):
            module(x, return_attention=value)


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


# --- widths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args,error,message",
    [
        ((16, 0), ValueError, "hidden_dim must be positive, got 0"),
        ((16, -4), ValueError, "hidden_dim must be positive, got -4"),
        ((0, 16), ValueError, "dim must be positive, got 0"),
        ((16, 64.0), TypeError, r"hidden_dim must be an int, got float"),
        ((16, 64, 1.0), ValueError, r"drop must be in \[0, 1\), got 1.0"),
        (
            (16, 10**12),
            ValueError,
            r"An MLP of width 16 -> 1,000,000,000,000 would need [\d,.]+ GiB",
        ),
    ],
)
def test_mlp_widths_are_positive_ints_that_fit(args, error, message):
    with pytest.raises(error, match=message):
        Mlp(*args)


def test_mlp_ratio_that_int_would_truncate_is_refused():
    with pytest.raises(
        ValueError,
        match=r"mlp_ratio must give a whole hidden width, got 16 \* 4\.1 = "
        r"65\.6: int\(\) would build a width of 65; use mlp_ratio=4\.0625",
    ):
        Block(16, 2, mlp_ratio=4.1)
    with pytest.raises(ValueError, match="mlp_ratio must give a whole"):
        tiny_vit(mlp_ratio=2.3)  # 8 * 2.3 = 18.4


@pytest.mark.parametrize("dim,hidden", [(49, 1), (384, 1536), (768, 2048)])
def test_a_width_read_back_as_a_ratio_rebuilds_the_same_width(dim, hidden):
    """The loader passes fc1's width / dim: 49 * (1 / 49) is 0.999...,
    which int() would have truncated to 0."""
    block = Block(dim, 1, mlp_ratio=hidden / dim)
    assert block.mlp.fc1.out_features == hidden


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"num_classes": True}, TypeError, "num_classes must be an int"),
        ({"num_classes": 10**12}, ValueError, "The head would need"),
        ({"depth": 2.0}, TypeError, "depth must be an int, got float"),
        ({"embed_dim": 0}, ValueError, "embed_dim must be positive, got 0"),
        ({"num_heads": 0}, ValueError, "num_heads must be positive, got 0"),
        (
            {"mlp_ratio": 0},
            ValueError,
            r"mlp_ratio must be in \(0, inf\], got 0",
        ),
        ({"attn_drop_rate": -0.1}, ValueError, "attn_drop_rate must be in"),
        ({"drop_rate": "0.1"}, TypeError, "drop_rate must be a number"),
        ({"in_channels": 0}, ValueError, "in_channels must be positive"),
        (
            {"img_size": 16 * 10**6, "patch_size": 16},
            ValueError,
            r"A position table of \(1, 1000000000001, 8\) would need",
        ),
    ],
)
def test_vision_transformer_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        tiny_vit(**kwargs)


# --- tokens of the wrong width or dtype -------------------------------------


@pytest.mark.parametrize("module", [Attention(8, 2), Block(8, 2), Mlp(8, 16)])
@pytest.mark.parametrize(
    "x,error,message",
    [
        (
            torch.randn(2, 5, 6),
            ValueError,
            r"tokens must have shape \(batch, tokens, 8\), got \(2, 5, 6\)",
        ),
        (torch.randn(5, 8), ValueError, r"got \(5, 8\)"),
        (
            torch.randn(2, 5, 8, dtype=torch.float64),
            TypeError,
            r"tokens has dtype torch\.float64 but the module's parameters "
            r"are torch\.float32: call x\.to\(torch\.float32\)",
        ),
        (
            torch.zeros(2, 5, 8, dtype=torch.int64),
            TypeError,
            r"tokens must be a floating-point tensor, got dtype torch\.int64"
            r": call x\.float\(\) first",
        ),
        ([[0.0] * 8], TypeError, "tokens must be a torch.Tensor, got list"),
    ],
)
def test_tokens_of_the_wrong_width_or_dtype(module, x, error, message):
    with pytest.raises(error, match=message):
        module(x)


def test_attention_weights_and_rollout_inputs():
    with pytest.raises(
        ValueError,
        match=r"q and k must have shapes \(\.\.\., T, d\) and \(\.\.\., S, d\)"
        r".* got \(2, 5, 4\) and \(2, 5, 3\)",
    ):
        attention_weights(torch.randn(2, 5, 4), torch.randn(2, 5, 3))
    with pytest.raises(TypeError, match="k has dtype torch.float64"):
        attention_weights(torch.randn(5, 4), torch.randn(5, 4).double())
    weights = attention_weights(torch.randn(3, 4), torch.randn(6, 4))
    assert weights.shape == (3, 6)
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    with pytest.raises(TypeError, match="maps must be a floating-point"):
        attention_rollout(torch.zeros(1, 2, 2, 3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        DropPath(0.1)([1.0])


# --- position analysis ------------------------------------------------------


def test_position_analysis_arguments():
    table = torch.randn(16, 3)
    with pytest.raises(
        ValueError,
        match=r"k must be at most min\(positions, width\) = 3 for a "
        r"\(16, 3\) table, got 4",
    ):
        principal_component_maps(table, 4, k=4)
    maps, variance = principal_component_maps(table, 4, k=3)
    assert maps.shape == (3, 4, 4) and variance.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"far must be in \[1, inf\], got 0"):
        neighbour_similarity(table, 4, far=0)
    with pytest.raises(TypeError, match=r"far must be a number, got str"):
        neighbour_similarity(table, 4, far="2")
    with pytest.raises(ValueError, match="a single position has no neighb"):
        neighbour_similarity(torch.randn(1, 3), 1)
    with pytest.raises(ValueError, match=r"got \(16, 0\)"):
        neighbour_similarity(torch.randn(16, 0), 4)


# --- checks are pure --------------------------------------------------------


def test_no_check_sets_an_attribute_on_anything():
    """No function of _validation assigns to an attribute (``x.a = ...``)."""
    tree = ast.parse(inspect.getsource(check))
    assigned = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
        for target in getattr(node, "targets", [getattr(node, "target", None)])
        if isinstance(target, ast.Attribute)
    ]
    assert assigned == []


@pytest.mark.parametrize(
    "cls,attributes",
    [
        (
            vitlesson.PatchEmbedding,
            [
                "img_size",
                "patch_size",
                "in_channels",
                "embed_dim",
                "dynamic_img_size",
                "grid_size",
                "n_patches",
            ],
        ),
        (vitlesson.PositionalEmbedding, ["n_patches", "embed_dim"]),
        (
            vitlesson.FlexiblePatchEmbedding,
            ["img_size", "patch_size", "grid_size", "n_patches", "patch_dim"],
        ),
    ],
)
def test_each_init_assigns_its_own_attributes(cls, attributes):
    """A reader of ``__init__`` sees every attribute assigned there."""
    source = inspect.getsource(cls.__init__)
    for name in attributes:
        assert f"self.{name}" in source, name


def test_no_forward_asks_the_operating_system():
    """os.sysconf breaks torch.compile(fullgraph=True): it is read once."""
    source = inspect.getsource(check)
    assert source.count("os.sysconf") == 2  # page size and pages, at import
    assert check.physical_memory() == check.PHYSICAL_MEMORY > 2**20
