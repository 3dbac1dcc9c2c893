"""``vitlesson.figures.diagrams``: every diagram reads its shapes and numbers from the code it explains."""

import matplotlib
import numpy as np
import pytest

from vitlesson.figures.diagrams import dino_step_figure
from vitlesson.figures.plots import (
    smallest_font_size,
)


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


matplotlib.use("Agg")


def _texts(fig):
    return " ".join(t.get_text() for t in fig.axes[0].texts)


def test_every_part_of_the_step_is_drawn():
    text = _texts(dino_step_figure())
    for part in (
        "student",
        "teacher",
        "EMA",
        "centering",
        "sharpening",
        "stop-gradient",
        "loss",
        "cross-entropy",
        "gradients",
        "batch mean",
    ):
        assert part in text, part


def test_numbers_come_from_the_arguments():
    text = _texts(
        dino_step_figure(
            student_temp=0.2,
            teacher_temp=0.07,
            momentum=0.99,
            center_momentum=0.8,
        )
    )
    for drawn in ("τs = 0.2", "τt = 0.07", "m = 0.99", r"\lambda = 0.8"):
        assert drawn in text, drawn
    assert "0.04" not in text and "0.996" not in text


def test_text_is_readable_at_column_width():
    # the figure is shown 688 CSS px wide: one point of it is
    # 688 / (width in inches x 72) CSS px
    fig = dino_step_figure()
    css_px = smallest_font_size(fig) * 688 / (fig.get_figwidth() * 72)
    assert css_px >= 10


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (
            {"teacher_temp": 0},
            ValueError,
            r"teacher_temp must be in \(0, 1\], "
            "got 0",
        ),
        ({"momentum": 1.5}, ValueError, "momentum must be in"),
        (
            {"student_temp": "0.1"},
            TypeError,
            "student_temp must be a number, got str",
        ),
        ({"center_momentum": True}, TypeError, "got bool"),
    ],
)
def test_bad_numbers_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        dino_step_figure(**kwargs)


def test_the_site_builds_it_and_part_6_shows_it():
    from pathlib import Path

    from sitebuild import figures

    assert figures.registered()["figures/dino-step.png"].recipe == "dino_step"
    page = Path(figures.ROOT, "docs", "lessons", "dino-connection.md")
    assert "(../figures/dino-step.png)" in page.read_text(encoding="utf-8")


# --- issue 36: settings the attention figure cannot draw --------------------


def test_attention_matrix_of_no_patches_is_refused():
    from vitlesson.figures.diagrams import attention_matrix_figure

    with pytest.raises(ValueError, match=r"^grid must be positive, got 0$"):
        attention_matrix_figure(grid=0)


def test_attention_matrix_too_large_for_memory_is_refused_before_work():
    from vitlesson.figures.diagrams import attention_matrix_figure

    with pytest.raises(
        ValueError,
        match=r"^An attention matrix of grid=400 \(160,001 tokens\) would "
        r"need [\d,.]+ GiB of memory",
    ):
        attention_matrix_figure(grid=400)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"grid": 2.5}, TypeError, r"^grid must be an int, got float"),
        ({"dim": 0}, ValueError, r"^dim must be positive, got 0$"),
        ({"seed": -1}, ValueError, r"^seed must be 0 or more, got -1$"),
        ({"seed": 2**64}, ValueError, r"^seed must be below 2\*\*64"),
        ({"configs": 5}, TypeError, r"^configs must be \(img_size, patch_"),
        ({"configs": ()}, ValueError, r"^configs must be one or more"),
        ({"configs": [(224,)]}, ValueError, r"^configs must be one or more"),
    ],
)
def test_attention_matrix_settings_are_checked(kwargs, error, message):
    from vitlesson.figures.diagrams import attention_matrix_figure

    with pytest.raises(error, match=message):
        attention_matrix_figure(**kwargs)


def test_attention_matrix_takes_numpy_numbers():
    from vitlesson.figures.diagrams import attention_matrix_figure

    figure = attention_matrix_figure(grid=np.int64(2), dim=np.int64(4))
    assert "2×2 patches + CLS: 5×5 weights" in figure.axes[0].get_title()


def test_narrow_diagrams_keep_every_stage_and_panel_in_more_rows():
    """At a phone's 4.9 inches the pipeline snakes through two columns
    (every stage, in order, its boxes inside the canvas) and the attention
    matrix sits above its growth chart; text keeps its size."""
    from matplotlib.patches import FancyBboxPatch

    from vitlesson.figures.diagrams import (
        attention_matrix_figure,
        vit_pipeline_figure,
    )
    from vitlesson.vit import vit_small

    model = vit_small(patch_size=8)
    wide = vit_pipeline_figure(model)
    narrow = vit_pipeline_figure(model, width=4.9)
    assert [t.get_text() for t in narrow.axes[0].texts][:-1] == [
        t.get_text() for t in wide.axes[0].texts
    ][:-1]
    boxes = [
        p for p in narrow.axes[0].patches if isinstance(p, FancyBboxPatch)
    ]
    columns = {round(b.get_x() + b.get_width() / 2, 2) for b in boxes}
    assert len(boxes) == 9 and len(columns) == 2
    assert all(
        0 <= b.get_x() and b.get_x() + b.get_width() <= 4.9 for b in boxes
    )
    assert narrow.get_figwidth() == 4.9 and smallest_font_size(narrow) >= 9
    matrix, growth = attention_matrix_figure(width=4.9).axes[:2]
    assert matrix.get_subplotspec().rowspan.start == 0
    assert growth.get_subplotspec().rowspan.start == 1


def test_narrow_diagrams_say_everything_the_wide_ones_say():
    """The encoder block's notes and the patchify steps move under the
    drawing at 4.9 inches; no text is lost, long lines are broken."""
    from vitlesson.figures.diagrams import (
        encoder_block_figure,
        patchify_axes_figure,
    )

    for draw in (encoder_block_figure, patchify_axes_figure):
        wide, narrow = draw(), draw(width=4.9)

        def words(fig):
            return sorted(
                " ".join(t.get_text() for t in fig.axes[0].texts).split()
            )

        assert words(narrow) == words(wide), draw.__name__
        assert narrow.get_figwidth() == 4.9 and smallest_font_size(narrow) >= 9
        canvas = narrow.axes[0].get_xlim()[1]
        for text in narrow.axes[0].texts:  # nothing past the right edge
            box = text.get_window_extent().transformed(
                narrow.axes[0].transData.inverted()
            )
            assert box.x1 <= canvas, (draw.__name__, text.get_text())


def test_narrow_dino_step_says_everything_the_wide_one_says():
    """At a phone's 4.9 inches the student and the teacher stand in two
    columns above the loss, the EMA and the center's rules under the
    drawing: every word of the wide drawing is still there (plus a tag
    on the EMA arrow and the center rule's name), text keeps its size,
    and no text overlaps another or leaves the canvas."""
    from collections import Counter

    from matplotlib.patches import FancyBboxPatch

    wide, narrow = dino_step_figure(), dino_step_figure(width=4.9)
    words = Counter(_texts(narrow).split())
    assert words - Counter(_texts(wide).split()) == {"EMA": 1, "center:": 1}
    assert not Counter(_texts(wide).split()) - words
    assert narrow.get_figwidth() == 4.9 and smallest_font_size(narrow) >= 9
    ax = narrow.axes[0]
    centres = {
        t.get_text().split("\n")[0]: ax.transData.inverted().transform(
            t.get_window_extent().get_points().mean(axis=0)
        )
        for t in ax.texts
    }
    student, teacher = centres["student"], centres["teacher"]
    assert student[1] == pytest.approx(teacher[1])  # one row, two columns
    assert student[0] < ax.get_xlim()[1] / 2 < teacher[0]
    assert centres["softmax(· / τt)"][0] == pytest.approx(teacher[0])
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 7
    extents = [t.get_window_extent() for t in ax.texts]
    canvas = ax.get_window_extent()
    for i, extent in enumerate(extents):
        assert canvas.contains(*extent.p0) and canvas.contains(*extent.p1), (
            ax.texts[i].get_text()
        )
        for j in range(i):
            assert not extent.overlaps(extents[j]), (
                ax.texts[i].get_text(),
                ax.texts[j].get_text(),
            )
