# ---
# jupyter:
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
# *Lesson 1.2, hands-on.* You will build the patch embedding of a Vision Transformer twice,
# by hand (cut patches, then `nn.Linear`) and as a convolution, prove that the two compute the
# same tokens, and compare the configurations of the lesson: patch sizes 8, 16 and 32 on
# 224×224 images, and 16 on 384×384.
#
# **How to work through it.** Each task has a **TODO** cell for your code, then a
# **solution** cell (folded on the course site; skip it, or delete it, when you run the
# notebook yourself), then a **check** from `vitlesson.exercises` that either prints ✓ lines
# or tells you exactly what is wrong. As shipped, the notebook runs end to end with the
# solutions: that is what the site build and the tests execute.
#
# Reminder: an image of $H \times W$ pixels with $C$ channels and patch size $P$ gives
# $N = HW/P^2$ patches of $C P^2$ numbers each.

# %%
# %matplotlib inline
# %config InlineBackend.figure_formats = ["jpeg"]  # photographs: a fraction of the size of a PNG
import torch
import torch.nn as nn
import torch.utils.benchmark as benchmark

from vitlesson import exercises
from vitlesson.images import normalize, sample_image
from vitlesson.plots import patch_sizes_figure

torch.manual_seed(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Task 1: cut images into patches
#
# Write `manual_patching(images, patch_size)` that turns a batch `(B, C, H, W)` into
# `(B, N, C·P·P)`:
#
# - tokens in **raster order**: left to right along the top row of patches, then the next row;
# - each patch flattened **channel first**, then patch row, then patch column: the order of a
#   `Conv2d` weight flattened with `weight.flatten(1)`.
#
# Hint: `reshape` to `(B, C, H/P, P, W/P, P)`, `permute`, `reshape` again.

# %% tags=["exercise"]
def manual_patching(images, patch_size):
    # TODO: (B, C, H, W) -> (B, N, C*P*P)
    raise NotImplementedError("write manual_patching")


# %% tags=["solution"]
def manual_patching(images, patch_size):
    batch, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    x = images.reshape(batch, channels, rows, patch_size, cols, patch_size)  # (B, C, H/P, P, W/P, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(batch, rows * cols, channels * patch_size * patch_size)  # (B, N, C*P*P)


# %%
exercises.check_manual_patching(manual_patching)

# %% [markdown]
# ## Task 2: the linear form of a convolution
#
# A `Conv2d(C, D, kernel_size=P, stride=P)` applies one $D \times C P^2$ matrix to every patch.
# Write `linear_from_conv(conv)` returning an `nn.Linear` with the convolution's weights, so
# that `linear(manual_patching(x, P))` equals the convolution's tokens.

# %% tags=["exercise"]
def linear_from_conv(conv):
    # TODO: build nn.Linear(C*P*P, D) and copy conv.weight and conv.bias into it
    raise NotImplementedError("write linear_from_conv")


# %% tags=["solution"]
def linear_from_conv(conv):
    out_channels = conv.weight.shape[0]
    linear = nn.Linear(conv.weight[0].numel(), out_channels)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.flatten(1))  # (D, C, P, P) -> (D, C*P*P)
        linear.bias.copy_(conv.bias)
    return linear


# %%
exercises.check_linear_from_conv(linear_from_conv)

# %% [markdown]
# ## Task 3: the configurations table
#
# Write `configuration_table(configs, embed_dim)` returning, for each `(img_size, patch_size)`,
# a dict with the number of tokens `n_patches`, the flattened patch length `patch_dim` and the
# parameter count `params` of the projection (weights and bias).

# %% tags=["exercise"]
def configuration_table(configs, embed_dim):
    # TODO: one dict per configuration with "n_patches", "patch_dim" and "params"
    raise NotImplementedError("write configuration_table")


# %% tags=["solution"]
def configuration_table(configs, embed_dim):
    rows = []
    for img_size, patch_size in configs:
        patch_dim = 3 * patch_size * patch_size
        rows.append({
            "config": f"{img_size}/{patch_size}",
            "n_patches": (img_size // patch_size) ** 2,
            "patch_dim": patch_dim,
            "params": patch_dim * embed_dim + embed_dim,
        })
    return rows


# %%
exercises.check_configuration_table(configuration_table)

# %% [markdown]
# ## Visualise the configurations
#
# The same photograph under each configuration, with the token count each one produces:

# %%
patch_sizes_figure()

# %% [markdown]
# ## Compare the cost, measured properly
#
# One `time.time()` around one call measures noise: the first call pays for memory
# allocation and library warm-up, and a single reading says nothing about variance. We use
# `torch.utils.benchmark`, which warms up, repeats until the measurement is stable, and
# reports the median. Both forms do exactly the same arithmetic,
# $N \cdot D \cdot C P^2$ multiply-adds per image; any difference in time comes from how the
# library executes it on your machine.

# %%
results = []
for row in configuration_table(exercises.CONFIGURATIONS, 768):
    img_size, patch_size = map(int, row["config"].split("/"))
    images = normalize(sample_image(img_size))[None]  # (1, 3, img_size, img_size)
    conv = nn.Conv2d(3, 768, kernel_size=patch_size, stride=patch_size)
    linear = linear_from_conv(conv)
    for label, statement in [
        ("conv", "conv(images)"),
        ("reshape + linear", "linear(manual_patching(images, patch_size))"),
    ]:
        timer = benchmark.Timer(
            stmt=f"with torch.no_grad(): {statement}",
            globals=dict(torch=torch, conv=conv, linear=linear, images=images,
                         manual_patching=manual_patching, patch_size=patch_size),
            label="patch embedding", sub_label=row["config"], description=label, num_threads=2,
        )
        results.append(timer.blocked_autorange(min_run_time=0.2))
benchmark.Compare(results).print()

# %% [markdown]
# **Your turn.** Which form is faster on your machine, and by how much for each
# configuration? Does the ratio change with the patch size? The course's performance page
# explains what limits each form.
