"""Part 5's check: every wrong block of the corpus is caught and named,
every right one passes, on settings drawn anew at each run."""

import contextlib
import io
import re

import pytest
import torch

from tests.support.answers_encoder_block import (
    BLOCK_MISTAKES,
    RIGHT_BLOCKS,
    learner_block,
)
from tests.support.exercise_checks import SEEDS, caught
from vitlesson import vit
from vitlesson.exercises import ExerciseError, check_encoder_block
from vitlesson.exercises.encoder_block import MISTAKES, reference_block


def test_the_corpus_is_big_enough():
    assert len(BLOCK_MISTAKES) >= 10 and len(RIGHT_BLOCKS) >= 3


@pytest.mark.parametrize("mistake", BLOCK_MISTAKES)
def test_every_wrong_block_is_caught_and_named(mistake):
    answer, phrase = BLOCK_MISTAKES[mistake]
    message = caught(check_encoder_block, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_BLOCKS)
def test_right_blocks_pass(answer, seed, capsys):
    check_encoder_block(RIGHT_BLOCKS[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ EncoderBlock") == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_coded_sizes_fail_on_every_draw(seed):
    for mistake in ("3 heads written", "hidden width 4 * dim written"):
        assert "It passed with the lesson's settings" in caught(
            check_encoder_block, BLOCK_MISTAKES[mistake][0], seed=seed
        )


def test_the_settings_are_drawn_anew_at_each_run():
    answer = BLOCK_MISTAKES["hidden width 4 * dim written"][0]
    messages = {
        caught(check_encoder_block, answer, seed=None) for _ in range(5)
    }
    assert len(messages) > 1  # five runs, not all with one draw
    assert caught(check_encoder_block, answer, seed=7) == caught(
        check_encoder_block, answer, seed=7
    )  # a seed repeats a run


def test_the_packages_block_is_refused_in_one_line():
    message = caught(
        check_encoder_block, BLOCK_MISTAKES["the package's Block"][0]
    )
    assert message.startswith(
        "your code called vitlesson.vit.Block, the package's solution: "
        "write it yourself"
    )
    assert "\n" not in message


def test_the_package_works_again_after_a_check():
    with pytest.raises(ExerciseError):
        check_encoder_block(BLOCK_MISTAKES["the package's Block"][0], seed=0)
    block = vit.Block(8, 2).eval()
    assert block(torch.randn(1, 3, 8)).shape == (1, 3, 8)


def test_a_stub_still_in_place_is_named_and_nothing_passes(capsys):
    class StubInit(torch.nn.Module):
        def __init__(self, dim, heads, mlp_ratio=4.0):
            super().__init__()
            raise NotImplementedError("write EncoderBlock")

    class StubForward(learner_block()):
        def forward(self, x):
            raise NotImplementedError

    for answer, name in (
        (StubInit, "StubInit"),
        (StubForward, "StubForward.forward"),
    ):
        assert caught(check_encoder_block, answer).startswith(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell"
        )
    assert "✓" not in capsys.readouterr().out


def test_none_and_none_returns_are_named():
    assert "expects your class EncoderBlock itself, got None" in caught(
        check_encoder_block, None
    )

    class Silent(learner_block()):
        def forward(self, x):
            super().forward(x)

    assert "returned None: did you forget the `return`" in caught(
        check_encoder_block, Silent
    )


def test_a_wrong_number_is_located():
    class Doubled(learner_block()):
        def forward(self, x):
            return super().forward(x) * 2

    assert "image 0, token 0, number 0 should be" in caught(
        check_encoder_block, Doubled
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_the_check_leaves_the_learners_random_state_as_it_was(seed):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check_encoder_block(RIGHT_BLOCKS["the published solution"], seed=seed)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_reference_is_the_packages_block():
    """The check's own forward pass agrees with the package's Block given
    the same weights."""
    torch.manual_seed(0)
    block = vit.Block(12, 3, mlp_ratio=2.0).eval()
    for parameter in block.parameters():
        parameter.data.normal_()
    names = {
        "attn.qkv": "qkv",
        "attn.proj": "proj",
        "mlp.fc1": "fc1",
        "mlp.fc2": "fc2",
    }
    weights = {
        "norm1.eps": torch.tensor(1e-6),
        "norm2.eps": torch.tensor(1e-6),
    }
    for key, value in block.state_dict().items():
        layer, kind = key.rsplit(".", 1)
        weights[f"{names.get(layer, layer)}.{kind}"] = value
    x = torch.randn(2, 5, 12)
    with torch.no_grad():
        assert torch.allclose(
            reference_block(x, weights, 3), block(x), atol=1e-4
        )
        for mistake in MISTAKES:  # each named mistake changes the output
            wrong = reference_block(x, weights, 3, mistake)
            assert not torch.allclose(wrong, block(x), atol=1e-3), mistake
