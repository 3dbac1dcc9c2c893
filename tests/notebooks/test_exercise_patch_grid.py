"""Part 1's exercise as a learner meets it: the notebook downloaded from the
built site, answers typed into its TODO cells, run top to bottom in a
Jupyter kernel ("Run all")."""

import pytest

from tests.support.notebooks import (
    check_the_two_downloads,
    downloaded,
    printed,
    run_all,
    typed_in,
)

EXERCISE = "notebooks/patch-grid"
TASKS = ["patch_grid", "show_patches"]  # what the TODO cells define

# Right answers that are not the published ones.
UNFOLD = """def patch_grid(image, patch_size):
    C, H, W = image.shape
    if H % patch_size or W % patch_size:
        raise ValueError(f"{H}x{W} does not split into {patch_size}-pixel "
                         "patches")
    x = image.unfold(1, patch_size, patch_size)
    x = x.unfold(2, patch_size, patch_size)  # (C, rows, cols, P, P)
    return x.permute(1, 2, 0, 3, 4)
"""
ADD_SUBPLOT = """def show_patches(patches):
    rows, cols = patches.shape[:2]
    fig = plt.figure(figsize=(4, 4))
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(patches[i // cols, i % cols].permute(1, 2, 0).numpy())
        ax.axis("off")
    return fig
"""
# The classic mistake: each patch kept channels-last, as imshow wants it.
CHANNELS_LAST = """def patch_grid(image, patch_size):
    C, H, W = image.shape
    P = patch_size
    if H % P or W % P:
        raise ValueError(f"Image size ({H}*{W}) is not divisible by {P}")
    x = image.reshape(C, H // P, P, W // P, P)
    return x.permute(1, 3, 2, 4, 0)  # (rows, cols, P, P, C)
"""

STOPPED = ("learner, untouched", "learner, channels-last")


@pytest.fixture(scope="module")
def executed(site) -> dict:
    """The downloaded notebooks, each run once, one after another in one
    kernel whose namespace is emptied before each:

    * "solutions": the solutions notebook, as downloaded;
    * "learner, right": the exercise with right answers other than the
      published ones typed in (Tensor.unfold, fig.add_subplot);
    * "learner, untouched": the exercise as downloaded;
    * "learner, channels-last": each patch cut channels-last.
    The last two stop at a check; their error is kept under "errors"."""
    exercise = downloaded(site, EXERCISE)
    return run_all(
        {
            "solutions": downloaded(site, EXERCISE, "solutions"),
            "learner, right": typed_in(
                exercise,
                {"patch_grid": UNFOLD, "show_patches": ADD_SUBPLOT},
                TASKS,
            ),
            "learner, untouched": exercise,
            "learner, channels-last": typed_in(
                exercise, {"patch_grid": CHANNELS_LAST}, TASKS
            ),
        },
        STOPPED,
    )


def test_the_download_has_no_solution_and_the_solutions_no_todo(site):
    check_the_two_downloads(site, EXERCISE, TASKS)


def test_the_exercise_page_runs_the_complete_solution(site):
    html = (site / EXERCISE / "index.html").read_text(encoding="utf-8")
    assert html.count("✓ patch_grid") == 3
    assert html.count("✓ show_patches") == 2
    assert "same as patchify: True" in html


def test_part_1_offers_the_exercise(site):
    html = (site / "lessons/patches/index.html").read_text(encoding="utf-8")
    assert "the patch grid of a photograph" in html
    assert 'href="../../notebooks/patch-grid/"' in html


def test_right_answers_pass_every_check_and_draw_the_grid(executed):
    for label in ("solutions", "learner, right"):
        notebook = executed[label]  # an error has already failed the run
        out = printed(notebook)
        assert out.count("✓ patch_grid") == 3, label
        assert out.count("✓ show_patches") == 2, label
        assert "same as patchify: True" in out, label
        images = [
            output
            for cell in notebook.cells
            if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if "image/jpeg" in output.get("data", {})
        ]
        assert len(images) == 1, label  # the 7×7 grid; no check's figure


def test_an_untouched_exercise_stops_at_the_first_task_and_says_so(executed):
    error = executed["errors"]["learner, untouched"]
    assert error.ename == "ExerciseError"
    assert "patch_grid is not written yet" in error.evalue
    assert "TODO cell" in error.evalue
    assert "✓" not in printed(executed[STOPPED[0]])


def test_a_channels_last_grid_is_named_and_nothing_passes(executed):
    error = executed["errors"]["learner, channels-last"]
    assert error.ename == "ExerciseError"
    assert "each patch is channels-last, (P, P, C)" in error.evalue
    assert "exercises.check_patch_grid(patch_grid)" in str(error)
    assert "✓" not in printed(executed[STOPPED[1]])
