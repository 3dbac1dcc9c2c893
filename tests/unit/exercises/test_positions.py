"""Part 3's checks: every wrong answer of the corpus is caught and named,
every right one passes, on settings drawn anew at each run."""

import contextlib
import io
import re

import pytest
import torch

from tests.support.answers_positions import (
    RESIZE_MISTAKES,
    RIGHT_RESIZES,
    RIGHT_SEQUENCES,
    SEQUENCE_MISTAKES,
    add_cls_and_positions,
    resize_positions,
)
from tests.support.exercise_checks import SEEDS, caught
from vitlesson import VisionTransformerEmbedding, resample_position_embedding
from vitlesson.exercises import (
    ExerciseError,
    check_cls_and_positions,
    check_resize_positions,
)
from vitlesson.exercises.positions import (
    reference_resize,
    reference_sequence,
    wrong_resizes,
)


def test_the_corpora_are_big_enough():
    for corpus in (SEQUENCE_MISTAKES, RESIZE_MISTAKES):
        assert len(corpus) >= 10
    for right in (RIGHT_SEQUENCES, RIGHT_RESIZES):
        assert len(right) >= 3  # the solution and two others


@pytest.mark.parametrize("mistake", SEQUENCE_MISTAKES)
def test_every_wrong_sequence_is_caught_and_named(mistake):
    answer, phrase = SEQUENCE_MISTAKES[mistake]
    message = caught(check_cls_and_positions, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("mistake", RESIZE_MISTAKES)
def test_every_wrong_resize_is_caught_and_named(mistake):
    answer, phrase = RESIZE_MISTAKES[mistake]
    message = caught(check_resize_positions, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_SEQUENCES)
def test_right_sequences_pass(answer, seed, capsys):
    check_cls_and_positions(RIGHT_SEQUENCES[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ add_cls_and_positions") == 2


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_RESIZES)
def test_right_resizes_pass(answer, seed, capsys):
    check_resize_positions(RIGHT_RESIZES[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ resize_positions") == 3


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_coded_sizes_fail_on_every_draw(seed):
    for check, answer in (
        (check_cls_and_positions, SEQUENCE_MISTAKES["batch 2 written"][0]),
        (check_cls_and_positions, SEQUENCE_MISTAKES["width 768 written"][0]),
        (check_resize_positions, RESIZE_MISTAKES["14 written"][0]),
    ):
        assert "It passed with the lesson's settings" in caught(
            check, answer, seed=seed
        )


def test_the_settings_are_drawn_anew_at_each_run():
    answer = RESIZE_MISTAKES["14 written"][0]
    messages = {
        caught(check_resize_positions, answer, seed=None) for _ in range(5)
    }
    assert len(messages) > 1  # five runs, not all with one draw
    assert caught(check_resize_positions, answer, seed=7) == caught(
        check_resize_positions, answer, seed=7
    )  # a seed repeats a run


def test_the_packages_solution_is_refused_in_one_line():
    for check, answer, name in (
        (
            check_cls_and_positions,
            lambda t, c, p: VisionTransformerEmbedding(4, 2),
            "vitlesson.VisionTransformerEmbedding",
        ),
        (
            check_resize_positions,
            resample_position_embedding,
            "vitlesson.resample_position_embedding",
        ),
    ):
        message = caught(check, answer)
        assert message.startswith(
            f"your code called {name}, the package's solution: write it "
            "yourself"
        )
        assert "\n" not in message


def test_the_package_works_again_after_a_check():
    with pytest.raises(ExerciseError):
        check_resize_positions(resample_position_embedding, seed=0)
    table = torch.randn(1, 17, 8)
    assert torch.allclose(
        resample_position_embedding(table, 6), reference_resize(table, 6)
    )


def test_a_stub_still_in_place_is_named_and_nothing_passes(capsys):
    def stub(*args):
        raise NotImplementedError("write it")

    for check, name in (
        (check_cls_and_positions, "add_cls_and_positions"),
        (check_resize_positions, "resize_positions"),
    ):
        assert caught(check, stub).startswith(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell"
        )
    assert "✓" not in capsys.readouterr().out


def test_non_callables_and_none_returns_are_named():
    for check in (check_cls_and_positions, check_resize_positions):
        assert "should be your function or class, got 3" in caught(check, 3)
        assert "returned None: did you forget the `return`" in caught(
            check, lambda *args: None
        )


def test_a_wrong_sequence_is_located_to_its_first_wrong_number():
    message = caught(
        check_cls_and_positions, lambda *a: add_cls_and_positions(*a) * 2
    )
    assert "image 0, token 0 (the CLS token), number 0 should be" in message


def test_a_wrong_table_row_is_located_on_the_grid():
    def one_number_off(pos_embed, new_grid):
        table = resize_positions(pos_embed, new_grid)
        table[0, new_grid + 2, 5] += 1  # grid cell (1, 1)
        return table

    message = caught(check_resize_positions, one_number_off)
    assert "row 26 (grid cell 1, 1), number 5 should be" in message


@pytest.mark.parametrize("seed", SEEDS)
def test_the_checks_leave_the_learners_random_state_as_it_was(seed):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check_cls_and_positions(add_cls_and_positions, seed=seed)
        check_resize_positions(resize_positions, seed=seed)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_references_are_the_packages_computations():
    """The checks' own references agree with the package's layers."""
    layer = VisionTransformerEmbedding(8, 4, in_channels=1, embed_dim=6)
    images = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        tokens = layer.patch_embedding(images)
        expected = layer.eval()(images)
    table = layer.pos_embedding.position_embeddings
    assert torch.allclose(
        reference_sequence(tokens, layer.cls_token, table), expected
    )
    table = torch.randn(1, 50, 4)
    for new_grid in (3, 11):
        assert torch.allclose(
            reference_resize(table, new_grid),
            resample_position_embedding(table, new_grid),
        )


def test_the_named_resizes_differ_from_the_right_one():
    """Each named mistake gives other numbers than the right resize."""
    table = torch.randn(1, 50, 4)
    right = reference_resize(table, 4)
    for name, wrong in wrong_resizes(table, 4).items():
        assert not torch.allclose(wrong, right), name
