"""The checks of part 3's exercise: the CLS token, the positions, and a
position table resized to another grid.

ViT's input sequence is the CLS token followed by the N patch tokens, with
row i of a learned (1, N+1, D) table added to token i: row 0 belongs to the
CLS token, rows 1..N to the patches in raster order. For another image size
the table is resized: the CLS row is kept, the N patch rows are laid out on
their g x g grid as an image with D channels, resized bicubically and read
back row by row.

Each check runs the learner's function on the lesson's sizes, then on sizes
drawn for this run, and compares it with its own reference written here in
plain tensor operations (``torch.cat`` and ``F.interpolate``). A wrong
result is matched against the typical mistakes and named; a function that
changes the tensors it is given is named too. The check prints one line per
passed case and raises :class:`ExerciseError` otherwise.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from vitlesson import embedding, position, vit
from vitlesson.exercises._harness import (
    ExerciseError,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
    shape_mistake,
)

# The package's answers to this exercise, refused while a check runs.
SOLUTIONS = {
    "vitlesson.VisionTransformerEmbedding": (
        embedding.VisionTransformerEmbedding
    ),
    "vitlesson.PositionalEmbedding": position.PositionalEmbedding,
    "vitlesson.resample_position_embedding": (
        position.resample_position_embedding
    ),
    "vitlesson.VisionTransformer.prepare_tokens": (
        vit.VisionTransformer.prepare_tokens
    ),
}

TOKEN_DIMS = ("images B", "tokens N+1", "embedding D")
TABLE_DIMS = ("1", "rows 1 + g*g", "embedding D")

# What torch says for the typical crashes, and what the learner should do.
CRASH_HINTS = {
    "Sizes of tensors must match except in dimension 1": (
        "torch.cat needs the CLS token once per image: expand cls_token "
        "(1, 1, D) to (B, 1, D) with cls_token.expand(B, -1, -1)"
    ),
    "must match the size of tensor b": (
        "pos_embed has N+1 rows, one per token of the sequence with the "
        "CLS token in front: add it after torch.cat (or pos_embed[:, 1:] "
        "to the patches, pos_embed[:, :1] to the CLS token)"
    ),
    "refers to a single memory location": (
        "an in-place operation on the expanded CLS token: expand() makes "
        "a view in which every image shares one vector; write "
        "x = x + ..., which makes a new tensor"
    ),
    "is invalid for input of size": (
        "the old grid's side g is the square root of the number of patch "
        "rows, pos_embed.shape[1] - 1 (the CLS row is no grid position): "
        "lay out pos_embed[:, 1:] as (1, g, g, D)"
    ),
}


def _call(name, function, *args, expected: str, hint: str):
    """The learner's call; a known crash gets its named remedy."""
    try:
        return learner_call(name, function, *args, expected=expected)
    except ExerciseError as error:
        cause = str(error.__cause__ or "")
        remedies = [
            remedy for text, remedy in CRASH_HINTS.items() if text in cause
        ][:1] + ([hint] if hint else [])
        if not remedies or "not written yet" in str(error):
            raise
        raise ExerciseError(
            f"{error}: " + ". ".join(remedies)
        ) from error.__cause__


def _unchanged(call: str, given: dict[str, torch.Tensor], kept) -> None:
    """The learner's function left the tensors it was given as they were."""
    for name, tensor in given.items():
        if tensor.shape != kept[name].shape or not torch.equal(
            tensor, kept[name]
        ):
            raise ExerciseError(
                f"{call} changed its argument {name} in place (an "
                "operation such as +=, add_, squeeze_ or an assignment "
                f"into {name}[...]): a function never changes the tensors "
                "it is given, the caller still needs them; write "
                "x = x + ..., which makes a new tensor"
            )


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b.to(a.dtype), atol=1e-5, rtol=1e-4)
    )


def _drawn_note(settings: str) -> str:
    return (
        f"It passed with the lesson's settings; this run drew {settings}: "
        "read every size from the inputs instead of writing a number"
    )


# --- Task 1: the CLS token in front, positions added ------------------------


def reference_sequence(
    tokens: torch.Tensor, cls_token: torch.Tensor, pos_embed: torch.Tensor
) -> torch.Tensor:
    """(B, N, D) patch tokens -> (B, N+1, D): the check's own sequence."""
    cls = cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
    return torch.cat([cls, tokens], dim=1) + pos_embed  # (B, N+1, D)


def wrong_sequences(
    tokens: torch.Tensor, cls_token: torch.Tensor, pos_embed: torch.Tensor
) -> dict[str, torch.Tensor]:
    """What the typical wrong answers return, to name them."""
    B, N, _ = tokens.shape
    cls = cls_token.expand(B, -1, -1)  # (B, 1, D)
    in_front = torch.cat([cls, tokens], dim=1)  # (B, N+1, D)
    return {
        "the CLS token is at the end: it goes in front, token 0 of the "
        "sequence, torch.cat([cls, tokens], dim=1)": (
            torch.cat([tokens, cls], dim=1) + pos_embed
        ),
        "the CLS token got no position: row 0 of pos_embed is its own, "
        "add the whole table after putting the CLS token in front": (
            torch.cat([cls, tokens + pos_embed[:, 1:]], dim=1)
        ),
        "the positions were added before the CLS token was put in front: "
        "the patches got rows 0..N-1 of pos_embed, but row 0 is the CLS "
        "token's and the patches' are rows 1..N": (
            torch.cat([cls, tokens + pos_embed[:, :N]], dim=1)
        ),
        "the patches got rows 0..N-1 of pos_embed and the CLS token row "
        "N: row 0 is the CLS token's, rows 1..N the patches'": (
            torch.cat(
                [cls + pos_embed[:, N:], tokens + pos_embed[:, :N]], dim=1
            )
        ),
        "row 0 of pos_embed was added twice to the CLS token": (
            torch.cat([cls + pos_embed[:, :1], tokens], dim=1) + pos_embed
        ),
        "no positions were added: add pos_embed to the sequence": in_front,
        "the positions multiply the tokens: they are added": (
            in_front * pos_embed
        ),
    }


def _token_element(index: tuple[int, ...]) -> str:
    b, n, d = index
    token = "the CLS token" if n == 0 else f"patch {n - 1}"
    return f"image {b}, token {n} ({token}), number {d}"


def _sequence_length_hint(got: int, expected: int) -> str:
    if got == expected - 1:
        return ": one token short, the CLS token is missing in front"
    if got == expected + 1:
        return ": one token too many (one CLS token, then the N patches)"
    return ""


def _check_sequence(add_cls_and_positions, B, N, D, hint="") -> None:
    tokens = torch.randn(B, N, D)
    cls_token = torch.randn(1, 1, D)
    pos_embed = torch.randn(1, N + 1, D)
    given = {"tokens": tokens, "cls_token": cls_token, "pos_embed": pos_embed}
    kept = {name: tensor.clone() for name, tensor in given.items()}
    expected = reference_sequence(tokens, cls_token, pos_embed)
    call = (
        f"add_cls_and_positions(tokens {(B, N, D)}, cls_token {(1, 1, D)}, "
        f"pos_embed {(1, N + 1, D)})"
    )
    wanted = f"the sequence of shape {(B, N + 1, D)}, CLS token first"
    end = f". {hint}" if hint else ""

    def run():
        got = _call(
            "add_cls_and_positions",
            add_cls_and_positions,
            tokens,
            cls_token,
            pos_embed,
            expected=wanted,
            hint=hint,
        )
        _unchanged(call, given, kept)
        return returned_tensor(call, got, wanted)

    got = run()
    mistake = shape_mistake(got.shape, expected.shape, TOKEN_DIMS)
    if mistake:
        raise ExerciseError(
            f"{call} returned {mistake}"
            + _sequence_length_hint(got.shape[1], N + 1)
            + end
        )
    if not torch.equal(run(), got):
        raise ExerciseError(
            f"{call} gave other numbers at its second call with the same "
            "inputs: is dropout on (F.dropout trains unless told "
            "training=False)? This exercise adds no dropout" + end
        )
    difference = first_difference(got, expected, _token_element, atol=1e-5)
    if difference is None:
        return
    for name, wrong in wrong_sequences(*kept.values()).items():
        if not _close(wrong, expected) and _close(got, wrong):
            raise ExerciseError(f"{call}: {name}{end}")
    raise ExerciseError(
        f"{call} should return torch.cat([CLS, tokens]) + pos_embed; "
        f"{difference}{end}"
    )


@seeded
def check_cls_and_positions(
    add_cls_and_positions: Callable, *, draw: random.Random
) -> None:
    """Check ``add_cls_and_positions(tokens, cls_token, pos_embed)``: the
    CLS token (1, 1, D) in front of every image's (N, D) patch tokens,
    then the (1, N+1, D) table added; on ViT-B/16's sizes (196 patches of
    width 768, batch 2), then on batches, token counts and widths drawn for
    this run."""
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        _check_sequence(add_cls_and_positions, 2, 196, 768)
        print(
            "✓ add_cls_and_positions: (2, 196, 768) -> (2, 197, 768), "
            "CLS first"
        )
        for _ in range(2):
            B, N = draw.choice([1, 3, 4]), draw.randrange(3, 50)
            D = draw.choice([4, 8, 12, 20])
            settings = f"batch {B}, {N} patch tokens of width {D}"
            _check_sequence(
                add_cls_and_positions, B, N, D, _drawn_note(settings)
            )
    print(
        "✓ add_cls_and_positions: also right on 2 drawn settings (B, N and D)"
    )


# --- Task 2: a position table resized to another grid -----------------------


def reference_resize(
    pos_embed: torch.Tensor,
    new_grid: int,
    mode: str = "bicubic",
    align_corners: bool | None = False,
    antialias: bool = False,
) -> torch.Tensor:
    """(1, 1 + g*g, D) -> (1, 1 + new_grid**2, D): the CLS row kept, the
    patch rows resized as a (1, D, g, g) image. The keywords are those of
    ``F.interpolate``: the lesson's convention by default (Hugging Face's),
    other ones to name a wrong answer."""
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, N, D)
    D, g = patches.shape[2], math.isqrt(patches.shape[1])
    grid = patches.reshape(1, g, g, D).permute(0, 3, 1, 2)  # (1, D, g, g)
    grid = F.interpolate(
        grid,
        size=(new_grid, new_grid),
        mode=mode,
        align_corners=align_corners,
        antialias=antialias,
    )  # (1, D, n, n)
    patches = grid.permute(0, 2, 3, 1).reshape(1, new_grid**2, D)
    return torch.cat([cls, patches], dim=1)  # (1, 1 + n*n, D)


def _resized(grid: torch.Tensor, n: int) -> torch.Tensor:
    return F.interpolate(grid, size=(n, n), mode="bicubic")


def wrong_resizes(
    pos_embed: torch.Tensor, new_grid: int
) -> dict[str, torch.Tensor]:
    """What the typical wrong resizes return, to name them."""
    n = new_grid
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, N, D)
    D, g = patches.shape[2], math.isqrt(patches.shape[1])
    rows_first = patches.reshape(1, g, g, D).permute(0, 3, 1, 2)  # (1,D,g,g)
    columns_first = patches.reshape(1, g, g, D).permute(0, 3, 2, 1)
    unpermuted = patches.reshape(1, D, g, g)  # numbers of all positions mixed

    def table(grid: torch.Tensor) -> torch.Tensor:  # (1, D, n, n) -> rows
        rows = grid.permute(0, 2, 3, 1).reshape(1, n * n, D)  # (1, n*n, D)
        return torch.cat([cls, rows], dim=1)

    sequence = pos_embed.transpose(1, 2)  # (1, D, 1 + g*g)
    interpolations: dict[str, dict[str, Any]] = {
        "bilinear interpolation (mode='bilinear'): the lesson's convention "
        "is bicubic, mode='bicubic'": {"mode": "bilinear"},
        "nearest-neighbour interpolation (mode='nearest'): the lesson's "
        "convention is bicubic, mode='bicubic'": {
            "mode": "nearest",
            "align_corners": None,
        },
        "align_corners=True: the lesson's convention (Hugging Face's) "
        "is align_corners=False, corners of cells, not their centres, "
        "line up": {"align_corners": True},
        "antialias=True (timm's default): the lesson's "
        "convention, Hugging Face's, is antialias=False": {"antialias": True},
    }
    wrong = {
        name: reference_resize(pos_embed, n, **changed)
        for name, changed in interpolations.items()
    }
    wrong |= {
        "the patch rows were reshaped straight to (1, D, g, g): without "
        "a permute the numbers of different positions land in one grid "
        "cell; reshape to (1, g, g, D), then permute(0, 3, 1, 2)": table(
            _resized(unpermuted, n)
        ),
        "the patch rows were reshaped to (1, D, g, g) and back to "
        "(1, n*n, D) without a permute: each reshape mixes the numbers of "
        "different positions; go through (1, g, g, D) with permute": (
            torch.cat(
                [cls, _resized(unpermuted, n).reshape(1, n * n, D)], dim=1
            )
        ),
        "the resized grid (1, D, n, n) was reshaped to (1, n*n, D) "
        "without a permute: bring D last with permute(0, 2, 3, 1) first": (
            torch.cat(
                [cls, _resized(rows_first, n).reshape(1, n * n, D)], dim=1
            )
        ),
        "the new grid is transposed (rows and columns swapped): permute "
        "(1, g, g, D) with (0, 3, 1, 2) and back with (0, 2, 3, 1)": table(
            _resized(columns_first, n)
        ),
        "the CLS row is at the end: keep it in front, row 0": torch.cat(
            [table(_resized(rows_first, n))[:, 1:], cls], dim=1
        ),
        "the whole table was resized as one sequence of rows, CLS row "
        "included: keep the CLS row as it is and resize only the patch "
        "rows, laid out on their g x g grid, in two dimensions": (
            F.interpolate(sequence, size=n * n + 1, mode="linear").transpose(
                1, 2
            )
        ),
    }
    return wrong


def _table_element(grid_side: int):
    def where(index: tuple[int, ...]) -> str:
        _, row, d = index
        if row == 0:
            return f"row 0 (the CLS token's), number {d}"
        cell = row - 1
        return (
            f"row {row} (grid cell {cell // grid_side}, "
            f"{cell % grid_side}), number {d}"
        )

    return where


def _table_shape_hint(got, g: int, n: int, D: int) -> str:
    if got == (1, n * n, D):
        return ": one row short, keep the CLS row (row 0) in front"
    if got == (1, g * g + 1, D):
        return f": that is the old {g}x{g} table, resize it to {n}x{n}"
    if got == (1, D, n, n):
        return (
            ": that is the resized grid; read it back as rows with "
            "permute(0, 2, 3, 1).reshape(1, n*n, D) and put the CLS row "
            "in front"
        )
    return ""


def _check_resize(resize_positions, g, n, D, hint="") -> None:
    pos_embed = torch.randn(1, g * g + 1, D)
    kept = pos_embed.clone()
    expected = reference_resize(pos_embed, n)
    call = f"resize_positions(pos_embed {(1, g * g + 1, D)}, {n})"
    wanted = (
        f"a table of shape {(1, n * n + 1, D)}: the CLS row, then the "
        f"{n}x{n} grid's rows"
    )
    end = f". {hint}" if hint else ""
    got = _call(
        "resize_positions",
        resize_positions,
        pos_embed,
        n,
        expected=wanted,
        hint=hint,
    )
    _unchanged(call, {"pos_embed": pos_embed}, {"pos_embed": kept})
    got = returned_tensor(call, got, wanted)
    mistake = shape_mistake(got.shape, expected.shape, TABLE_DIMS)
    if mistake:
        raise ExerciseError(
            f"{call} returned {mistake}"
            + _table_shape_hint(tuple(got.shape), g, n, D)
            + end
        )
    difference = first_difference(got, expected, _table_element(n), 1e-5)
    if difference is None:
        return
    for name, wrong in wrong_resizes(kept, n).items():
        if not _close(wrong, expected) and _close(got, wrong):
            raise ExerciseError(f"{call}: {name}{end}")
    if not torch.equal(got[:, 0], kept[:, 0]):
        raise ExerciseError(
            f"{call}: row 0 belongs to the CLS token, no grid position: keep "
            f"it as it is, pos_embed[:, :1]; {difference}{end}"
        )
    raise ExerciseError(
        f"{call} should lay the patch rows out on their {g}x{g} grid, "
        f"resize it bicubically to {n}x{n} (align_corners=False) and put "
        f"the CLS row in front; {difference}{end}"
    )


@seeded
def check_resize_positions(
    resize_positions: Callable, *, draw: random.Random
) -> None:
    """Check ``resize_positions(pos_embed, new_grid)``: a (1, 1 + g*g, D)
    table resized to a new_grid x new_grid grid, the CLS row kept; on
    ViT-S/16's table (14 x 14 positions of width 384) resized for 384 x 384
    and for 96 x 96 images, then on grids and widths drawn for this run."""
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        for n, pixels in ((24, 384), (6, 96)):
            _check_resize(resize_positions, 14, n, 384)
            print(
                f"✓ resize_positions: 14x14 -> {n}x{n} ({pixels}x{pixels} "
                "images), CLS row kept"
            )
        for smaller in (True, False):
            g, n = draw.sample(range(3, 11), 2)
            g, n = (
                (max(g, n), min(g, n)) if smaller else (min(g, n), max(g, n))
            )
            D = draw.choice([4, 6, 10, 16])
            settings = f"a {g}x{g} table of width {D} resized to {n}x{n}"
            _check_resize(resize_positions, g, n, D, _drawn_note(settings))
    print("✓ resize_positions: also right on 2 drawn grids (larger, smaller)")
