"""Learners' answers to part 3's exercise, right and wrong.

Each corpus maps a mistake to the answer that makes it and a phrase (a
regular expression) the check's message must contain to name it; the right
answers are other correct formulations than the published solutions."""

import math

import numpy as np
import torch
import torch.nn.functional as F

import vitlesson
from vitlesson.position import resample_position_embedding

# --- Task 1: add_cls_and_positions ------------------------------------------


def add_cls_and_positions(tokens, cls_token, pos_embed):
    """The published solution."""
    cls = cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
    return torch.cat([cls, tokens], dim=1) + pos_embed  # (B, N+1, D)


def cls_at_the_end(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([tokens, cls], dim=1) + pos_embed


def positions_before_the_cls(tokens, cls_token, pos_embed):
    tokens = tokens + pos_embed[:, : tokens.shape[1]]
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens], dim=1)


def cls_without_position(tokens, cls_token, pos_embed):
    tokens = tokens + pos_embed[:, 1:]
    return torch.cat([cls_token.expand(len(tokens), -1, -1), tokens], dim=1)


def cls_gets_the_last_row(tokens, cls_token, pos_embed):
    N = tokens.shape[1]
    cls = cls_token.expand(tokens.shape[0], -1, -1) + pos_embed[:, N:]
    return torch.cat([cls, tokens + pos_embed[:, :N]], dim=1)


def cls_not_expanded(tokens, cls_token, pos_embed):
    return torch.cat([cls_token, tokens], dim=1) + pos_embed


def positions_of_the_patches_only(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens], dim=1) + pos_embed[:, 1:]


def cls_token_changed_in_place(tokens, cls_token, pos_embed):
    cls_token += pos_embed[:, :1]
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens + pos_embed[:, 1:]], dim=1)


def tokens_changed_in_place(tokens, cls_token, pos_embed):
    tokens += pos_embed[:, 1:]
    cls = cls_token.expand(tokens.shape[0], -1, -1) + pos_embed[:, :1]
    return torch.cat([cls, tokens], dim=1)


def expanded_cls_changed_in_place(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    cls += pos_embed[:, :1]
    return torch.cat([cls, tokens + pos_embed[:, 1:]], dim=1)


def cls_row_twice(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1) + pos_embed[:, :1]
    return torch.cat([cls, tokens], dim=1) + pos_embed


def no_positions(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens], dim=1)


def positions_multiplied(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens], dim=1) * pos_embed


def batch_2_written(tokens, cls_token, pos_embed):
    return torch.cat([cls_token.expand(2, -1, -1), tokens], dim=1) + pos_embed


def width_768_written(tokens, cls_token, pos_embed):
    cls = cls_token.reshape(1, 1, 768).expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens], dim=1) + pos_embed


def with_dropout(tokens, cls_token, pos_embed):
    return F.dropout(add_cls_and_positions(tokens, cls_token, pos_embed), 0.1)


def cls_missing(tokens, cls_token, pos_embed):
    return tokens + pos_embed[:, 1:]


def the_packages_embedding(tokens, cls_token, pos_embed):
    N, D = tokens.shape[1:]
    positions = vitlesson.PositionalEmbedding(N, D, dropout=0.0)
    cls = cls_token.expand(tokens.shape[0], -1, -1)
    return positions(torch.cat([cls, tokens], dim=1))


def without_return(tokens, cls_token, pos_embed):
    add_cls_and_positions(tokens, cls_token, pos_embed)


SEQUENCE_MISTAKES = {
    "CLS at the end": (cls_at_the_end, "the CLS token is at the end"),
    "positions added before the CLS token": (
        positions_before_the_cls,
        "the positions were added before the CLS token was put in front: "
        "the patches got rows 0..N-1",
    ),
    "CLS without a position": (
        cls_without_position,
        "the CLS token got no position: row 0 of pos_embed is its own",
    ),
    "CLS given the last row": (
        cls_gets_the_last_row,
        "the patches got rows 0..N-1 of pos_embed and the CLS token row N",
    ),
    "CLS not expanded over the batch": (
        cls_not_expanded,
        r"raised RuntimeError: Sizes of tensors must match.*: torch.cat "
        r"needs the CLS token once per image: expand cls_token",
    ),
    "positions of size N": (
        positions_of_the_patches_only,
        r"The size of tensor a \(197\) must match the size of tensor b "
        r"\(196\).*: pos_embed has N\+1 rows",
    ),
    "the shared CLS token changed in place": (
        cls_token_changed_in_place,
        "changed its argument cls_token in place",
    ),
    "the tokens changed in place": (
        tokens_changed_in_place,
        "changed its argument tokens in place",
    ),
    "the expanded CLS token changed in place": (
        expanded_cls_changed_in_place,
        "an in-place operation on the expanded CLS token: expand",
    ),
    "row 0 added twice": (
        cls_row_twice,
        "row 0 of pos_embed was added twice to the CLS token",
    ),
    "no positions": (no_positions, "no positions were added"),
    "positions multiplied": (
        positions_multiplied,
        "the positions multiply the tokens: they are added",
    ),
    "batch 2 written": (
        batch_2_written,
        "expand cls_token .*It passed with the lesson's settings; this run "
        "drew batch [134]",
    ),
    "width 768 written": (
        width_768_written,
        "It passed with the lesson's settings; this run drew batch",
    ),
    "dropout on": (with_dropout, "is dropout on"),
    "CLS token missing": (
        cls_missing,
        r"dimension 1 \(tokens N\+1\) should be 197, got 196.*one token "
        "short, the CLS token is missing",
    ),
    "the package's PositionalEmbedding": (
        the_packages_embedding,
        "your code called vitlesson.PositionalEmbedding, the package's "
        "solution: write it yourself",
    ),
    "a forgotten return": (without_return, "returned None: did you forget"),
    "a NumPy array": (
        lambda *a: add_cls_and_positions(*a).numpy(),
        "returned a ndarray object, not a torch.Tensor",
    ),
    "nothing passed": (None, "should be your function or class, got None"),
}


def by_repeat(tokens, cls_token, pos_embed):
    cls = cls_token.repeat(tokens.shape[0], 1, 1)  # (B, 1, D), a copy
    return torch.cat([cls, tokens], dim=1) + pos_embed


def positions_first_then_cls(tokens, cls_token, pos_embed):
    cls = cls_token + pos_embed[:, :1]  # (1, 1, D)
    tokens = tokens + pos_embed[:, 1:]  # (B, N, D)
    return torch.cat([cls.expand(len(tokens), -1, -1), tokens], dim=1)


def into_a_new_tensor(tokens, cls_token, pos_embed):
    B, N, D = tokens.shape
    sequence = tokens.new_empty(B, N + 1, D)
    sequence[:, 0] = cls_token[:, 0]  # broadcast over the batch
    sequence[:, 1:] = tokens
    return sequence + pos_embed


RIGHT_SEQUENCES = {
    "the published solution": add_cls_and_positions,
    "repeat instead of expand": by_repeat,
    "positions added first, each to its own row": positions_first_then_cls,
    "slices of a new tensor": into_a_new_tensor,
}


# --- Task 2: resize_positions -----------------------------------------------


def resize_with(
    *,
    mode="bicubic",
    align_corners=False,
    antialias=False,
    permute_in=(0, 3, 1, 2),
    permute_out=(0, 2, 3, 1),
    side=lambda rows: math.isqrt(rows - 1),
    grid_rows=lambda pos: pos[:, 1:],
    cls_row=lambda pos: pos[:, :1],
    cls_first=True,
):
    """The published resize, one part of it swapped for a mistake: the
    interpolation's settings, the permutes into and out of the grid
    (``None``: a plain reshape), the grid's side from the table's rows,
    the rows laid on the grid, the CLS row and where it goes."""

    def resize_positions(pos_embed, new_grid):
        D, n = pos_embed.shape[2], new_grid
        g = side(pos_embed.shape[1])
        rows = grid_rows(pos_embed)
        if permute_in:
            grid = rows.reshape(1, g, g, D).permute(*permute_in)
        else:
            grid = rows.reshape(1, D, g, g)
        grid = F.interpolate(
            grid,
            size=(n, n),
            mode=mode,
            align_corners=align_corners,
            antialias=antialias,
        )
        if permute_out:
            rows = grid.permute(*permute_out).reshape(1, n * n, D)
        else:
            rows = grid.reshape(1, n * n, D)
        cls = cls_row(pos_embed)
        parts = [cls, rows] if cls_first else [rows, cls]
        return torch.cat(parts, dim=1)

    return resize_positions


resize_positions = resize_with()


def as_one_sequence(pos_embed, new_grid):
    resized = F.interpolate(
        pos_embed.transpose(1, 2), size=new_grid**2 + 1, mode="linear"
    )
    return resized.transpose(1, 2)


def squeezed_in_place(pos_embed, new_grid):
    pos_embed.squeeze_(0)  # (N+1, D)
    return resize_positions(pos_embed[None], new_grid)


def resized_grid_returned(pos_embed, new_grid):
    D, g = pos_embed.shape[2], math.isqrt(pos_embed.shape[1] - 1)
    grid = pos_embed[:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
    return F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic")


def cls_row_dropped(pos_embed, new_grid):
    return resize_positions(pos_embed, new_grid)[:, 1:]


def cls_row_zeroed(pos_embed, new_grid):
    table = resize_positions(pos_embed, new_grid)
    return torch.cat([torch.zeros_like(table[:, :1]), table[:, 1:]], dim=1)


RESIZE_MISTAKES = {
    "bilinear": (
        resize_with(mode="bilinear"),
        r"bilinear interpolation \(mode='bilinear'\)",
    ),
    "nearest": (
        resize_with(mode="nearest", align_corners=None),
        "nearest-neighbour interpolation",
    ),
    "align_corners=True": (
        resize_with(align_corners=True),
        "align_corners=True: the lesson's convention",
    ),
    "antialias=True": (
        resize_with(antialias=True),
        r"antialias=True \(timm's default\): the lesson's convention",
    ),
    "reshaped to (D, g, g) without a permute": (
        resize_with(permute_in=None),
        r"reshaped straight to \(1, D, g, g\)",
    ),
    "no permute either way": (
        resize_with(permute_in=None, permute_out=None),
        r"reshaped to \(1, D, g, g\) and back to \(1, n\*n, D\) without",
    ),
    "no permute back": (
        resize_with(permute_out=None),
        r"the resized grid \(1, D, n, n\) was reshaped to \(1, n\*n, D\) "
        "without a permute",
    ),
    "a transposed grid": (
        resize_with(permute_in=(0, 3, 2, 1)),
        r"the new grid is transposed \(rows and columns swapped\)",
    ),
    "the CLS row resized with the grid, as one sequence": (
        as_one_sequence,
        "resized as one sequence of rows, CLS row included",
    ),
    "the CLS row at the end": (
        resize_with(cls_first=False),
        "the CLS row is at the end",
    ),
    "the CLS row dropped": (
        cls_row_dropped,
        "one row short, keep the CLS row",
    ),
    "the CLS row zeroed": (
        cls_row_zeroed,
        "row 0 belongs to the CLS token, no grid position: keep it",
    ),
    "the last row taken for the CLS row": (
        resize_with(
            grid_rows=lambda pos: pos[:, :-1], cls_row=lambda pos: pos[:, -1:]
        ),
        "row 0 belongs to the CLS token",
    ),
    "the side from N+1, rounded up": (
        resize_with(side=lambda rows: math.ceil(math.sqrt(rows))),
        "is invalid for input of size .*: the old grid's side g is the "
        "square root of the number of patch rows",
    ),
    "the CLS row laid on the grid": (
        resize_with(grid_rows=lambda pos: pos),
        "is invalid for input of size .*the CLS row is no grid position",
    ),
    "14 written": (
        resize_with(side=lambda rows: 14),
        "It passed with the lesson's settings; this run drew a",
    ),
    "pos_embed squeezed in place": (
        squeezed_in_place,
        "changed its argument pos_embed in place",
    ),
    "the grid returned": (
        resized_grid_returned,
        r"returned shape \(1, 384, 24, 24\).*that is the resized grid",
    ),
    "the table returned unresized": (
        lambda pos, n: pos.clone(),
        "that is the old 14x14 table, resize it to 24x24",
    ),
    "the package's resample_position_embedding": (
        lambda pos, n: resample_position_embedding(pos, n),
        "your code called vitlesson.resample_position_embedding",
    ),
    "a NumPy array": (
        lambda pos, n: np.zeros((1, n * n + 1, pos.shape[2])),
        "returned a ndarray object",
    ),
}


def by_transpose(pos_embed, new_grid):
    cls, rows = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, N, D)
    D, g = rows.shape[2], round(rows.shape[1] ** 0.5)
    grid = rows.transpose(1, 2).reshape(1, D, g, g)  # (1, D, g, g)
    grid = F.interpolate(grid, size=new_grid, mode="bicubic")
    return torch.cat([cls, grid.flatten(2).transpose(1, 2)], dim=1)


def by_unflatten(pos_embed, new_grid):
    cls, rows = pos_embed.split([1, pos_embed.shape[1] - 1], dim=1)
    g = math.isqrt(rows.shape[1])
    grid = rows.unflatten(1, (g, g)).movedim(-1, 1)  # (1, D, g, g)
    grid = F.interpolate(
        grid, (new_grid, new_grid), mode="bicubic", align_corners=False
    )
    return torch.cat([cls, grid.movedim(1, -1).flatten(1, 2)], dim=1)


RIGHT_RESIZES = {
    "the published solution": resize_positions,
    "transpose and flatten": by_transpose,
    "unflatten and movedim": by_unflatten,
    "rows and columns both swapped, twice": resize_with(
        permute_in=(0, 3, 2, 1), permute_out=(0, 3, 2, 1)
    ),
}
