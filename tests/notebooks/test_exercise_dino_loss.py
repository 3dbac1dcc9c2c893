"""Part 6's exercise as a learner meets it: the notebook downloaded from the
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

EXERCISE = "notebooks/dino-loss"
TASKS = ["dino_loss", "ema_update"]  # what the TODO cells define

# Right answers that are not the published ones.
CROSS_ENTROPY = """def dino_loss(student_out, teacher_out, center, student_temp,
              teacher_temp):
    with torch.no_grad():
        q = ((teacher_out - center) / teacher_temp).softmax(dim=1)
    return nn.functional.cross_entropy(student_out / student_temp, q)
"""
LERP = """def ema_update(teacher, student, momentum):
    with torch.no_grad():
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.lerp_(s, 1 - momentum)
"""
# The classic mistake: the teacher's distribution is not detached.
NO_STOP_GRADIENT = """def dino_loss(student_out, teacher_out, center, student_temp,
              teacher_temp):
    q = ((teacher_out - center) / teacher_temp).softmax(dim=-1)
    log_p = (student_out / student_temp).log_softmax(dim=-1)
    return -(q * log_p).sum(dim=-1).mean()
"""

STOPPED = ("learner, untouched", "learner, no stop-gradient")


@pytest.fixture(scope="module")
def executed(site) -> dict:
    """The downloaded notebooks, each run once, one after another in one
    kernel whose namespace is emptied before each:

    * "solutions": the solutions notebook, as downloaded;
    * "learner, right": the exercise with right answers other than the
      published ones typed in (F.cross_entropy, lerp_);
    * "learner, untouched": the exercise as downloaded;
    * "learner, no stop-gradient": the teacher left attached in the loss.
    The last two stop at a check; their error is kept under "errors"."""
    exercise = downloaded(site, EXERCISE)
    notebooks = {
        "solutions": downloaded(site, EXERCISE, "solutions"),
        "learner, right": typed_in(
            exercise, {"dino_loss": CROSS_ENTROPY, "ema_update": LERP}, TASKS
        ),
        "learner, untouched": exercise,
        "learner, no stop-gradient": typed_in(
            exercise, {"dino_loss": NO_STOP_GRADIENT}, TASKS
        ),
    }
    return run_all(notebooks, STOPPED)


def test_the_download_has_no_solution_and_the_solutions_no_todo(site):
    check_the_two_downloads(site, EXERCISE, TASKS)


def test_the_exercise_page_runs_the_complete_solution(site):
    html = (site / EXERCISE / "index.html").read_text(encoding="utf-8")
    assert html.count("✓ dino_loss") == 2 and html.count("✓ ema_update") == 2


def test_part_6_offers_the_exercise(site):
    html = (site / "lessons/dino-connection/index.html").read_text(
        encoding="utf-8"
    )
    assert "DINO&#x27;s loss and its teacher" in html or (
        "DINO's loss and its teacher" in html
    )
    assert 'href="../../notebooks/dino-loss/"' in html


def test_right_answers_pass_every_check(executed):
    for label in ("solutions", "learner, right"):
        printed = "".join(stdout(executed[label]))  # errors fail the fixture
        assert printed.count("✓ dino_loss") == 2, label
        assert printed.count("✓ ema_update") == 2, label
        assert "teacher's gradient: None" in printed  # the stop-gradient


def test_an_untouched_exercise_stops_at_the_first_task_and_says_so(executed):
    error = executed["errors"]["learner, untouched"]
    assert error.ename == "ExerciseError"
    assert "dino_loss is not written yet" in error.evalue
    assert "TODO cell" in error.evalue
    assert not any("✓" in text for text in stdout(executed[STOPPED[0]]))


def test_a_missing_stop_gradient_is_named_and_nothing_passes(executed):
    error = executed["errors"]["learner, no stop-gradient"]
    assert error.ename == "ExerciseError"
    assert "the stop-gradient is missing" in error.evalue
    assert "exercises.check_dino_loss(dino_loss)" in str(error)
    assert not any("✓" in text for text in stdout(executed[STOPPED[1]]))
