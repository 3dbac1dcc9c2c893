"""The checks of part 2's exercise: attention by hand.

The learner writes scaled dot-product attention, ``attention(q, k, v)``
returning the output and the weights, then the two reshapes around it in
multi-head attention: ``split_heads`` cuts each token's D numbers into h
heads of width d = D/h, ``merge_heads`` puts them side by side again.

Each check compares the learner's result with its own reference, computed
with a plain matrix product and softmax (attention) or with ``chunk`` and
``cat`` (the heads), never with the package's ``attention_weights`` or
``Attention``, which refuse to run while a check does; so do PyTorch's
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``, since
the exercise is to write the formula. Settings are the lesson's first (the
worked example of three tokens, then ViT-S's heads of width 64), then
drawn for this run (other batches, head counts, token counts and widths).
A wrong result is matched against the typical mistakes (softmax over the
queries, a missing or wrong scale, the weights transposed, heads split
without a permute...) and named. The checks print one line per passed
case and raise :class:`ExerciseError` otherwise.
"""

from __future__ import annotations

import contextlib
import inspect
import random
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import vit
from vitlesson.exercises._harness import (
    ExerciseError,
    describe,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
    shape_mistake,
)

# The package's answers to this exercise, refused while a check runs.
SOLUTIONS = {
    "vitlesson.vit.attention_weights": vit.attention_weights,
    "vitlesson.vit.Attention": vit.Attention,
    "torch.nn.MultiheadAttention": nn.MultiheadAttention,
}

# PyTorch's fused attention: a built-in function, so it is refused by
# replacing the module attribute the learner's code looks up.
FUSED = "torch.nn.functional.scaled_dot_product_attention"

# The worked example of the page (part 2): three tokens of width 2.
EXAMPLE_Q = ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0))
EXAMPLE_V = ((10.0, 0.0), (0.0, 10.0), (5.0, 5.0))

# ViT-S's attention: 6 heads of width 64, D = 384.
LESSON_HEADS, LESSON_WIDTH = 6, 384
# Widths a learner may write instead of reading d: the worked example's,
# a ViT-S head's, all ViT-S heads together.
WRITTEN_WIDTHS = (2, LESSON_WIDTH // LESSON_HEADS, LESSON_WIDTH)


class FusedAttentionRefused(RuntimeError):
    """Raised by PyTorch's fused attention while a check runs."""


def _fused_refused(*args, **kwargs):
    raise FusedAttentionRefused(FUSED)


@contextlib.contextmanager
def refusing_fused_attention() -> Iterator[None]:
    """While the block runs, ``F.scaled_dot_product_attention`` raises."""
    fused = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _fused_refused  # type: ignore[assignment]
    try:
        yield
    finally:
        F.scaled_dot_product_attention = fused  # type: ignore[assignment]


@contextlib.contextmanager
def refusing_the_shortcuts() -> Iterator[None]:
    with refusing_the_solution(SOLUTIONS), refusing_fused_attention():
        yield


def _call(name: str, function, *args, expected: str, hint: str = ""):
    """:func:`learner_call`, with PyTorch's fused attention named."""
    try:
        return learner_call(
            name, function, *args, expected=expected, hint=hint
        )
    except ExerciseError as error:
        if isinstance(error.__cause__, FusedAttentionRefused):
            raise ExerciseError(
                f"your {name} called {FUSED}, PyTorch's fused attention: "
                "in this exercise you write the formula yourself (it is "
                "the right tool afterwards; the notebook's last cell "
                "compares with it)"
            ) from error.__cause__
        raise


def _drawn_note(settings: str) -> str:
    return (
        f"It passed with the lesson's settings; this run drew {settings}: "
        "read every size from the inputs instead of writing a number"
    )


# --- Task 1: scaled dot-product attention ------------------------------------


def reference_attention(q, k, v) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v and the weights, by the formula."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    weights = torch.softmax(scores, dim=-1)  # (..., Tq, Tk)
    return torch.matmul(weights, v), weights


def wrong_weights(q, k) -> dict[str, torch.Tensor]:
    """The weights the typical mistakes give, to name them."""
    d, T = q.shape[-1], q.shape[-2]
    raw = torch.matmul(q, k.transpose(-2, -1))  # (..., Tq, Tk)
    scaled = raw / d**0.5
    named = {
        "the softmax is over the queries (dim -2), not the keys: each row "
        "(one query) must sum to 1, softmax(dim=-1)": scaled.softmax(-2),
        "the scores are not scaled: divide q kᵀ by √d, the square root of "
        "the width of the queries and keys": raw.softmax(-1),
        "the scores are divided by d, not by √d": (raw / d).softmax(-1),
        "the scores are multiplied by √d instead of divided by it": (
            raw * d**0.5
        ).softmax(-1),
        "the scores are divided by √T (q.shape[-2], the token count), not "
        "by √d (q.shape[-1], the width)": (raw / T**0.5).softmax(-1),
        "the weights are transposed: row i must be what query i takes from "
        "each key, softmax(q kᵀ / √d), not its transpose": scaled.softmax(
            -1
        ).transpose(-2, -1),
        "the weights are computed from k qᵀ (the keys as queries)": (
            torch.matmul(k, q.transpose(-2, -1)) / d**0.5
        ).softmax(-1),
    }
    for width in WRITTEN_WIDTHS:
        if width == d:
            continue
        why = (
            "the width D of all heads together; each head divides by its "
            "own width d = D/h"
            if width == LESSON_WIDTH
            else "a width written as a number: read d from q.shape[-1]"
        )
        named[f"the scores are divided by √{width}, {why}"] = (
            raw / width**0.5
        ).softmax(-1)
    for dim in range(q.dim() - 2):
        named[
            f"the softmax is over dimension {dim} (of a "
            f"{q.dim()}-dimensional tensor), not over the keys: use "
            "softmax(dim=-1)"
        ] = scaled.softmax(dim)
    return named


def _weight_place(index: tuple[int, ...]) -> str:
    *lead, i, j = index
    where = f" (at [{', '.join(map(str, lead))}])" if lead else ""
    return f"the weight of query {i} for key {j}{where}"


def _output_place(index: tuple[int, ...]) -> str:
    *lead, i, n = index
    where = f" (at [{', '.join(map(str, lead))}])" if lead else ""
    return f"number {n} of the output of query {i}{where}"


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b.to(a.dtype), atol=tol, rtol=tol)
    )


def _check_attention(attention, q, k, v, hint="", call_hint="") -> None:
    """One case of the attention check: ``hint`` ends every message,
    ``call_hint`` (by default the scores' formula) those of an exception
    the learner's code raised."""
    shapes = ", ".join(
        f"{n} {tuple(t.shape)}" for n, t in zip("qkv", (q, k, v), strict=True)
    )
    call = f"attention(q, k, v) with {shapes}"
    output, weights = reference_attention(q, k, v)
    wanted = (
        f"a pair (output, weights): output of shape {tuple(output.shape)} "
        f"and weights of shape {tuple(weights.shape)}"
    )
    end = f". {hint}" if hint else ""
    got = _call(
        "attention",
        attention,
        q.clone(),
        k.clone(),
        v.clone(),
        expected=wanted,
        hint=call_hint or hint or "the scores are q @ k.transpose(-2, -1)",
    )
    if isinstance(got, torch.Tensor):
        raise ExerciseError(
            f"{call} returned one tensor, {describe(got)}; expected {wanted}:"
            " `return output, weights`"
        )
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        if got is None or inspect.isgenerator(got):
            returned_tensor(call, got, wanted)
        raise ExerciseError(
            f"{call} returned {describe(got)}; expected {wanted}"
        )
    got_output = returned_tensor(f"{call} (the output)", got[0], wanted)
    got_weights = returned_tensor(f"{call} (the weights)", got[1], wanted)
    if got_output.shape == weights.shape and got_weights.shape == output.shape:
        if output.shape != weights.shape:
            raise ExerciseError(
                f"{call} returned (weights, output): return the output "
                f"first, then the weights{end}"
            )
    dims = [f"dimension {i}" for i in range(q.dim() - 2)]
    mistake = shape_mistake(
        got_weights.shape, weights.shape, dims + ["queries", "keys"]
    )
    if mistake:
        raise ExerciseError(
            f"{call}: the weights have {mistake} (one row per query, one "
            f"column per key){end}"
        )
    difference = first_difference(
        got_weights, weights, _weight_place, atol=1e-5, rtol=1e-4
    )
    if difference:
        named = [
            name
            for name, wrong in wrong_weights(q, k).items()
            if not _close(wrong, weights) and _close(got_weights, wrong)
        ]  # on the worked example, where q = k, two mistakes agree
        if named:
            raise ExerciseError(
                f"{call}: wrong weights: {'; or '.join(named)}{end}"
            )
        raise ExerciseError(
            f"{call}: wrong weights: {difference}; expected softmax(q kᵀ / "
            f"√d) with the softmax over the keys (dim -1){end}"
        )
    mistake = shape_mistake(
        got_output.shape, output.shape, dims + ["queries", "width"]
    )
    if mistake:
        raise ExerciseError(
            f"{call}: the output has {mistake}: it is weights @ v, one row "
            f"per query{end}"
        )
    difference = first_difference(
        got_output, output, _output_place, atol=1e-4, rtol=1e-4
    )
    if difference:
        outputs = {
            "the output is weights.transpose(-2, -1) @ v: use the weights "
            "as they are, weights @ v": torch.matmul(
                weights.transpose(-2, -1), v
            ),
            "the output is the values unweighted: it is weights @ v": v,
        }
        for name, wrong in outputs.items():
            if not _close(wrong, output) and _close(got_output, wrong, 1e-4):
                raise ExerciseError(f"{call}: wrong output: {name}{end}")
        raise ExerciseError(
            f"{call}: right weights, wrong output: {difference}; expected "
            f"weights @ v{end}"
        )


@seeded
def check_attention(attention: Callable, *, draw: random.Random) -> None:
    """Check ``attention(q, k, v) -> (output, weights)``: on the page's
    worked example (three tokens of width 2), on ViT-S's heads (6 heads of
    width 64, a batch of 2 and 5 tokens), then on three settings drawn for
    this run (other batches, head counts, token counts and widths)."""
    with refusing_the_shortcuts(), torch.no_grad():
        q = torch.tensor(EXAMPLE_Q)  # (T=3, d=2)
        v = torch.tensor(EXAMPLE_V)
        _check_attention(attention, q, q.clone(), v)
        print("✓ attention: the worked example, 3 tokens of width 2")
        d = LESSON_WIDTH // LESSON_HEADS
        q, k, v = torch.randn(3, 2, LESSON_HEADS, 5, d).unbind(0)
        _check_attention(
            attention,
            q,
            k,
            v,
            call_hint="It passed on the worked example's (T, d) tensors: "
            "for batched (B, h, T, d) ones, transpose only the last two "
            "dimensions of k, k.transpose(-2, -1) (k.T reverses all four)",
        )
        print(
            f"✓ attention: ViT-S's heads, q, k, v of shape (2, "
            f"{LESSON_HEADS}, 5, {d})"
        )
        for _ in range(3):
            B, h = draw.choice([1, 3]), draw.choice([1, 2, 4, 12])
            T, d = draw.choice([4, 7, 9]), draw.choice([8, 16, 24, 32])
            settings = f"batch {B}, {h} heads, {T} tokens, width d = {d}"
            q, k, v = torch.randn(3, B, h, T, d).unbind(0)
            _check_attention(attention, q, k, v, _drawn_note(settings))
    print("✓ attention: right on 3 settings drawn for this run (other sizes)")


# --- Task 2: split and merge the heads ---------------------------------------

TOKEN_DIMS = ("batch B", "tokens N", "width D")
HEAD_DIMS = ("batch B", "heads h", "tokens N", "head width d")


def reference_split(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, h, N, D/h): head j holds numbers j·d to (j+1)·d
    of every token, cut with ``chunk``."""
    return torch.stack(x.chunk(heads, dim=-1), dim=1)  # (B, h, N, d)


def reference_merge(x: torch.Tensor) -> torch.Tensor:
    """(B, h, N, d) -> (B, N, h·d): the heads side by side, with ``cat``."""
    return torch.cat(x.unbind(1), dim=-1)  # (B, N, h*d)


def wrong_splits(x: torch.Tensor, heads: int) -> dict[str, torch.Tensor]:
    """What the typical wrong splits return (right shape only), to name
    them."""
    B, N, D = x.shape
    d = D // heads
    return {
        "reshaping (B, N, D) straight to (B, h, N, d) without a permute "
        "mixes tokens and heads: reshape to (B, N, h, d), then move the "
        "heads forward with .permute(0, 2, 1, 3)": x.reshape(B, heads, N, d),
        "the heads are interleaved: reshaping to (B, N, d, h) gives head j "
        "every h-th number; each head is a contiguous slice of width d, "
        "reshape to (B, N, h, d)": x.reshape(B, N, d, heads).permute(
            0, 3, 1, 2
        ),
        "inside each head, tokens and numbers are mixed: permute(0, 2, 1, "
        "3) after reshaping to (B, N, h, d), not a reshape to (B, h, d, N) "
        "and a transpose": x.reshape(B, heads, d, N).transpose(2, 3),
    }


def wrong_merges(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the typical wrong merges return (right shape only)."""
    B, h, N, d = x.shape
    return {
        "reshaping (B, h, N, d) straight to (B, N, h·d) without moving the "
        "heads back mixes tokens and heads: .permute(0, 2, 1, 3) (or "
        ".transpose(1, 2)) first, then reshape": x.reshape(B, N, h * d),
        "the heads are interleaved: permute to (B, N, h, d), not (B, N, d, "
        "h), so that each head's d numbers stay side by side": x.permute(
            0, 2, 3, 1
        ).reshape(B, N, h * d),
        "inside each head, tokens and numbers are swapped: move only the "
        "heads, .permute(0, 2, 1, 3), without transposing (N, d)": x.transpose(
            2, 3
        ).reshape(B, N, h * d),
        "the heads are in reverse order: head 0 comes first": x.flip(1)
        .permute(0, 2, 1, 3)
        .reshape(B, N, h * d),
    }


def _split_place(index: tuple[int, ...]) -> str:
    b, j, n, i = index
    return f"number {i} of head {j} of token {n} (batch {b})"


def _merge_place(d: int):
    def where(index: tuple[int, ...]) -> str:
        b, n, i = index
        return (
            f"number {i} of token {n} (batch {b}), which is number "
            f"{i % d} of head {i // d}"
        )

    return where


def _check_split(split_heads, x, heads, hint="") -> None:
    B, N, D = x.shape
    expected = reference_split(x, heads)
    call = f"split_heads(x of shape {(B, N, D)}, heads={heads})"
    wanted = f"a tensor of shape {tuple(expected.shape)} (B, h, N, D/h)"
    end = f". {hint}" if hint else ""
    got = _call(
        "split_heads",
        split_heads,
        x.clone(),
        heads,
        expected=wanted,
        hint=hint or "d = D // heads is a whole number; D / heads is a float",
    )
    got = returned_tensor(call, got, wanted)
    if tuple(got.shape) == (B, N, heads, D // heads) and N != heads:
        raise ExerciseError(
            f"{call} returned shape {tuple(got.shape)}, (B, N, h, d): the "
            "heads must come before the tokens, so that attention runs per "
            f"head; add .permute(0, 2, 1, 3) (or .transpose(1, 2)){end}"
        )
    mistake = shape_mistake(got.shape, expected.shape, HEAD_DIMS)
    if mistake:
        raise ExerciseError(f"{call} returned {mistake}{end}")
    difference = first_difference(got, expected, _split_place, 0, 0)
    if difference is None:
        return
    for name, wrong in wrong_splits(x, heads).items():
        if not torch.equal(wrong, expected) and torch.equal(got, wrong):
            raise ExerciseError(f"{call}: right shape, but {name}{end}")
    raise ExerciseError(
        f"{call}: right shape, wrong values: {difference} (head j of token "
        f"n is x[b, n, j·d:(j+1)·d]){end}"
    )


def _check_merge(merge_heads, x, hint="") -> None:
    B, h, N, d = x.shape
    expected = reference_merge(x)
    call = f"merge_heads(x of shape {(B, h, N, d)})"
    wanted = f"a tensor of shape {tuple(expected.shape)} (B, N, h·d)"
    end = f". {hint}" if hint else ""
    got = _call(
        "merge_heads",
        merge_heads,
        x.clone(),
        expected=wanted,
        hint=hint
        or "after a permute the tensor is not contiguous: .reshape works "
        "where .view does not",
    )
    got = returned_tensor(call, got, wanted)
    if tuple(got.shape) == (B, N, h, d):
        raise ExerciseError(
            f"{call} returned shape {tuple(got.shape)}, (B, N, h, d): "
            f"put the heads side by side, reshape to (B, N, h·d){end}"
        )
    mistake = shape_mistake(got.shape, expected.shape, TOKEN_DIMS)
    if mistake:
        raise ExerciseError(f"{call} returned {mistake}{end}")
    difference = first_difference(got, expected, _merge_place(d), 0, 0)
    if difference is None:
        return
    for name, wrong in wrong_merges(x).items():
        if not torch.equal(wrong, expected) and torch.equal(got, wrong):
            raise ExerciseError(f"{call}: right shape, but {name}{end}")
    raise ExerciseError(
        f"{call}: right shape, wrong values: {difference} (token n is "
        f"heads 0 to h-1 of token n, side by side){end}"
    )


def _distinct_tokens(B: int, N: int, D: int) -> torch.Tensor:
    """(B, N, D) numbers that are all different, so that every misplaced
    number shows."""
    return torch.randperm(B * N * D).reshape(B, N, D).float()  # (B, N, D)


@seeded
def check_heads(
    split_heads: Callable, merge_heads: Callable, *, draw: random.Random
) -> None:
    """Check ``split_heads(x, heads)`` (B, N, D) -> (B, h, N, D/h) and
    ``merge_heads(x)`` back: on ViT-S's 6 heads of width 64 (a batch of 2,
    5 tokens), then on three settings drawn for this run, each function
    against the check's own split (``chunk``) and merge (``cat``), then
    one after the other, which must give the tokens back."""
    with refusing_the_shortcuts(), torch.no_grad():
        settings = [(2, 5, LESSON_HEADS, LESSON_WIDTH // LESSON_HEADS, "")]
        for _ in range(3):
            B, N = draw.choice([1, 3]), draw.choice([3, 7, 10])
            h, d = draw.choice([2, 3, 4, 8]), draw.choice([2, 5, 16])
            note = _drawn_note(
                f"batch {B}, {N} tokens, {h} heads of width {d} (D = {h * d})"
            )
            settings.append((B, N, h, d, note))
        for index, (B, N, h, d, note) in enumerate(settings):
            x = _distinct_tokens(B, N, h * d)
            _check_split(split_heads, x, h, note)
            _check_merge(merge_heads, reference_split(x, h), note)
            back = _call(
                "merge_heads",
                merge_heads,
                _call("split_heads", split_heads, x.clone(), h, expected=""),
                expected="the tokens back",
            )
            if not torch.equal(back, x):
                raise ExerciseError(
                    "merge_heads(split_heads(x, heads)) does not give x back"
                )
            if index == 0:
                print(
                    f"✓ split_heads: (2, 5, {LESSON_WIDTH}) -> (2, "
                    f"{LESSON_HEADS}, 5, {d}); head j: numbers j·{d} to "
                    f"j·{d}+{d - 1}"
                )
                print(
                    f"✓ merge_heads: (2, {LESSON_HEADS}, 5, {d}) -> (2, 5, "
                    f"{LESSON_WIDTH})"
                )
                print(
                    f"✓ merge_heads(split_heads(x, {LESSON_HEADS})) is x, "
                    "number for number"
                )
    print("✓ split_heads, merge_heads: right on 3 settings drawn for this run")
