# ---
# jupyter:
#   exercise_minutes: 6
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise: the CLS token, the positions, and a new grid
#
# You write the last step of ViT's embedding: the CLS token put in front
# of the patch tokens and a position vector added to every token. Then you
# resize a learned position table to another grid, so that the same model
# reads images of another size.
#
# Both come from [part 3](../../lessons/positions-and-cls/), which builds
# the position table and the CLS token.
#
# **How to work through it.** Each task has a **TODO** cell for your code,
# then a **check** from `vitlesson.exercises` that runs *your* code: it
# prints ✓ lines, or stops and says what is wrong. Each check runs your
# code on the lesson's sizes, then on sizes it draws when it runs (other
# batches, token counts, widths and grids): read every size from the
# inputs. While a check runs, the package's own embedding layers and its
# `resample_position_embedding` refuse to work, so nothing can stand in for
# your code. The solutions are folded under each TODO on the course page
# and come as a separate download.

# %%
import torch
import torch.nn.functional as F

from vitlesson import exercises

torch.manual_seed(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Task 1: the CLS token in front, the positions added
#
# Write `add_cls_and_positions(tokens, cls_token, pos_embed)`:
#
# - `tokens`: the patch tokens of a batch, shape `(B, N, D)`;
# - `cls_token`: one learned vector, shape `(1, 1, D)`, the same for
#   every image;
# - `pos_embed`: the position table, shape `(1, N+1, D)`: row 0 is the CLS
#   token's, rows 1..N the patches' in raster order.
#
# Return the sequence `(B, N+1, D)`: the CLS token first in every image,
# then the patches, with row $i$ of the table added to token $i$. Do not
# change the tensors you are given (no `+=`): the caller still needs them.
#
# Hint: `cls_token.expand(B, -1, -1)` gives every image the CLS token
# without copying it; `torch.cat(..., dim=1)` joins along the tokens.


# %% tags=["exercise"]
def add_cls_and_positions(tokens, cls_token, pos_embed):
    # TODO: (B, N, D) -> (B, N+1, D), CLS token first, positions added
    raise NotImplementedError("write add_cls_and_positions")


# %% tags=["solution"]
def add_cls_and_positions(tokens, cls_token, pos_embed):
    cls = cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
    sequence = torch.cat([cls, tokens], dim=1)  # (B, N+1, D)
    return sequence + pos_embed  # row i of the table to token i


# %%
exercises.check_cls_and_positions(add_cls_and_positions)

# %% [markdown]
# ## Task 2: the position table on another grid
#
# A ViT-S/16 trained on 224×224 images has a table of $1 + 14 \cdot 14$
# rows. A 384×384 image has a 24×24 grid, DINO's 96×96 local crops a 6×6
# one. Write `resize_positions(pos_embed, new_grid)` that turns a table
# `(1, 1 + g·g, D)` into `(1, 1 + new_grid·new_grid, D)`:
#
# - keep row 0, the CLS token's, as it is: it has no place on the grid;
# - lay the other $N$ rows out on their $g \times g$ grid as an image with
#   $D$ channels, shape `(1, D, g, g)`, with $g = \sqrt{N}$ and $N$ read
#   from the table (`pos_embed.shape[1] - 1`);
# - resize that image with
#   `F.interpolate(..., size=(new_grid, new_grid), mode="bicubic",
#   align_corners=False)`, the convention of Hugging Face and of the
#   package;
# - read it back as rows, `(1, new_grid·new_grid, D)`, and put the CLS row
#   in front.
#
# Hint: the rows are in raster order, so reshape them to `(1, g, g, D)`
# first, then move $D$ to dimension 1 with `permute(0, 3, 1, 2)`; undo
# both steps on the way back.


# %% tags=["exercise"]
def resize_positions(pos_embed, new_grid):
    # TODO: (1, 1 + g*g, D) -> (1, 1 + new_grid**2, D), CLS row kept
    raise NotImplementedError("write resize_positions")


# %% tags=["solution"]
def resize_positions(pos_embed, new_grid):
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]  # (1,1,D), (1,N,D)
    D, g = patches.shape[2], round(patches.shape[1] ** 0.5)
    grid = patches.reshape(1, g, g, D).permute(0, 3, 1, 2)  # (1, D, g, g)
    grid = F.interpolate(
        grid,
        size=(new_grid, new_grid),
        mode="bicubic",
        align_corners=False,
    )  # (1, D, new_grid, new_grid)
    patches = grid.permute(0, 2, 3, 1).reshape(1, new_grid**2, D)
    return torch.cat([cls, patches], dim=1)  # (1, 1 + new_grid**2, D)


# %%
exercises.check_resize_positions(resize_positions)

# %% [markdown]
# **Your turn.** Resize a random table from 14×14 to 28×28 and back to
# 14×14 with your function. Does it come back unchanged? Measure how far
# off it is, relative to the table's own size (`torch.linalg.norm`).
