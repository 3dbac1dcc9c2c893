"""Part 4's checks: every wrong answer of the corpus is caught and named,
every right one passes, on settings drawn anew at each run."""

import contextlib
import io
import re

import pytest
import torch

from tests.support.exercise_answers import (
    CLASS_MISTAKES,
    PATCHING_MISTAKES,
    RIGHT_CLASSES,
    RIGHT_PATCHINGS,
    RIGHT_TABLES,
    TABLE_MISTAKES,
    learner_class,
    right_patching,
    table,
)
from tests.support.exercise_checks import SEEDS, caught
from vitlesson import exercises, patchify
from vitlesson.exercises import (
    ExerciseError,
    check_configuration_table,
    check_flexible_patch_embedding,
    check_manual_patching,
)
from vitlesson.exercises.patch_embedding import (
    reference_patches,
    wrong_patch_orders,
)


def test_the_corpora_are_big_enough():
    for corpus in (PATCHING_MISTAKES, CLASS_MISTAKES, TABLE_MISTAKES):
        assert len(corpus) >= 10


@pytest.mark.parametrize("mistake", PATCHING_MISTAKES)
def test_every_wrong_patching_is_caught_and_named(mistake):
    answer, phrase = PATCHING_MISTAKES[mistake]
    message = caught(check_manual_patching, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("mistake", CLASS_MISTAKES)
def test_every_wrong_class_is_caught_and_named(mistake):
    answer, phrase = CLASS_MISTAKES[mistake]
    message = caught(check_flexible_patch_embedding, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("mistake", TABLE_MISTAKES)
def test_every_wrong_table_is_caught_and_named(mistake):
    answer, phrase = TABLE_MISTAKES[mistake]
    message = caught(check_configuration_table, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_PATCHINGS)
def test_right_patchings_pass(answer, seed, capsys):
    check_manual_patching(RIGHT_PATCHINGS[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ manual_patching") == 5


@pytest.mark.slow
@pytest.mark.parametrize("answer", RIGHT_CLASSES)
def test_right_classes_pass(answer, capsys):
    check_flexible_patch_embedding(RIGHT_CLASSES[answer])
    assert capsys.readouterr().out.count("✓ FlexiblePatchEmbedding") == 5


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_TABLES)
def test_right_tables_pass(answer, seed, capsys):
    check_configuration_table(RIGHT_TABLES[answer], seed=seed)
    out = capsys.readouterr().out
    assert out.count("✓ 224/") == 3 and out.count("✓ 384/16") == 1
    assert "✓ configuration_table: also right" in out


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_coded_sizes_fail_on_every_draw(seed):
    """Each run draws other channels, batches and sizes than the lesson's,
    so an answer that writes them as numbers never passes."""
    for answer, _ in (
        PATCHING_MISTAKES["3 channels written"],
        PATCHING_MISTAKES["square images assumed"],
        PATCHING_MISTAKES["batch 2 written"],
    ):
        assert "It passed with the lesson's settings" in caught(
            check_manual_patching, answer, seed=seed
        )
    assert "It passed with the lesson's settings" in caught(
        check_configuration_table,
        TABLE_MISTAKES["hard-coded numbers"][0],
        seed=seed,
    )


def test_the_settings_are_drawn_anew_at_each_run():
    answer = PATCHING_MISTAKES["batch 2 written"][0]
    messages = {
        caught(check_manual_patching, answer, seed=None) for _ in range(4)
    }
    assert len(messages) > 1  # four runs, not all with one draw
    assert caught(check_manual_patching, answer, seed=7) == caught(
        check_manual_patching, answer, seed=7
    )  # a seed repeats a run


def test_a_wrong_patching_is_located_to_its_first_wrong_number():
    message = caught(
        check_manual_patching, lambda x, p: right_patching(x, p) * 2
    )
    assert message.startswith(
        "manual_patching(images of shape (2, 3, 224, 224), 8): right shape, "
        "wrong values: image 0, token 0 (patch row 0, column 0), number 0 "
        "(channel 0, pixel row 0, column 0 of the patch, images[0, 0, 0, 0]"
        ") should be "
    )


def test_a_wrong_stride_is_blamed_on_the_convolution_not_the_linear_form():
    message = caught(check_flexible_patch_embedding, learner_class(stride=4))
    assert message.startswith(
        "With flatten_patches=False, the convolution's stride should be "
        "the patch size 8"
    )


def test_a_stub_still_in_place_is_named_and_nothing_passes(capsys):
    def stub(*args):
        raise NotImplementedError("write it")

    class StubClass(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            raise NotImplementedError("write FlexiblePatchEmbedding")

    class StubForward(learner_class()):
        def forward(self, images):
            raise NotImplementedError

    for check, answer, name in (
        (check_manual_patching, stub, "manual_patching"),
        (check_configuration_table, stub, "configuration_table"),
        (check_flexible_patch_embedding, StubClass, "StubClass"),
        (check_flexible_patch_embedding, StubForward, "StubForward.forward"),
    ):
        assert caught(check, answer).startswith(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell"
        )
    assert "✓" not in capsys.readouterr().out


def test_the_learners_exception_is_chained_for_the_traceback():
    """The build names the learner's line that raised: the check's error
    keeps the learner's exception as its cause."""
    with pytest.raises(ExerciseError) as error:
        check_manual_patching(lambda x, p: x.view(2, 3, 1, 2), seed=0)
    assert isinstance(error.value.__cause__, RuntimeError)


def test_the_package_solution_works_again_after_a_check():
    images = torch.randn(1, 2, 8, 12)
    for answer in (patchify, lambda x, p: 1 / 0):
        with pytest.raises(ExerciseError):
            check_manual_patching(answer, seed=0)
    assert torch.equal(patchify(images, 4), reference_patches(images, 4))
    layer = exercises.patch_embedding.patching.FlexiblePatchEmbedding(8, 4)
    assert layer(torch.randn(1, 3, 8, 8)).shape == (1, 4, 768)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_checks_leave_the_learners_random_state_as_it_was(seed):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check_manual_patching(right_patching, seed=seed)
        check_configuration_table(table, seed=seed)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_reference_patches_are_the_packages_patches():
    images = torch.randn(2, 3, 12, 20)
    assert torch.equal(reference_patches(images, 4), patchify(images, 4))


def test_no_named_mistake_is_the_right_answer_on_non_square_images():
    images = torch.randn(1, 2, 8, 12)
    right = reference_patches(images, 4)
    for name, wrong in wrong_patch_orders(images, 4).items():
        assert not torch.equal(wrong, right), name


def test_the_lesson_output_is_the_same_at_every_run(capsys):
    """The page shows the checks' output: nothing drawn is printed."""
    outputs = []
    for seed in SEEDS:
        check_manual_patching(right_patching, seed=seed)
        check_configuration_table(table, seed=seed)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
