"""A flood of bad (and good) inputs: every public constructor and forward pass either returns the
documented shape or raises ValueError/TypeError naming the offending value. Never another
exception, never a silent crop.
"""

from __future__ import annotations

import math
import re

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vitlesson
from tests.support.examples import examples, property_settings
from vitlesson.position import neighbour_similarity, principal_component_maps
from vitlesson.vit import Attention, Block, Mlp, attention_weights

CASES = {"count": 0}
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


def names_a_value(message: str, *values) -> bool:
    """The message names what was expected and what was given: at least one offending value appears."""
    text = message.lower()
    return any(str(v).lower() in text for v in values) or bool(
        re.search(r"\d", text)
    )


def expect(build, check_result, *offending):
    """Run ``build``; a result must pass ``check_result``, a failure must be a named ValueError/TypeError."""
    CASES["count"] += 1
    try:
        result = build()
    except (ValueError, TypeError) as error:
        assert str(error), "an error without a message"
        assert names_a_value(str(error), *offending), (
            f"{type(error).__name__}: {error}"
        )
        return
    check_result(result)


@SETTINGS
@given(
    img_size=sizes,
    patch_size=small_ints,
    in_channels=small_ints,
    embed_dim=small_ints,
    flexible=st.sampled_from([None, True, False]),
)
def test_patch_embedding_constructors(
    img_size, patch_size, in_channels, embed_dim, flexible
):
    def build():
        if flexible is None:
            return vitlesson.PatchEmbedding(
                img_size, patch_size, in_channels, embed_dim
            )
        return vitlesson.FlexiblePatchEmbedding(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            flatten_patches=flexible,
        )

    def check(layer):
        h, w = (
            (img_size, img_size)
            if isinstance(img_size, int)
            else tuple(img_size)
        )
        assert (
            h % patch_size == 0
            and w % patch_size == 0
            and min(h, w, patch_size, in_channels, embed_dim) > 0
        )
        assert layer.n_patches == (h // patch_size) * (w // patch_size)

    expect(build, check, img_size, patch_size, in_channels, embed_dim)


@SETTINGS
@given(
    shape=shapes,
    dtype=dtypes,
    nan=st.booleans(),
    patch_size=st.sampled_from([4, 8]),
    form=st.sampled_from(["default", "linear", "conv", "patchify"]),
)
def test_patch_embedding_forward(shape, dtype, nan, patch_size, form):
    layer = {
        "default": lambda: vitlesson.PatchEmbedding(32, patch_size, 3, 8),
        "linear": lambda: vitlesson.FlexiblePatchEmbedding(
            32, patch_size, 3, 8, flatten_patches=True
        ),
        "conv": lambda: vitlesson.FlexiblePatchEmbedding(
            32, patch_size, 3, 8, flatten_patches=False
        ),
        "patchify": lambda: lambda x: vitlesson.patchify(x, patch_size),
    }[form]()
    x = tensor(shape, dtype, nan)

    def check(out):
        b, c, h, w = shape  # anything else must have been refused
        n = (h // patch_size) * (w // patch_size)
        assert h % patch_size == 0 and w % patch_size == 0  # no silent crop
        assert out.shape == (
            (b, n, c * patch_size**2) if form == "patchify" else (b, n, 8)
        )
        if form != "patchify":
            assert (b, c, h, w)[1:] == (3, 32, 32)
        if nan and out.numel():
            assert out.isnan().any()  # NaN propagates, it is not hidden

    expect(lambda: layer(x), check, tuple(shape), dtype, *shape)


@SETTINGS
@given(
    n_patches=small_ints,
    embed_dim=small_ints,
    dropout=st.one_of(st.floats(-1, 2), st.just(0.1)),
    shape=shapes,
    dtype=dtypes,
)
def test_positional_embedding(n_patches, embed_dim, dropout, shape, dtype):
    def build():
        pos = vitlesson.PositionalEmbedding(
            n_patches, embed_dim, dropout
        ).eval()
        return pos(tensor(shape, dtype, False))

    def check(out):
        assert tuple(shape[1:]) == (
            n_patches + 1,
            embed_dim,
        ) and out.shape == tuple(shape)

    expect(build, check, n_patches, embed_dim, dropout, tuple(shape), dtype)


@SETTINGS
@given(
    img_size=st.sampled_from([16, 32, (32, 16)]),
    patch_size=st.sampled_from([4, 8, 16]),
    shape=shapes,
    dtype=dtypes,
    nan=st.booleans(),
    dynamic=st.booleans(),
)
def test_vision_transformer_forward(
    img_size, patch_size, shape, dtype, nan, dynamic
):
    def build():
        model = vitlesson.VisionTransformer(
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=16,
            depth=1,
            num_heads=2,
            dynamic_img_size=dynamic,
        ).eval()
        with torch.no_grad():
            return model.forward_features(tensor(shape, dtype, nan)), model

    def check(result):
        out, model = result
        b, _, h, w = shape
        assert h % patch_size == 0 and w % patch_size == 0
        assert out.shape == (b, (h // patch_size) * (w // patch_size) + 1, 16)
        if not dynamic:
            assert (h, w) == model.patch_embed.img_size

    expect(build, check, tuple(shape), dtype, img_size, *shape)


@SETTINGS
@given(
    new_grid=sizes,
    tokens=st.integers(-1, 50),
    dim=st.integers(0, 6),
    prefix=st.integers(0, 2),
)
def test_resample_position_embedding(new_grid, tokens, dim, prefix):
    def build():
        return vitlesson.resample_position_embedding(
            torch.randn(1, max(tokens, 0), dim),
            new_grid,
            num_prefix_tokens=prefix,
        )

    def check(out):
        rows, cols = (
            (new_grid, new_grid)
            if isinstance(new_grid, int)
            else tuple(new_grid)
        )
        assert out.shape == (1, prefix + rows * cols, dim)

    expect(build, check, new_grid, tokens, dim, tokens - prefix)


@SETTINGS
@given(dim=small_ints, heads=small_ints, shape=shapes, dtype=dtypes)
def test_attention(dim, heads, shape, dtype):
    def build():
        return Attention(dim, heads)(tensor(shape, dtype, False))[0]

    def check(out):
        assert out.shape == tuple(shape) and shape[-1] == dim

    expect(build, check, dim, heads, tuple(shape), dtype)


@SETTINGS
@given(grid=sizes, dim=small_ints)
def test_sincos(grid, dim):
    def check(out):
        rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
        assert out.shape == (rows * cols, dim)

    expect(
        lambda: vitlesson.sincos_2d_position_embedding(grid, dim),
        check,
        grid,
        dim,
    )


def expect_named(build, check_result, name: str):
    """Like :func:`expect`, but a refusal must name the parameter itself."""
    CASES["count"] += 1
    try:
        result = build()
    except (ValueError, TypeError) as error:
        assert name in str(error), (
            f"{type(error).__name__} does not name {name}: {error}"
        )
        return
    check_result(result)


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

    expect_named(build, check, flag)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.sampled_from(["0.1", "4", None, True, [0.1]]),
)


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

    expect_named(build, check, name)


@SETTINGS
@given(
    value=st.one_of(
        st.integers(-3, 3),
        st.floats(-2, 3),
        st.sampled_from([None, "x", True]),
    )
)
def test_prefix_token_counts_are_counts(value):
    def check(
        out,
    ):  # only 1 prefix token leaves a square grid (16 = 4 x 4) of the 17 rows
        assert (
            value == 1
            and not isinstance(value, bool)
            and out.shape == (1, 1 + 4, 4)
        )

    expect_named(
        lambda: vitlesson.resample_position_embedding(
            torch.randn(1, 17, 4), 2, num_prefix_tokens=value
        ),
        check,
        "num_prefix_tokens",
    )


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

    expect_named(
        build,
        check_result,
        "dynamic_img_size"
        if caller == "dynamic patches"
        else "return_attention",
    )


widths = st.one_of(
    st.integers(-3, 40),
    st.floats(-2, 40),
    st.sampled_from(["8", None, True, 10**13]),
)


@SETTINGS
@given(
    dim=widths, hidden=widths, drop=st.one_of(st.floats(-1, 2), st.just(0.0))
)
def test_mlp_widths(dim, hidden, drop):
    def check_result(mlp):
        assert (
            all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0
                for v in (dim, hidden)
            )
            and 0 <= drop < 1
        )
        x = torch.randn(2, 3, dim)
        assert mlp.fc1.out_features == hidden and mlp(x).shape == x.shape

    expect(lambda: Mlp(dim, hidden, drop), check_result, dim, hidden, drop)


@SETTINGS
@given(
    dim=st.sampled_from([6, 8, 16, 48, 384]),
    mlp_ratio=st.one_of(
        st.floats(0, 10),
        st.sampled_from([4.0, 4.1, 8 / 3, 1 / 3, 0.5, 2.5, 1e-9, 1e12]),
        st.fractions(0, 8, max_denominator=48).map(float),
    ),
)
def test_mlp_ratio_gives_a_width_a_loader_reads_back(dim, mlp_ratio):
    """A ratio is refused, naming mlp_ratio, unless dim * mlp_ratio is a
    whole width; then the width read back from fc1 (the loader's ratio,
    fc1 width / dim) builds the same block."""

    def check_result(block):
        width = block.mlp.fc1.out_features
        assert width >= 1 and abs(width - dim * mlp_ratio) < 1e-6 * width
        again = Block(dim, 2, mlp_ratio=width / dim)
        assert again.mlp.fc1.out_features == width

    expect_named(lambda: Block(dim, 2, mlp_ratio), check_result, "mlp_ratio")


@SETTINGS
@given(
    form=st.sampled_from(["Attention", "Block", "Mlp"]),
    shape=small_shapes,
    dtype=dtypes,
    explicit=st.booleans(),
)
def test_tokens_of_the_wrong_width_or_dtype(form, shape, dtype, explicit):
    module = {
        "Attention": lambda: Attention(8, 2),
        "Block": lambda: Block(8, 2),
        "Mlp": lambda: Mlp(8, 16),
    }[form]().eval()
    x = tensor(shape, dtype, False)

    def build():
        if form == "Mlp":
            return module(x)
        out = module(x, return_attention=explicit)
        return out[0] if isinstance(out, tuple) else out

    def check_result(out):
        assert len(shape) == 3 and shape[-1] == 8 and dtype == torch.float32
        assert out.shape == tuple(shape)

    expect(build, check_result, tuple(shape), dtype, *shape)


@SETTINGS
@given(q_shape=small_shapes, k_shape=small_shapes, dtype=dtypes)
def test_attention_weights_of_any_queries_and_keys(q_shape, k_shape, dtype):
    def check_result(weights):
        assert len(q_shape) >= 2 and q_shape[:-2] == k_shape[:-2]
        assert q_shape[-1] == k_shape[-1] and dtype.is_floating_point
        assert k_shape[-2] > 0  # each row of weights sums to 1
        assert weights.shape[-2:] == (q_shape[-2], k_shape[-2])

    expect(
        lambda: attention_weights(
            tensor(q_shape, dtype, False), tensor(k_shape, dtype, False)
        ),
        check_result,
        tuple(q_shape),
        tuple(k_shape),
        dtype,
    )


@SETTINGS
@given(
    k=small_ints,
    far=numbers,
    positions=st.integers(1, 6),
    width=st.integers(0, 6),
)
def test_position_analysis_arguments(k, far, positions, width):
    table = torch.randn(positions * 2, width)
    grid = (positions, 2)

    def check_components(result):
        maps, variance = result
        assert 0 < k <= min(positions * 2, width) and width > 0
        assert maps.shape == (k, positions, 2) and variance.isfinite().all()

    def check_neighbours(result):
        assert isinstance(far, (int, float)) and math.isfinite(far)
        assert far >= 1 and width > 0
        assert all(math.isfinite(value) for value in result)

    expect(
        lambda: principal_component_maps(table, grid, k=k),
        check_components,
        k,
        width,
    )
    expect_named(
        lambda: (
            neighbour_similarity(table, grid, far=far)
            if width
            else neighbour_similarity(table, grid)
        ),
        check_neighbours,
        "far" if width else "embedding",
    )


def test_case_count():
    """Runs last in this module: the number of inputs tried, for the report
    (at least 1,000; a tenth of that under make test-fast)."""
    print(f"{CASES['count']} property-based cases tried")
    assert CASES["count"] >= examples(1000)
