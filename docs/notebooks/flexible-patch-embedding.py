# ---
# jupyter:
#   exercise_minutes: 17
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise: a flexible patch embedding
#
# You build the patch embedding of a Vision
# Transformer in both of its forms, by hand (cut patches, then `nn.Linear`)
# and as a convolution, prove that they compute the same tokens, and compare
# the lesson's configurations: patch sizes 8, 16 and 32 on 224×224 images,
# and 16 on 384×384.
#
# **How to work through it.** Each task has a **TODO** cell for your code,
# then a **check** from `vitlesson.exercises` that runs *your* code: it
# prints ✓ lines, or stops and says what is wrong. Each check runs your
# code on the lesson's sizes, then on sizes it draws when it runs (other
# batches, channel counts, image sizes and widths): read every size from the
# inputs, never write it as a number. The notebook you download from the
# course page has no solutions, and while a check runs the package's own
# `patchify` and patch embeddings refuse to work, so nothing can stand in
# for your code. The solutions are folded under each TODO on the course page
# (which shows the notebook run by the site build, solutions in place) and
# come as a separate download.
#
# Reminder from [part 1](../../lessons/patches/): an image of $H \times W$
# pixels with $C$ channels and patch size $P$ gives $N = HW/P^2$ patches of
# $C P^2$ numbers each.

# %%
# %matplotlib inline
# %config InlineBackend.figure_formats = ["jpeg"]
import torch
import torch.nn as nn
import torch.utils.benchmark as benchmark

from vitlesson import exercises
from vitlesson.data.images import normalize, sample_image
from vitlesson.figures.plots import patch_sizes_figure

torch.manual_seed(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Task 1: cut images into patches
#
# Write `manual_patching(images, patch_size)` that turns a batch
# `(B, C, H, W)` into `(B, N, C·P·P)`:
#
# - tokens in **raster order**: left to right along the top row of patches,
#   then the next row;
# - each patch flattened **channel first**, then patch row, then patch
#   column: the order of a `Conv2d` weight flattened with `weight.flatten(1)`.
#
# Hint: `reshape` to `(B, C, H/P, P, W/P, P)`, `permute`, `reshape` again.
# Part 1's exercise cut this grid for one image: here it gains a batch
# dimension and is read in raster order.


# %% tags=["exercise"]
def manual_patching(images, patch_size):
    # TODO: (B, C, H, W) -> (B, N, C*P*P)
    raise NotImplementedError("write manual_patching")


# %% tags=["solution"]
def manual_patching(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    rows, cols = H // P, W // P
    x = images.reshape(B, C, rows, P, cols, P)  # (B,C,H/P,P,W/P,P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(B, rows * cols, C * P * P)  # (B, N, C*P*P)


# %%
exercises.check_manual_patching(manual_patching)

# %% [markdown]
# ## Task 2: the class, in both forms
#
# Write `FlexiblePatchEmbedding(img_size, patch_size, in_channels, embed_dim,
# flatten_patches)`, an `nn.Module` with
#
# - attributes `n_patches` ($N$) and `patch_dim` ($C P^2$);
# - `self.projection`: an `nn.Linear(C·P·P, D)` when `flatten_patches` is
#   true, else an `nn.Conv2d(C, D, kernel_size=P, stride=P)`;
# - `forward(images)` returning tokens `(B, N, D)` in both forms: your
#   `manual_patching` then the linear layer, or the convolution then a
#   reshape of its `(B, D, H/P, W/P)` output.
#
# The check builds your class in both forms and compares each form's tokens
# with its own computation from the form's weights: the patches times
# `W.T` plus `b`, where `W` is `self.projection.weight` (a convolution's
# flattened with `.flatten(1)`, the patches' channel-first order) and `b` its
# bias. Both forms compute that one product, so with the same weights they
# give the same tokens.


# %% tags=["exercise"]
class FlexiblePatchEmbedding(nn.Module):
    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        flatten_patches=True,
    ):
        super().__init__()
        # TODO: n_patches, patch_dim and self.projection
        raise NotImplementedError("write FlexiblePatchEmbedding")

    def forward(self, images):
        # TODO: (B, C, H, W) -> (B, N, D) in both forms
        raise NotImplementedError


# %% tags=["solution"]
class FlexiblePatchEmbedding(nn.Module):
    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        flatten_patches=True,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.flatten_patches = flatten_patches
        self.n_patches = (img_size // patch_size) ** 2
        self.patch_dim = in_channels * patch_size * patch_size
        if flatten_patches:
            self.projection = nn.Linear(self.patch_dim, embed_dim)
        else:
            self.projection = nn.Conv2d(
                in_channels,
                embed_dim,
                kernel_size=patch_size,
                stride=patch_size,
            )

    def forward(self, images):
        if self.flatten_patches:
            patches = manual_patching(images, self.patch_size)
            return self.projection(patches)  # (B, N, D)
        x = self.projection(images)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


# %%
exercises.check_flexible_patch_embedding(FlexiblePatchEmbedding)

# %% [markdown]
# ## Task 3: the configurations table
#
# Write `configuration_table(configs, embed_dim)` returning, for each
# `(img_size, patch_size)`, a dict with the number of tokens `n_patches`, the
# flattened patch length `patch_dim` and the parameter count `params` of the
# projection (weights and bias), read from your class.


# %% tags=["exercise"]
def configuration_table(configs, embed_dim):
    # TODO: one dict per configuration, with the keys
    # "n_patches", "patch_dim" and "params"
    raise NotImplementedError("write configuration_table")


# %% tags=["solution"]
def configuration_table(configs, embed_dim):
    rows = []
    for img_size, patch_size in configs:
        layer = FlexiblePatchEmbedding(
            img_size, patch_size, embed_dim=embed_dim
        )
        rows.append(
            {
                "config": f"{img_size}/{patch_size}",
                "n_patches": layer.n_patches,
                "patch_dim": layer.patch_dim,
                "params": sum(p.numel() for p in layer.parameters()),
            }
        )
    return rows


# %%
exercises.check_configuration_table(configuration_table)

# %% [markdown]
# ## See the configurations
#
# The same photograph under each configuration, with the token count each
# one produces:

# %%
patch_sizes_figure()

# %% [markdown]
# ## Compare the cost, measured properly
#
# One `time.time()` around one call measures noise (the first call pays for
# allocation and warm-up). `torch.utils.benchmark` warms up, repeats in blocks
# until `min_run_time` has passed, and reports the median. Both forms do the
# same arithmetic, $N \cdot D \cdot C P^2$ multiply-adds per image; which is
# faster depends on the machine (the convolution runs in oneDNN). On the course
# site, the table below is what the build machine measured while it built
# other pages, not a benchmark: run the cell to measure yours.

# %%
results = []
for img_size, patch_size in exercises.CONFIGURATIONS:
    images = normalize(sample_image(img_size))[None]  # (1, 3, H, W)
    forms = [("conv", False), ("reshape + linear", True)]
    for label, flatten in forms:
        layer = FlexiblePatchEmbedding(
            img_size, patch_size, flatten_patches=flatten
        )
        timer = benchmark.Timer(
            stmt="with torch.no_grad(): layer(images)",
            globals={"torch": torch, "layer": layer, "images": images},
            label="patch embedding",
            sub_label=f"{img_size}/{patch_size}",
            description=label,
            num_threads=2,
        )
        results.append(timer.blocked_autorange(min_run_time=0.2))
benchmark.Compare(results).print()

# %% [markdown]
# **Your turn.** Which form is faster on your machine, and by how much for
# each configuration? Does the ratio change with the patch size? The course's
# [Performance page](../../performance/) measures both against a plain matrix
# product of the same shape and explains what limits each form.
