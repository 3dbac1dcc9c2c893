"""``vitlesson.position``: learned and sin-cos position tables, resampling to another grid, and the similarity analyses the lesson draws."""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import vitlesson
from tests.support.layer_inputs import (
    SETTINGS,
    dtypes,
    numbers,
    shapes,
    sizes,
    small_ints,
    tensor,
)
from tests.support.refusals import expect
from vitlesson.position import (
    PositionalEmbedding,
    cosine_similarity_maps,
    neighbour_similarity,
    principal_component_maps,
    resample_position_embedding,
    sincos_2d_position_embedding,
)


def test_positional_embedding_parameter():
    torch.manual_seed(0)
    pos = PositionalEmbedding(196, 768)
    assert pos.position_embeddings.shape == (1, 197, 768)
    assert pos.position_embeddings.requires_grad
    assert abs(pos.position_embeddings.std().item() - 0.02) < 1e-3
    assert abs(pos.position_embeddings.mean().item()) < 1e-3


def test_positional_embedding_adds_the_table():
    pos = PositionalEmbedding(4, 8, dropout=0.0)
    tokens = torch.randn(3, 5, 8)
    assert torch.equal(pos(tokens), tokens + pos.position_embeddings)


def test_dropout_only_in_training():
    pos = PositionalEmbedding(4, 8, dropout=0.5)
    tokens = torch.ones(2, 5, 8)
    assert torch.equal(pos.eval()(tokens), tokens + pos.position_embeddings)
    assert (pos.train()(tokens) == 0).any()


@pytest.mark.parametrize(
    "tokens,message",
    [
        (
            torch.randn(2, 4, 8),
            r"shape \(batch, 5, 8\) \(CLS \+ 4 patches\), got \(2, 4, 8\)",
        ),
        (torch.randn(5, 8), r"got \(5, 8\)"),
        (torch.randn(2, 5, 6), r"got \(2, 5, 6\)"),
    ],
)
def test_positional_embedding_rejects_wrong_shapes(tokens, message):
    with pytest.raises(ValueError, match=message):
        PositionalEmbedding(4, 8)(tokens)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (
            {"n_patches": 0, "embed_dim": 8},
            ValueError,
            "n_patches must be positive, got 0",
        ),
        (
            {"n_patches": 4, "embed_dim": 8, "dropout": 1.5},
            ValueError,
            r"dropout must be in \[0, 1\), got 1.5",
        ),
        (
            {"n_patches": 4.0, "embed_dim": 8},
            TypeError,
            "n_patches must be an int, got float",
        ),
    ],
)
def test_positional_embedding_bad_configuration(kwargs, error, message):
    with pytest.raises(error, match=message):
        PositionalEmbedding(**kwargs)


def test_sincos_is_smooth_and_distinct():
    table = sincos_2d_position_embedding((6, 8), 64)
    assert table.shape == (48, 64)
    assert (
        len({tuple(row.tolist()) for row in table}) == 48
    )  # every position gets its own vector
    maps = cosine_similarity_maps(table, (6, 8))
    # similarity falls with distance along a row and along a column
    assert (
        maps[2, 3, 2, 4] > maps[2, 3, 2, 6]
        and maps[2, 3, 3, 3] > maps[2, 3, 5, 3]
    )


def test_sincos_needs_dimension_divisible_by_four():
    with pytest.raises(ValueError, match="divisible by 4 .* got 30"):
        sincos_2d_position_embedding(4, 30)


def test_similarity_maps_of_a_random_table():
    torch.manual_seed(0)
    table = torch.randn(16, 512)
    maps = cosine_similarity_maps(table, 4)
    assert maps.shape == (4, 4, 4, 4)
    assert torch.allclose(maps[1, 2, 1, 2], torch.tensor(1.0))
    off_diagonal = maps.reshape(16, 16)[~torch.eye(16, dtype=torch.bool)]
    assert off_diagonal.abs().max() < 0.25


def test_principal_components_find_a_gradient():
    rows, cols = 5, 7
    r, c = torch.meshgrid(
        torch.arange(float(rows)), torch.arange(float(cols)), indexing="ij"
    )
    # a table that varies only with the column, plus a little noise
    torch.manual_seed(0)
    table = c.reshape(-1, 1) * torch.randn(1, 32) + 0.01 * torch.randn(
        rows * cols, 32
    )
    maps, variance = principal_component_maps(table, (rows, cols), k=2)
    assert maps.shape == (2, rows, cols) and variance[0] > 0.99
    assert torch.allclose(
        maps[0].std(dim=0), torch.zeros(cols), atol=0.05
    )  # constant down each column


def test_analysis_rejects_a_table_of_the_wrong_size():
    with pytest.raises(
        ValueError,
        match=r"shape \(196, D\) for a 14x14 grid .* got \(197, 8\)",
    ):
        cosine_similarity_maps(torch.randn(197, 8), 14)


# --- the analysis numbers ------------------------------------------------------


def test_neighbour_similarity_on_a_known_table():
    # a 1x5 grid of unit vectors at angles 0, 30, 60, 90, 120 degrees: neighbours are 30 degrees apart
    angles = torch.deg2rad(torch.tensor([0.0, 30, 60, 90, 120]))
    table = torch.stack([angles.cos(), angles.sin()], dim=1)  # (5, 2)
    near, far = neighbour_similarity(table, (1, 5))
    assert near == pytest.approx(
        torch.cos(torch.deg2rad(torch.tensor(30.0))).item(), abs=1e-6
    )
    assert far == pytest.approx(
        torch.cos(torch.deg2rad(torch.tensor(120.0))).item(), abs=1e-6
    )  # only (0, 4)
    near, far = neighbour_similarity(
        table, (1, 5), far=3
    )  # pairs 3 and 4 apart: 90 degrees twice, 120 once
    assert far == pytest.approx((0 + 0 + 0 + 0 - 0.5 - 0.5) / 6, abs=1e-6)
    with pytest.raises(
        ValueError,
        match="no two positions of a 1x5 grid are 5 cells apart: use a smaller far",
    ):
        neighbour_similarity(table, (1, 5), far=5)
    with pytest.raises(
        ValueError, match=r"embedding must have shape \(6, D\) for a 2x3 grid"
    ):
        neighbour_similarity(table, (2, 3))


def test_neighbours_count_rows_and_columns():
    # on a 2x2 grid the direct neighbours of (0, 0) are (0, 1) and (1, 0), not the diagonal
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]])
    near, far = neighbour_similarity(table, 2, far=1.4)
    assert near == pytest.approx(0.0) and far == pytest.approx(
        -1.0
    )  # the diagonal pairs are opposite


def test_principal_components_of_a_known_table():
    # positions spread along one direction (x 3) and a little along another (x 1)
    coords = torch.tensor([[-1.0, -1], [-1, 1], [1, -1], [1, 1]])
    table = torch.cat(
        [coords * torch.tensor([3.0, 1.0]), torch.full((4, 1), 5.0)], dim=1
    )  # offset: centred away
    maps, variance = principal_component_maps(table, 2, k=2)
    assert variance.tolist() == pytest.approx([0.9, 0.1])  # 9 : 1
    assert maps[0].abs().flatten().tolist() == pytest.approx(
        [3.0] * 4
    )  # scores along the first axis
    assert maps[1].abs().flatten().tolist() == pytest.approx([1.0] * 4)
    assert principal_component_maps(table, 2)[0].shape == (
        3,
        2,
        2,
    )  # k = 3 by default


def test_cosine_similarity_is_per_position():
    table = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0], [2.0, 0.0]])
    maps = cosine_similarity_maps(table, 2)
    assert maps[0, 0].flatten().tolist() == pytest.approx(
        [1.0, 0.0, 2**-0.5, 1.0]
    )


def test_sincos_is_computed_in_double_precision():
    table = vitlesson.sincos_2d_position_embedding((3, 200), 64)
    i = torch.arange(16, dtype=torch.float64)
    angle = 199 * 10000 ** (-i / 16)
    assert torch.equal(table[199, 32:48], angle.sin().float())


def test_neighbour_similarity_names_its_grid_argument():
    with pytest.raises(TypeError, match="^grid_size must be an int, got str"):
        neighbour_similarity(torch.rand(4, 8), "x")


def test_a_non_square_training_grid_resamples_to_another_size():
    torch.manual_seed(0)
    model = vitlesson.VisionTransformer(
        img_size=(32, 16),
        patch_size=8,
        embed_dim=16,
        depth=1,
        num_heads=2,
        dynamic_img_size=True,
    ).eval()
    with torch.no_grad():
        tokens = model.forward_features(
            torch.randn(1, 3, 16, 32)
        )  # a 2x4 grid from a 4x2 table
    assert tokens.shape == (1, 9, 16)
    expected = vitlesson.resample_position_embedding(
        model.pos_embed, (2, 4), old_grid=(4, 2)
    )
    with torch.no_grad():
        assert torch.allclose(
            model.prepare_tokens(torch.zeros(1, 3, 16, 32))[:, 1:]
            - model.patch_embed(torch.zeros(1, 3, 16, 32)),
            expected[:, 1:],
            atol=1e-6,
        )


# --- conventions -------------------------------------------------------------


def test_sincos_first_half_encodes_the_row_second_half_the_column():
    rows, cols, dim = 3, 5, 16
    table = vitlesson.sincos_2d_position_embedding((rows, cols), dim).reshape(
        rows, cols, dim
    )
    row_half, col_half = table[..., : dim // 2], table[..., dim // 2 :]
    assert torch.equal(
        row_half, row_half[:, :1].expand_as(row_half)
    )  # same along a row
    assert torch.equal(
        col_half, col_half[:1].expand_as(col_half)
    )  # same down a column
    # each half is (sin, cos) of position x frequency 10000^(-i / (D/4))
    frequencies = 10000 ** (
        -torch.arange(dim // 4, dtype=torch.float64) / (dim // 4)
    )
    expected = torch.cat(
        [(2 * frequencies).sin(), (2 * frequencies).cos()]
    ).float()
    assert torch.allclose(table[2, 0, : dim // 2], expected)  # row 2
    assert torch.allclose(table[0, 2, dim // 2 :], expected)  # column 2


# --- resampling with several prefix tokens -------------------------------------


def test_resampling_keeps_every_prefix_token_and_resizes_only_the_grid():
    torch.manual_seed(0)
    prefix, grid = (
        torch.randn(1, 2, 8),
        torch.randn(1, 16, 8),
    )  # two prefix tokens, a 4x4 grid
    table = torch.cat([prefix, grid], dim=1)
    resized = vitlesson.resample_position_embedding(
        table, (2, 2), num_prefix_tokens=2
    )
    alone = vitlesson.resample_position_embedding(
        torch.cat([prefix[:, :1], grid], 1), (2, 2)
    )
    assert resized.shape == (1, 2 + 4, 8)
    assert torch.equal(resized[:, :2], prefix)
    assert torch.allclose(resized[:, 2:], alone[:, 1:])
    # a constant grid stays constant: bicubic weights sum to one
    flat = torch.cat([prefix, torch.full((1, 16, 8), 0.5)], 1)
    assert torch.allclose(
        vitlesson.resample_position_embedding(flat, 6, num_prefix_tokens=2)[
            :, 2:
        ],
        torch.full((1, 36, 8), 0.5),
        atol=1e-6,
    )


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

    expect(
        build,
        check,
        names=("n_patches", "embed_dim", "dropout", "tokens"),
        values=(n_patches, embed_dim, dropout, tuple(shape), dtype),
    )


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

    expect(
        build,
        check,
        names=("new_grid", "pos_embed", "num_prefix_tokens", "old_grid"),
        values=(new_grid, tokens, dim, tokens - prefix),
    )


@SETTINGS
@given(grid=sizes, dim=small_ints)
def test_sincos(grid, dim):
    def check(out):
        rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
        assert out.shape == (rows * cols, dim)

    expect(
        lambda: vitlesson.sincos_2d_position_embedding(grid, dim),
        check,
        names=("grid_size", "grid", "embed_dim"),
        values=(grid, dim),
    )


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

    expect(
        lambda: vitlesson.resample_position_embedding(
            torch.randn(1, 17, 4), 2, num_prefix_tokens=value
        ),
        check,
        names="num_prefix_tokens",
        values=(value,),
    )


@SETTINGS
@given(
    k=small_ints,
    far=numbers,
    positions=st.integers(1, 6),
    width=st.integers(0, 6),
)
def test_any_position_analysis_arguments(k, far, positions, width):
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
        names=("k", "embedding"),
        values=(k, (positions * 2, width)),
    )
    expect(
        lambda: (
            neighbour_similarity(table, grid, far=far)
            if width
            else neighbour_similarity(table, grid)
        ),
        check_neighbours,
        names="far" if width else "embedding",
        values=(far,) if width else ((positions * 2, width),),
    )


@pytest.fixture
def warnings_are_errors():
    """Every warning raises, even torch's once-per-process ones."""
    always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    finally:
        torch.set_warn_always(always)


# --- position ----------------------------------------------------------------


def test_position_table_too_large_is_named():
    with pytest.raises(
        ValueError, match=r"^A position table of \(1, 1000000000001, 16\) "
    ):
        PositionalEmbedding(10**12, 16)


def test_sincos_table_warns_nothing(warnings_are_errors):
    table = sincos_2d_position_embedding(3, 8)
    assert table.shape == (9, 8)


def test_neighbour_similarity_warns_nothing(warnings_are_errors):
    torch.manual_seed(0)
    near, far = neighbour_similarity(torch.randn(16, 8), 4, far=3)
    assert -1 <= far <= 1 and -1 <= near <= 1


def test_meta_embedding_is_refused_by_its_name():
    with pytest.raises(ValueError, match=r"^embedding is on the meta device"):
        principal_component_maps(torch.empty(4, 8, device="meta"), 2)


def test_too_many_components_message():
    expected = (
        "k must be at most min(positions, width) = 4 for a (4, 8) table, got 5"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        principal_component_maps(torch.randn(4, 8), 2, k=5)


def test_far_must_be_a_number_named_far():
    with pytest.raises(TypeError, match=r"^far must be a number"):
        neighbour_similarity(torch.randn(16, 8), 4, far="4")


@pytest.mark.parametrize("far", [0.5, -2])
def test_far_below_one_cell_is_refused(far):
    with pytest.raises(ValueError, match=r"^far must be in \[1, inf\]"):
        neighbour_similarity(torch.randn(16, 8), 4, far=far)


def test_single_cell_grid_has_no_neighbours_message():
    expected = (
        "grid_size must have two or more cells, got 1x1: "
        "a single position has no neighbours"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        neighbour_similarity(torch.randn(1, 8), 1, far=1)


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


# --- issue 36: tables with nothing to compare ------------------------------


@pytest.mark.parametrize(
    "table", [torch.zeros(16, 8), torch.ones(16, 8), torch.full((16, 8), -3.0)]
)
def test_principal_components_of_a_table_without_variance_are_refused(table):
    with pytest.raises(
        ValueError,
        match=r"^embedding of shape \(16, 8\) has the same vector at every "
        r"position \(a variance of 0\): there are no components to show$",
    ):
        principal_component_maps(table, 4)


def test_cosine_similarity_of_a_zero_vector_is_refused():
    table = torch.randn(16, 8)
    table[5] = 0
    with pytest.raises(
        ValueError,
        match=r"^embedding of shape \(16, 8\) has a vector of length 0 at "
        r"position 5: a cosine similarity needs vectors of length 1e-12 or "
        r"more$",
    ):
        cosine_similarity_maps(table, 4)
    with pytest.raises(ValueError, match="length 0 at position 0"):
        cosine_similarity_maps(torch.zeros(16, 8), 4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_position_analysis_refuses_nan_or_infinite_tables(bad):
    table = torch.randn(16, 8)
    table[3, 2] = bad
    for analysis in (cosine_similarity_maps, principal_component_maps):
        with pytest.raises(ValueError, match="holds NaN or infinite values"):
            analysis(table, 4)


@SETTINGS
@given(
    kind=st.sampled_from(["random", "zero", "constant", "one row", "scaled"]),
    scale=st.sampled_from([1e-30, 1e-6, 1.0, 1e6, 1e30]),
)
def test_position_analysis_gives_finite_results_or_a_refusal(kind, scale):
    """Every map is finite and the variance fractions are in [0, 1] and
    sum to at most 1; a table they cannot describe is refused."""
    table = {
        "random": torch.randn(16, 8),
        "zero": torch.zeros(16, 8),
        "constant": torch.ones(16, 8) * 2,
        "one row": torch.randn(1, 8).expand(16, 8).clone(),
        "scaled": torch.randn(16, 8),
    }[kind] * (scale if kind == "scaled" else 1.0)

    def check_maps(maps):
        assert torch.isfinite(maps).all()

    def check_components(result):
        maps, fractions = result
        assert torch.isfinite(maps).all() and torch.isfinite(fractions).all()
        assert (fractions >= 0).all() and fractions.sum() <= 1 + 1e-6

    maps = expect(
        lambda: cosine_similarity_maps(table, 4),
        check_maps,
        names="embedding",
        values=[table],
    )
    components = expect(
        lambda: principal_component_maps(table, 4),
        check_components,
        names="embedding",
        values=[table],
    )
    if kind == "random" or (kind == "scaled" and scale >= 1e-6):
        assert maps is not None and components is not None  # they differ
    if kind in ("zero", "constant", "one row"):  # nothing to decompose
        assert components is None


@pytest.mark.parametrize("form", ["numpy", "tensor"])
def test_position_functions_take_numpy_and_0d_tensor_numbers(form):
    import numpy as np

    from vitlesson import costs

    wrap = np.array if form == "numpy" else torch.tensor
    table = sincos_2d_position_embedding(4, 16)
    assert torch.equal(
        sincos_2d_position_embedding(wrap(4), wrap(16), wrap(10000.0)), table
    )
    pos_embed = torch.randn(1, 17, 8)
    assert torch.equal(
        resample_position_embedding(pos_embed, wrap(2), None, wrap(1)),
        resample_position_embedding(pos_embed, 2),
    )
    assert neighbour_similarity(table, wrap(4), wrap(2.0)) == (
        neighbour_similarity(table, 4, 2.0)
    )
    assert costs.patch_embedding_flops(
        wrap(224), wrap(16), wrap(8), wrap(3)
    ) == costs.patch_embedding_flops(224, 16, 8, 3)
