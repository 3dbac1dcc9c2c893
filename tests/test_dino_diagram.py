"""The diagram of DINO's training step: every part drawn, numbers from its
arguments, readable at the column's width, built into the site."""

import matplotlib
import pytest

matplotlib.use("Agg")

from vitlesson.figures.diagrams import dino_step_figure  # noqa: E402
from vitlesson.figures.plots import smallest_font_size  # noqa: E402


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
