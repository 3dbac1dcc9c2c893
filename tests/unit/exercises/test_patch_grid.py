"""Part 1's checks: every wrong answer of the corpus is caught and named,
every right one passes, on settings drawn anew at each run."""

import contextlib
import io
import re

import matplotlib.pyplot as plt
import pytest
import torch

from tests.support.answers_patch_grid import (
    DRAWING_MISTAKES,
    GRID_MISTAKES,
    RIGHT_DRAWINGS,
    RIGHT_GRIDS,
    right_drawing,
    right_grid,
)
from tests.support.exercise_checks import SEEDS, caught
from vitlesson import patchify
from vitlesson.data.images import sample_image
from vitlesson.exercises import (
    check_patch_grid,
    check_show_patches,
)
from vitlesson.exercises.patch_grid import reference_grid, wrong_grids


def test_the_corpora_are_big_enough():
    assert len(GRID_MISTAKES) >= 10 and len(DRAWING_MISTAKES) >= 10
    assert len(RIGHT_GRIDS) >= 2 and len(RIGHT_DRAWINGS) >= 2


@pytest.mark.parametrize("mistake", GRID_MISTAKES)
def test_every_wrong_grid_is_caught_and_named(mistake):
    answer, phrase = GRID_MISTAKES[mistake]
    message = caught(check_patch_grid, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("mistake", DRAWING_MISTAKES)
def test_every_wrong_drawing_is_caught_and_named(mistake):
    answer, phrase = DRAWING_MISTAKES[mistake]
    message = caught(check_show_patches, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_GRIDS)
def test_right_grids_pass(answer, seed, capsys):
    check_patch_grid(RIGHT_GRIDS[answer], seed=seed)
    out = capsys.readouterr().out
    assert out.count("✓ patch_grid") == 3 and "naming the sizes" in out


@pytest.mark.parametrize("answer", RIGHT_DRAWINGS)
def test_right_drawings_pass(answer, capsys):
    check_show_patches(RIGHT_DRAWINGS[answer], seed=0)
    assert capsys.readouterr().out.count("✓ show_patches") == 2


def test_the_check_closes_every_figure_the_learners_code_opens():
    before = plt.get_fignums()
    with contextlib.redirect_stdout(io.StringIO()):
        check_show_patches(right_drawing, seed=0)
    caught(check_show_patches, DRAWING_MISTAKES["upside down"][0])
    assert plt.get_fignums() == before


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_coded_sizes_fail_on_every_draw(seed):
    for answer in (
        GRID_MISTAKES["hard-coded 224/16"][0],
        GRID_MISTAKES["hard-coded 224"][0],
    ):
        assert "It passed on the lesson's 224×224 photograph" in caught(
            check_patch_grid, answer, seed=seed
        )


def test_the_settings_are_drawn_anew_at_each_run():
    answer = GRID_MISTAKES["hard-coded 224"][0]
    messages = {caught(check_patch_grid, answer, seed=None) for _ in range(4)}
    assert len(messages) > 1  # four runs, not all with one draw
    assert caught(check_patch_grid, answer, seed=7) == caught(
        check_patch_grid, answer, seed=7
    )  # a seed repeats a run


def test_a_wrong_patch_is_named_by_its_place_on_the_grid():
    def brighter_corner(image, P):
        grid = right_grid(image, P).clone()
        grid[2, 3, 1, 4, 5] += 0.5
        return grid

    message = caught(check_patch_grid, brighter_corner)
    assert message.startswith(
        "patch_grid(image of shape (3, 224, 224), 16): right shape, wrong "
        "values: the patch at grid row 2, column 3: channel 1, pixel row 4, "
        "column 5 (image[1, 36, 53]) should be "
    ), message


def test_the_refusal_must_name_the_height_the_width_and_the_patch_size():
    def names_two(image, P):
        C, H, W = image.shape
        if H % P or W % P:
            raise ValueError(f"height {H} is not a multiple of {P}")
        return right_grid(image, P)

    message = caught(check_patch_grid, names_two)
    assert re.search(r"which does not name \d+;", message), message


def test_a_stub_still_in_place_is_named_and_nothing_passes(capsys):
    def stub(*args):
        raise NotImplementedError("write it")

    for check, name in (
        (check_patch_grid, "patch_grid"),
        (check_show_patches, "show_patches"),
    ):
        assert caught(check, stub).startswith(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell"
        )
    assert "✓" not in capsys.readouterr().out


def test_the_package_solution_works_again_after_a_check():
    caught(check_patch_grid, GRID_MISTAKES["the package's patchify"][0])
    image = torch.rand(1, 3, 8, 12)
    assert patchify(image, 4).shape == (1, 6, 48)


def test_the_checks_leave_the_learners_random_state_as_it_was():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check_patch_grid(right_grid, seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_reference_grid_read_in_raster_order_is_the_packages_tokens():
    image = sample_image((24, 40))
    tokens = reference_grid(image, 8).flatten(0, 1).flatten(1)
    assert torch.equal(tokens, patchify(image[None], 8)[0])


def test_no_named_mistake_is_the_right_answer_on_a_non_square_image():
    image = sample_image((24, 40))
    right = reference_grid(image, 8)
    for name, wrong in wrong_grids(image, 8).items():
        assert not torch.equal(wrong, right), name


def test_the_lesson_output_is_the_same_at_every_run(capsys):
    """The page shows the checks' output: nothing drawn is printed."""
    outputs = []
    for seed in SEEDS[:2]:
        check_patch_grid(right_grid, seed=seed)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
