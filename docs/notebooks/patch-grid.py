# ---
# jupyter:
#   exercise_minutes: 7
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise: the patch grid of a photograph
#
# Cut the lesson's photograph into its grid of patches yourself, refuse a
# patch size that does not tile it, and draw the grid: the first thing a
# Vision Transformer does to an image.
#
# In [part 1](../../lessons/patches/) the package's `patchify` cut the
# patches for you; here you write the cut, and see that your grid, read in
# raster order, is exactly its sequence of tokens.
#
# **How to work through it.** Each task has a **TODO** cell for your code,
# then a **check** from `vitlesson.exercises` that runs *your* code: it
# prints ✓ lines, or stops and says what is wrong. Each check runs your code
# on the lesson's photograph, then on crops and patch sizes it draws when it
# runs: read every size from the inputs, never write it as a number. While
# a check runs, the package's own `patchify` and its patch figures refuse to
# work, so nothing can stand in for your code. The solutions are folded
# under each TODO on the course page and come as a separate download.

# %%
# %matplotlib inline
# %config InlineBackend.figure_formats = ["jpeg"]
import matplotlib.pyplot as plt
import torch

import vitlesson
from vitlesson import exercises
from vitlesson.data.images import sample_image

photo = sample_image(224)  # (3, 224, 224), values in [0, 1]
print(photo.shape)

# %% [markdown]
# ## Task 1: cut the grid
#
# Write `patch_grid(image, patch_size)` that turns one image `(C, H, W)`
# into the stack of its patches `(H/P, W/P, C, P, P)`: the patch at grid row
# `r`, column `c` is the square `image[:, r*P:(r+1)*P, c*P:(c+1)*P]`, its
# channels first as in the image.
#
# If $P$ does not divide $H$ and $W$, a patch would hang over the edge.
# Cutting the leftover pixels off silently hides the problem, so raise a
# `ValueError` that names the image size and the patch size instead, as the
# package does: `Image size (230*224) is not divisible by patch size 16`.
#
# Hint: `reshape` to `(C, H/P, P, W/P, P)` (which patch, where inside it,
# for each side), then `permute` the two patch indices to the front.


# %% tags=["exercise"]
def patch_grid(image, patch_size):
    # TODO: (C, H, W) -> (H/P, W/P, C, P, P); refuse sizes P does not tile
    raise NotImplementedError("write patch_grid")


# %% tags=["solution"]
def patch_grid(image, patch_size):
    C, H, W = image.shape
    P = patch_size
    if H % P or W % P:
        raise ValueError(
            f"Image size ({H}*{W}) is not divisible by patch size {P}"
        )
    x = image.reshape(C, H // P, P, W // P, P)  # (C, rows, P, cols, P)
    return x.permute(1, 3, 0, 2, 4)  # (rows, cols, C, P, P)


# %%
exercises.check_patch_grid(patch_grid)

# %% [markdown]
# Read the grid row by row, left to right (**raster order**), and flatten
# each patch: that is the sequence of tokens that `vitlesson.patchify` made
# in part 1, number for number.

# %%
grid = patch_grid(photo, 16)  # (14, 14, 3, 16, 16)
tokens = grid.flatten(0, 1).flatten(1)  # (196, 768): rows, then columns
same = torch.equal(tokens, vitlesson.patchify(photo[None], 16)[0])
print(tuple(grid.shape), "->", tuple(tokens.shape), "same as patchify:", same)

# %% [markdown]
# ## Task 2: draw the grid
#
# Write `show_patches(patches)` that draws a `(rows, cols, C, P, P)` stack as
# a grid of small pictures and returns the matplotlib `Figure`: make `rows ×
# cols` axes with `plt.subplots(rows, cols, squeeze=False)` and show patch
# `[r, c]` in the axes at row `r`, column `c`. `imshow` takes an image as
# a `(height, width, channels)` array, so move the channels last with
# `permute(1, 2, 0)` and hand it over with `.numpy()`; `ax.set_axis_off()`
# hides the ticks. Return the figure; do not call `plt.show()`.


# %% tags=["exercise"]
def show_patches(patches):
    # TODO: a rows x cols grid of axes, patch [r, c] at row r, column c
    raise NotImplementedError("write show_patches")


# %% tags=["solution"]
def show_patches(patches):
    rows, cols = patches.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(5, 5), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            axes[r, c].imshow(patches[r, c].permute(1, 2, 0).numpy())
            axes[r, c].set_axis_off()
    return fig


# %%
exercises.check_show_patches(show_patches)

# %% [markdown]
# The photograph in 32-pixel patches, a 7×7 grid of 49 tokens:

# %%
fig = show_patches(patch_grid(photo, 32))

# %% [markdown]
# **Your turn.** Draw the grid of 16-pixel patches: which patches hold an
# eye? With 8-pixel patches the grid has 784 of them; how long does
# `show_patches` take then, and why is a mosaic (one image with gaps, as
# the figures of part 1 draw it) the better way to show that many?
