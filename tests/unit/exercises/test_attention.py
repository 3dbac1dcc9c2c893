"""Part 2's checks: every wrong answer of the corpus is caught and named,
every right one passes, on settings drawn anew at each run."""

import contextlib
import io
import re

import pytest
import torch
import torch.nn.functional as F

from tests.support.answers_attention import (
    ATTENTION_MISTAKES,
    HEADS_MISTAKES,
    RIGHT_ATTENTIONS,
    RIGHT_HEADS,
    right_attention,
    right_merge,
    right_split,
)
from tests.support.exercise_checks import SEEDS, caught
from vitlesson.exercises import ExerciseError, check_attention, check_heads
from vitlesson.exercises.attention import (
    reference_attention,
    reference_merge,
    reference_split,
    wrong_merges,
    wrong_splits,
    wrong_weights,
)
from vitlesson.vit import Attention, attention_weights


def test_the_corpora_are_big_enough():
    assert len(ATTENTION_MISTAKES) >= 10 and len(HEADS_MISTAKES) >= 10
    assert len(RIGHT_ATTENTIONS) >= 2 and len(RIGHT_HEADS) >= 2


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
@pytest.mark.parametrize("mistake", ATTENTION_MISTAKES)
def test_every_wrong_attention_is_caught_and_named(mistake):
    answer, phrase = ATTENTION_MISTAKES[mistake]
    message = caught(check_attention, answer)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("mistake", HEADS_MISTAKES)
def test_every_wrong_split_or_merge_is_caught_and_named(mistake):
    answers, phrase = HEADS_MISTAKES[mistake]
    message = caught(check_heads, *answers)
    assert re.search(phrase, message), message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_ATTENTIONS)
def test_right_attentions_pass(answer, seed, capsys):
    check_attention(RIGHT_ATTENTIONS[answer], seed=seed)
    assert capsys.readouterr().out.count("✓ attention") == 3


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", RIGHT_HEADS)
def test_right_splits_and_merges_pass(answer, seed, capsys):
    check_heads(*RIGHT_HEADS[answer], seed=seed)
    out = capsys.readouterr().out
    assert out.count("✓ split_heads") == 2 and "✓ merge_heads" in out


def test_nothing_passed_is_named():
    assert caught(check_heads, None, right_merge).startswith(
        "split_heads should be your function or class, got None"
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_coded_sizes_fail_on_every_draw(seed):
    for answers in (
        HEADS_MISTAKES["split: 6 heads written"][0],
        HEADS_MISTAKES["merge: 384 written"][0],
    ):
        assert "It passed with the lesson's settings" in caught(
            check_heads, *answers, seed=seed
        )
    assert "√64, a width written as a number" in caught(
        check_attention, ATTENTION_MISTAKES["√64 written"][0], seed=seed
    )


def test_the_settings_are_drawn_anew_at_each_run():
    answers = HEADS_MISTAKES["split: 6 heads written"][0]
    messages = {caught(check_heads, *answers, seed=None) for _ in range(4)}
    assert len(messages) > 1  # four runs, not all with one draw
    assert caught(check_heads, *answers, seed=7) == caught(
        check_heads, *answers, seed=7
    )  # a seed repeats a run


def test_a_wrong_weight_is_named_by_its_query_and_key():
    def one_off(q, k, v):
        output, weights = right_attention(q, k, v)
        weights = weights.clone()
        weights[..., 1, 2] += 0.1
        return output, weights

    message = caught(check_attention, one_off)
    assert message.startswith(
        "attention(q, k, v) with q (3, 2), k (3, 2), v (3, 2): wrong "
        "weights: the weight of query 1 for key 2 should be"
    ), message


def test_a_stub_still_in_place_is_named_and_nothing_passes(capsys):
    def stub(*args):
        raise NotImplementedError("write it")

    for check, answers, name in (
        (check_attention, (stub,), "attention"),
        (check_heads, (stub, right_merge), "split_heads"),
        (check_heads, (right_split, stub), "merge_heads"),
    ):
        assert caught(check, *answers).startswith(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell"
        )
    assert "✓" not in capsys.readouterr().out


def test_the_shortcuts_work_again_after_a_check():
    caught(check_attention, ATTENTION_MISTAKES["torch's fused attention"][0])
    caught(check_attention, ATTENTION_MISTAKES["nn.MultiheadAttention"][0])
    q, k, v = torch.randn(3, 1, 2, 4, 8).unbind(0)
    output, weights = reference_attention(q, k, v)
    fused = F.scaled_dot_product_attention(q, k, v)  # float32 rounding apart
    assert torch.allclose(fused, output, atol=1e-6)
    assert torch.allclose(attention_weights(q, k), weights, atol=1e-6)
    layer = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    assert layer(q[0], k[0], v[0])[0].shape == (2, 4, 8)


def test_the_learners_exception_is_chained_for_the_traceback():
    with pytest.raises(ExerciseError) as error:
        check_attention(ATTENTION_MISTAKES["k not transposed"][0], seed=0)
    assert isinstance(error.value.__cause__, RuntimeError)


def test_the_checks_leave_the_learners_random_state_as_it_was():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check_attention(right_attention, seed=0)
        check_heads(right_split, right_merge, seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_references_are_the_packages_attention():
    """The checks' own split, attention and merge, with a layer's weights,
    give that layer's output: they are the lesson's multi-head attention."""
    layer = Attention(dim=24, num_heads=3).eval()
    x = torch.randn(2, 7, 24)
    with torch.no_grad():
        expected, expected_weights = layer(x, return_attention=True)
        q, k, v = (
            reference_split(t, 3) for t in layer.qkv(x).chunk(3, dim=-1)
        )
        output, weights = reference_attention(q, k, v)
        got = layer.proj(reference_merge(output))
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(weights, expected_weights, atol=1e-6)


def test_no_named_mistake_is_the_right_answer():
    q, k = torch.randn(2, 2, 3, 5, 16).unbind(0)
    right = reference_attention(q, k, k)[1]
    for name, wrong in wrong_weights(q, k).items():
        assert not torch.allclose(wrong, right), name
    x = torch.randn(2, 5, 12)
    for name, wrong in wrong_splits(x, 3).items():
        assert not torch.equal(wrong, reference_split(x, 3)), name
    heads = reference_split(x, 3)
    for name, wrong in wrong_merges(heads).items():
        assert not torch.equal(wrong, reference_merge(heads)), name


def test_the_lesson_output_is_the_same_at_every_run(capsys):
    """The page shows the checks' output: nothing drawn is printed."""
    outputs = []
    for seed in SEEDS:
        check_attention(right_attention, seed=seed)
        check_heads(right_split, right_merge, seed=seed)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
