"""Part 6's checks: every wrong DINO loss and teacher update of the corpus
is caught and named, every right one passes, on settings drawn anew at
each run."""

import contextlib
import io
import re

import pytest
import torch

from tests.support.answers_dino_loss import (
    EMA_MISTAKES,
    LOSS_MISTAKES,
    RIGHT_EMAS,
    RIGHT_LOSSES,
    right_ema,
    right_loss,
)
from tests.support.exercise_checks import SEEDS, caught
from vitlesson.exercises import (
    ExerciseError,
    check_dino_loss,
    check_ema_update,
)
from vitlesson.exercises.dino_loss import (
    reference_loss,
    small_network,
    wrong_losses,
)
from vitlesson.lab.dino import DINOLoss, update_teacher

# Two runs per mistake, each with its own outputs and drawn settings; for
# the loss, seed 10 draws outputs where the loss with the teacher at the
# student's temperature comes within float32 rounding of the right loss
# (its gradient names it).
LOSS_SEEDS, EMA_SEEDS = [0, 10], [0, 1]


def test_the_corpora_are_big_enough():
    assert len(LOSS_MISTAKES) >= 10 and len(EMA_MISTAKES) >= 10
    assert len(RIGHT_LOSSES) >= 3 and len(RIGHT_EMAS) >= 3


@pytest.mark.parametrize("seed", LOSS_SEEDS)
@pytest.mark.parametrize("mistake", LOSS_MISTAKES)
def test_every_wrong_loss_is_caught_and_named(mistake, seed):
    answer, phrase = LOSS_MISTAKES[mistake]
    message = caught(check_dino_loss, answer, seed=seed)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", EMA_SEEDS)
@pytest.mark.parametrize("mistake", EMA_MISTAKES)
def test_every_wrong_teacher_update_is_caught_and_named(mistake, seed):
    answer, phrase = EMA_MISTAKES[mistake]
    message = caught(check_ema_update, answer, seed=seed)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_LOSSES)
def test_right_losses_pass(answer, seed, capsys):
    check_dino_loss(RIGHT_LOSSES[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ dino_loss") == 2


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_EMAS)
def test_right_teacher_updates_pass(answer, seed, capsys):
    check_ema_update(RIGHT_EMAS[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ ema_update") == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_coded_numbers_fail_on_every_draw(seed):
    """Each run draws other batches, output counts, temperatures and
    momenta than the lesson's, so numbers written into an answer never
    pass."""
    for mistake in ("a hard-coded K", "hard-coded temperatures"):
        assert "It passed with the lesson's settings" in caught(
            check_dino_loss, LOSS_MISTAKES[mistake][0], seed=seed
        )
    assert "It passed with the lesson's settings" in caught(
        check_ema_update, EMA_MISTAKES["the momentum written"][0], seed=seed
    )


def test_the_settings_are_drawn_anew_at_each_run():
    answer = LOSS_MISTAKES["hard-coded temperatures"][0]
    messages = {caught(check_dino_loss, answer, seed=None) for _ in range(4)}
    assert len(messages) > 1  # four runs, not all with one draw
    assert caught(check_dino_loss, answer, seed=7) == caught(
        check_dino_loss, answer, seed=7
    )  # a seed repeats a run
    answer = EMA_MISTAKES["the momentum written"][0]
    messages = {caught(check_ema_update, answer, seed=None) for _ in range(4)}
    assert len(messages) > 1
    assert caught(check_ema_update, answer, seed=7) == caught(
        check_ema_update, answer, seed=7
    )


def test_a_stub_still_in_place_is_named_and_nothing_passes(capsys):
    def stub(*args):
        raise NotImplementedError("write it")

    for check, name in (
        (check_dino_loss, "dino_loss"),
        (check_ema_update, "ema_update"),
    ):
        assert caught(check, stub).startswith(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell"
        )
    assert "✓" not in capsys.readouterr().out


@pytest.mark.parametrize("returned", [None, 3.0, "loss"])
def test_what_is_not_a_tensor_is_named(returned):
    message = caught(check_dino_loss, lambda *args: returned)
    assert message.startswith("dino_loss(student_out of shape (8, 16), ")
    assert "did you forget the `return`" in message or (
        f"returned a {type(returned).__name__} object" in message
    )


def test_something_not_callable_is_named():
    for check in (check_dino_loss, check_ema_update):
        assert "should be your function or class, got 'loss'" in caught(
            check, "loss"
        )


def test_the_learners_exception_is_chained_for_the_traceback():
    with pytest.raises(ExerciseError) as error:
        check_dino_loss(lambda *args: 1 / 0, seed=0)
    assert isinstance(error.value.__cause__, ZeroDivisionError)


def test_the_package_solutions_work_again_after_a_check():
    for check, answer in (
        (check_dino_loss, LOSS_MISTAKES["the package's DINOLoss"][0]),
        (check_ema_update, EMA_MISTAKES["the package's update_teacher"][0]),
    ):
        with pytest.raises(ExerciseError):
            check(answer, seed=0)
    loss = DINOLoss(5)
    value, _ = loss(torch.randn(4, 5), torch.randn(4, 5), 0.04, 2)
    assert value.shape == ()
    teacher, student = small_network([3, 2]), small_network([3, 2])
    update_teacher(teacher, student, 0.0)
    assert torch.equal(teacher[0].weight, student[0].weight)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_checks_leave_the_learners_random_state_as_it_was(seed):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check_dino_loss(right_loss, seed=seed)
        check_ema_update(right_ema, seed=seed)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_checks_run_under_no_grad_too(capsys):
    """A notebook cell under ``torch.no_grad()`` still gets its loss's
    gradients checked."""
    with torch.no_grad():
        check_dino_loss(right_loss, seed=0)
    assert capsys.readouterr().out.count("✓") == 2
    assert torch.is_grad_enabled()


def test_the_reference_is_the_packages_loss_for_two_views():
    """With two views the package's DINOLoss pairs view 1 of the student
    with view 2 of the teacher and back: the mean of two single-pair
    losses, and the same gradient."""
    student = torch.randn(6, 9, requires_grad=True)
    teacher, center = torch.randn(6, 9), torch.randn(1, 9)
    package = DINOLoss(9, student_temp=0.2, centering=False)
    package.center = center.clone()
    value, _ = package(student, teacher, 0.05, 2)
    value.backward()
    s, t = student.detach().chunk(2), teacher.chunk(2)
    first, gradient_1 = reference_loss(s[0], t[1], center, 0.2, 0.05)
    second, gradient_2 = reference_loss(s[1], t[0], center, 0.2, 0.05)
    assert torch.allclose(value, (first + second) / 2)
    both = torch.cat([gradient_1, gradient_2]) / 2
    assert torch.allclose(student.grad, both, atol=1e-6)


def test_no_named_mistake_is_the_right_loss():
    student, teacher = torch.randn(3, 7), torch.randn(3, 7)
    center = 0.5 * torch.randn(1, 7)
    right, _ = reference_loss(student, teacher, center, 0.2, 0.03)
    for name, wrong in wrong_losses(student, teacher, center, 0.2, 0.03):
        assert not torch.allclose(wrong, right), name


def test_the_lesson_output_is_the_same_at_every_run(capsys):
    """The page shows the checks' output: nothing drawn is printed."""
    outputs = []
    for seed in SEEDS:
        check_dino_loss(right_loss, seed=seed)
        check_ema_update(right_ema, seed=seed)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
