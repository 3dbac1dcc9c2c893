import numpy as np
import pytest
import torch

from vitlesson.data.images import (
    IMAGENET_MEAN,
    load_photo,
    normalize,
    sample_image,
    square_crop_resize,
)
from vitlesson.figures.plots import (
    figure_bytes,
    patch_mosaic,
    patch_sizes_figure,
    patches_figure,
    position_embedding_figure,
)
from vitlesson.position import sincos_2d_position_embedding


def test_photo_is_a_real_photograph():
    photo = load_photo()
    assert photo.shape == (3, 600, 512) and photo.dtype == torch.float32
    assert 0 <= photo.min() and photo.max() <= 1
    assert (
        photo.std() > 0.2
    )  # far from a flat image; random noise would not be reproducible either
    assert torch.equal(load_photo(), photo)


@pytest.mark.parametrize(
    "size,expected",
    [(224, (3, 224, 224)), (384, (3, 384, 384)), ((224, 160), (3, 224, 160))],
)
def test_sample_image_sizes(size, expected):
    image = sample_image(size)
    assert image.shape == expected
    # the centred crop of the photograph, resized: its mean colour is the crop's
    photo = load_photo()  # (3, 600, 512)
    h, w = expected[1:]
    side_h, side_w = (
        min(600, round(512 * h / w)),
        min(512, round(600 * w / h)),
    )  # largest crop of that shape
    top, left = (600 - side_h) // 2, (512 - side_w) // 2
    crop = photo[:, top : top + side_h, left : left + side_w]
    assert torch.allclose(
        image.mean(dim=(1, 2)), crop.mean(dim=(1, 2)), atol=0.01
    )


def test_crop_keeps_the_centre():
    image = torch.zeros(3, 40, 20)
    image[:, 10:30] = 1.0  # the centred 20x20 square is white, the rest black
    assert torch.allclose(square_crop_resize(image, 10), torch.ones(3, 10, 10))


def test_normalize():
    x = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1).expand(3, 2, 2)
    assert torch.allclose(normalize(x), torch.zeros(3, 2, 2), atol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"Expected images with 3 channels in dimension -3, got shape \(1, 2, 2\)",
    ):
        normalize(torch.zeros(1, 2, 2))


def test_image_errors():
    with pytest.raises(
        ValueError,
        match=r"shape \(channels, height, width\), got \(1, 3, 8, 8\)",
    ):
        square_crop_resize(torch.zeros(1, 3, 8, 8), 4)
    with pytest.raises(ValueError, match=r"shape \(3, height, width\)"):
        patches_figure(torch.zeros(1, 3, 32, 32))


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


def test_built_figures_are_small_and_carry_no_metadata(site):
    """Reproducibility itself is tested by building twice (tests/test_site.py)."""
    from sitebuild.figures import registered

    for path in registered():
        content = (site / path).read_bytes()
        assert len(content) <= 200 * 1024, (path, len(content))
        assert content[:4] in (b"\x89PNG", b"RIFF"), path
        assert (
            b"Software" not in content and b"matplotlib" not in content.lower()
        )
        print(f"{path}: {len(content) / 1024:.0f} KB")


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


@pytest.mark.slow
def test_pipeline_diagram_reads_its_shapes_from_the_model():
    from vitlesson.figures.diagrams import vit_pipeline_figure
    from vitlesson.vit import vit_small

    texts = {
        t.get_text()
        for t in vit_pipeline_figure(vit_small(patch_size=8)).axes[0].texts
    }
    assert {
        "(B, 3, 224, 224)",
        "(B, 784, 192)",
        "(B, 785, 384)",
        "(B, 384)",
    } <= texts
    assert (
        "12 encoder blocks (6 heads)" in texts and "(B, classes | K)" in texts
    )


def test_patchify_diagram_shows_what_patchify_returns():
    from vitlesson.figures.diagrams import patchify_axes_figure

    texts = [t.get_text() for t in patchify_axes_figure(2).axes[0].texts]
    # the first token of a 3x4x4 image whose pixels hold their own index
    assert texts[-13:-1] == [
        "0",
        "1",
        "4",
        "5",
        "16",
        "17",
        "20",
        "21",
        "32",
        "33",
        "36",
        "37",
    ]


def test_attention_matrix_diagram_draws_real_softmax_rows():
    from vitlesson.figures.diagrams import attention_matrix_figure

    fig = attention_matrix_figure(grid=3)
    weights = fig.axes[0].images[0].get_array()
    assert weights.shape == (10, 10)
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    counts = [t.get_text() for t in fig.axes[1].texts]
    assert counts == ["2,500", "38,809", "332,929", "616,225"]


@pytest.mark.slow  # draws every figure
def test_every_figure_is_at_most_8_inches_wide_with_9_point_text():
    from sitebuild.figure_recipes import FIGURES
    from vitlesson.figures.plots import smallest_font_size

    for path, recipe in FIGURES.items():
        figure = recipe()
        assert (
            figure.get_figwidth() <= 8 and smallest_font_size(figure) >= 9
        ), path


def test_encoder_block_second_skip_starts_at_z_prime():
    from vitlesson.figures.diagrams import encoder_block_figure

    lines = encoder_block_figure().axes[0].lines
    first, second = [
        (line.get_xdata(), line.get_ydata())
        for line in lines
        if len(line.get_xdata()) == 3
    ]
    # Eq. 2's skip on one side of the stack, Eq. 3's on the other, and
    # Eq. 3's starts below the first sum (at z'), not where Eq. 2's ends.
    assert first[0][1] < first[0][0] < second[0][1]
    assert second[1][0] < min(first[1])
