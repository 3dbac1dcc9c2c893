"""``vitlesson.figures.plots``: the lesson's figures show what they say (mosaic gaps, the patch grid, one colour scale for every similarity map)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.support.layer_inputs import SETTINGS
from tests.support.refusals import expect
from vitlesson.data.images import (
    sample_image,
)
from vitlesson.figures.plots import (
    figure_bytes,
    patch_mosaic,
    patch_sizes_figure,
    patches_figure,
    position_embedding_figure,
    smallest_font_size,
    training_curves_figure,
)
from vitlesson.position import sincos_2d_position_embedding


def test_mosaic_has_gaps_between_patches():
    mosaic = patch_mosaic(torch.zeros(3, 32, 32), patch_size=16, gap=2)
    assert mosaic.shape == (34, 34, 3)
    assert (
        (mosaic[16:18] == 1).all()
        and (mosaic[:, 16:18] == 1).all()
        and (mosaic[:16, :16] == 0).all()
    )


def test_patches_figure_panels():
    fig = patches_figure(sample_image(224), patch_size=16, n_tokens=14)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 3 + 14
    assert "16×16 patches:\n14×14 = 196 tokens" in titles
    assert [ax.get_xlabel() for ax in fig.axes[3:]] == [
        str(i) for i in range(14)
    ]


def test_patch_sizes_figure_counts():
    fig = patch_sizes_figure()
    counts = [ax.get_title().rsplit("= ", 1)[1] for ax in fig.axes]
    assert counts == ["784 tokens", "196 tokens", "49 tokens", "576 tokens"]


def test_position_figure_takes_any_number_of_embeddings():
    fig = position_embedding_figure(
        {
            "a": torch.randn(16, 8),
            "b": sincos_2d_position_embedding(4, 8),
            "c": torch.randn(16, 8),
        },
        4,
    )
    assert len(fig.axes) == 3 * 6 + 1  # one colour bar shared by every row
    assert [
        ax.get_ylabel()
        for ax in fig.axes
        if ax.get_ylabel() in "abc" and ax.get_ylabel()
    ] == ["a", "b", "c"]


def test_figure_bytes_rejects_unknown_format():
    with pytest.raises(
        ValueError, match="format must be 'png' or 'webp', got 'gif'"
    ):
        figure_bytes(patch_sizes_figure(configs=((32, 8),)), "gif")


def _grid_lines(ax):
    """Positions of the horizontal and vertical grid lines drawn on an image axis."""
    rows = sorted(
        {
            line.get_ydata()[0]
            for line in ax.lines
            if line.get_ydata()[0] == line.get_ydata()[1]
        }
    )
    cols = sorted(
        {
            line.get_xdata()[0]
            for line in ax.lines
            if line.get_xdata()[0] == line.get_xdata()[1]
        }
    )
    return rows, cols


@pytest.mark.parametrize(
    "img_size,patch_size", [(224, 8), (224, 32), (384, 16)]
)
def test_patch_grid_is_drawn_every_patch_size_pixels(img_size, patch_size):
    ax = patch_sizes_figure(configs=((img_size, patch_size),)).axes[0]
    rows, cols = _grid_lines(ax)
    expected = [
        y - 0.5 for y in range(0, img_size + 1, patch_size)
    ]  # pixel edges
    assert rows == expected and cols == expected


def test_patches_figure_outlines_the_first_row_of_tokens():
    ax = patches_figure(sample_image(224), patch_size=16, n_tokens=14).axes[1]
    (outline,) = ax.patches
    assert (
        outline.get_x(),
        outline.get_y(),
        outline.get_width(),
        outline.get_height(),
    ) == (-0.5, -0.5, 224, 16)
    labels = sorted(int(t.get_text()) for t in ax.texts)
    assert labels == [
        0,
        13,
        182,
        195,
    ]  # the four corner tokens, in raster order


def test_position_figure_puts_every_similarity_map_on_one_scale():
    tables = {
        "random": torch.randn(16, 8),
        "sin-cos": sincos_2d_position_embedding(4, 8),
    }
    fig = position_embedding_figure(tables, 4)
    maps = [
        ax.images[0] for ax in fig.axes if ax.get_title().startswith("vs ")
    ]
    assert len(maps) == 6 and {m.get_clim() for m in maps} == {(-1, 1)}
    # the cell of the reference position is exactly 1: the map is that position's own similarity
    for ax in fig.axes:
        if ax.get_title() == "vs (2, 2)":
            assert ax.images[0].get_array()[2, 2] == pytest.approx(1.0)


def test_training_curves_draw_every_run_in_both_panels():
    """The collapse figure: each run's entropy and KL under its own name,
    the ceiling ln K drawn, and on request a KL axis on which a KL of 0.1
    stands apart from a collapsed run's 0."""
    history = {"step": [1, 11], "teacher_entropy": [1.0, 5.0]}
    runs = {
        "control": history | {"kl": [2.0, 0.1]},
        "no centering": history | {"kl": [2.0, 0.0]},
    }
    fig = training_curves_figure(runs, log_k=5.5, log_kl=True)
    entropy_ax, kl_ax = fig.axes
    for ax, key in ((entropy_ax, "teacher_entropy"), (kl_ax, "kl")):
        curves = {line.get_label(): line for line in ax.get_lines()}
        for name, run in runs.items():
            assert list(curves[name].get_ydata()) == run[key]
    assert 5.5 in [line.get_ydata()[0] for line in entropy_ax.get_lines()]
    assert kl_ax.get_yscale() == "symlog"
    labels = [t.get_text() for t in entropy_ax.get_legend().get_texts()]
    assert labels == list(runs)
    one = training_curves_figure({"DINO": runs["control"]}, log_k=5.5)
    assert one.axes[1].get_yscale() == "linear"
    assert one.axes[0].get_legend() is None  # one run needs no names


# --- issue 36: settings the figures cannot draw -----------------------------


@pytest.mark.parametrize("gap", [-5, -1])
def test_a_negative_mosaic_gap_is_refused(gap):
    with pytest.raises(
        ValueError, match=rf"^gap must be 0 or more, got {gap}$"
    ):
        patch_mosaic(torch.rand(3, 8, 8), 4, gap=gap)


@SETTINGS
@given(
    gap=st.one_of(st.integers(-6, 6), st.sampled_from([1.5, "2", None])),
    patch_size=st.sampled_from([1, 2, 4, 3, 0]),
)
def test_any_mosaic_has_its_patches_and_gaps_or_is_refused(gap, patch_size):
    image = torch.rand(3, 8, 8)

    def check_result(mosaic):
        rows = 8 // patch_size
        assert mosaic.shape == (
            rows * (patch_size + gap) - gap,
            rows * (patch_size + gap) - gap,
            3,
        )
        corner = mosaic[:patch_size, :patch_size]
        assert np.allclose(
            corner, image[:, :patch_size, :patch_size].permute(1, 2, 0)
        )

    expect(
        lambda: patch_mosaic(image, patch_size, gap=gap),
        check_result,
        names=("gap", "patch_size", "patch size"),
        values=[gap, patch_size],
    )


def test_a_narrow_figure_lays_its_panels_out_in_more_rows():
    """At a phone's 4.9 inches the four cuts of the photograph sit two by
    two (same titles, same order), the patches' captions take more lines,
    and the text keeps its size: that is what makes it larger on a phone."""
    wide, narrow = patch_sizes_figure(), patch_sizes_figure(width=4.9)
    assert narrow.get_figwidth() == 4.9
    assert [ax.get_title() for ax in narrow.axes] == [
        ax.get_title() for ax in wide.axes
    ]

    def rows(fig):
        return {ax.get_subplotspec().rowspan.start for ax in fig.axes}

    assert rows(narrow) == {0, 1} and rows(wide) == {0}
    photo = sample_image(224)
    titles = [ax.get_title() for ax in patches_figure(photo, width=4.9).axes]
    assert "Pulled apart:\neach patch is\none token" in titles
    assert smallest_font_size(patches_figure(photo, width=4.9)) >= 9


@pytest.mark.parametrize("width", [1.9, 8.5, float("nan"), "wide"])
def test_a_width_outside_two_to_eight_inches_is_refused(width):
    with pytest.raises((ValueError, TypeError), match=r"^width must be"):
        patch_sizes_figure(width=width)
