"""Part 3's exercise as a learner meets it: the notebook downloaded from the
built site, answers typed into its TODO cells, run top to bottom in a
Jupyter kernel ("Run all")."""

import pytest

from tests.support.notebooks import (
    check_the_two_downloads,
    downloaded,
    run_all,
    stdout,
    typed_in,
)

EXERCISE = "notebooks/cls-and-positions"
TASKS = ["add_cls_and_positions", "resize_positions"]

# Right answers that are not the published ones.
REPEAT = """def add_cls_and_positions(tokens, cls_token, pos_embed):
    cls = cls_token.repeat(len(tokens), 1, 1)  # (B, 1, D)
    return torch.cat([cls, tokens], dim=1) + pos_embed
"""
TRANSPOSE = """def resize_positions(pos_embed, new_grid):
    cls, rows = pos_embed[:, :1], pos_embed[:, 1:]
    D, g = rows.shape[2], int(rows.shape[1] ** 0.5)
    grid = rows.transpose(1, 2).reshape(1, D, g, g)
    grid = F.interpolate(grid, size=new_grid, mode="bicubic")
    return torch.cat([cls, grid.flatten(2).transpose(1, 2)], dim=1)
"""
# The classic mistake: the CLS token appended after the patches.
CLS_AT_THE_END = """def add_cls_and_positions(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([tokens, cls], dim=1) + pos_embed
"""

STOPPED = ("learner, untouched", "learner, CLS at the end")


@pytest.fixture(scope="module")
def executed(site) -> dict:
    """The downloaded notebooks, each run once in one kernel:

    * "solutions": the solutions notebook, as downloaded;
    * "learner, right": right answers other than the published ones;
    * "learner, untouched": the exercise as downloaded;
    * "learner, CLS at the end": the classic mistake in the first task.
    The last two stop at a check; their error is kept under "errors"."""
    exercise = downloaded(site, EXERCISE)
    return run_all(
        {
            "solutions": downloaded(site, EXERCISE, "solutions"),
            "learner, right": typed_in(
                exercise,
                {
                    "add_cls_and_positions": REPEAT,
                    "resize_positions": TRANSPOSE,
                },
            ),
            "learner, untouched": exercise,
            "learner, CLS at the end": typed_in(
                exercise, {"add_cls_and_positions": CLS_AT_THE_END}, TASKS
            ),
        },
        STOPPED,
    )


def test_the_download_has_no_solution_and_the_solutions_no_todo(site):
    check_the_two_downloads(site, EXERCISE, TASKS)


def test_the_exercise_page_runs_the_complete_solution(site):
    html = (site / EXERCISE / "index.html").read_text(encoding="utf-8")
    assert html.count("✓ add_cls_and_positions") == 2
    assert html.count("✓ resize_positions") == 3


def test_part_3_offers_the_exercise(site):
    html = (site / "lessons/positions-and-cls/index.html").read_text(
        encoding="utf-8"
    )
    assert 'href="../../notebooks/cls-and-positions/"' in html


def test_right_answers_pass_every_check(executed):
    for label in ("solutions", "learner, right"):
        printed = "".join(stdout(executed[label]))  # errors fail the fixture
        assert printed.count("✓ add_cls_and_positions") == 2, label
        assert printed.count("✓ resize_positions") == 3, label


def test_an_untouched_exercise_stops_at_the_first_task_and_says_so(executed):
    error = executed["errors"]["learner, untouched"]
    assert error.ename == "ExerciseError"
    assert "add_cls_and_positions is not written yet" in error.evalue
    assert "TODO cell" in error.evalue
    assert not any("✓" in text for text in stdout(executed[STOPPED[0]]))


def test_the_cls_token_at_the_end_is_named_and_nothing_passes(executed):
    error = executed["errors"]["learner, CLS at the end"]
    assert error.ename == "ExerciseError"
    assert "the CLS token is at the end: it goes in front" in error.evalue
    assert "exercises.check_cls_and_positions(add_cls_and_positions)" in str(
        error
    )
    assert not any("✓" in text for text in stdout(executed[STOPPED[1]]))
