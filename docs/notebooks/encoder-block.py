# ---
# jupyter:
#   exercise_minutes: 8
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise: a pre-norm encoder block
#
# You write the block that a Vision Transformer stacks 12 times:
# multi-head self-attention and an MLP, each reading a LayerNorm'd copy of
# the tokens and added back to them.
#
# [Part 5](../../lessons/vit-encoder/) draws the block and shows the
# package's; [part 2](../../lessons/attention/) builds the attention, and
# its exercise's `attention`, `split_heads` and `merge_heads` are most of
# this block's attention: copy them in.
#
# **How to work through it.** The TODO cell is for your code; the
# **check** from `vitlesson.exercises` below it builds *your* class, fills
# its layers with numbers it draws, and compares your block's output with
# its own computation from the same numbers: it prints ✓ lines, or stops
# and names what is wrong. It runs your block with ViT-Ti's sizes, then
# with widths, head counts and MLP ratios it draws when it runs: read every
# size from the arguments. While it runs, the package's own `Block`,
# `Attention` and `Mlp` refuse to work, so nothing can stand in for your
# code. The solution is folded under the TODO on the course page and comes
# as a separate download.

# %%
import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import exercises

torch.manual_seed(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Task: the block
#
# Write `EncoderBlock(dim, heads, mlp_ratio)`, an `nn.Module` whose
# `forward(x)` maps tokens `(B, T, D)` to tokens of the same shape:
#
# $$
# x \leftarrow x + \mathrm{MSA}(\mathrm{LN}_1(x)), \qquad
# x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x))
# $$
#
# The check finds your layers by the names of DINO's checkpoints, so give
# them these names and shapes:
#
# | name | layer | role |
# |---|---|---|
# | `norm1`, `norm2` | `nn.LayerNorm(dim, eps=1e-6)` | before each branch |
# | `qkv` | `nn.Linear(dim, 3 * dim)` | outputs `[q, k, v]` |
# | `proj` | `nn.Linear(dim, dim)` | mixes the heads |
# | `fc1` | `nn.Linear(dim, int(dim * mlp_ratio))` | widens |
# | `fc2` | `nn.Linear(int(dim * mlp_ratio), dim)` | narrows |
#
# **MSA**: split `qkv(x)` into $q, k, v$, each cut into `heads` heads of
# $d$ = `dim // heads` numbers, shape `(B, heads, T, d)`; per head,
# $\mathrm{softmax}(q k^\top / \sqrt{d})\, v$ with the softmax over the
# keys; the heads side by side again, `(B, T, D)`, then `proj`.
# **MLP**: `fc2(GELU(fc1(x)))`, with the exact GELU (`F.gelu`).
#
# Hint: `self.qkv(h).reshape(B, T, 3, heads, d).permute(2, 0, 3, 1, 4)`
# gives $q, k, v$ at once; `transpose(1, 2)` before the reshape that
# merges the heads. Write `x = x + ...`, not `x += ...`: the caller's
# tensor stays as it was.


# %% tags=["exercise"]
class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        # TODO: norm1, qkv, proj, norm2, fc1, fc2
        raise NotImplementedError("write EncoderBlock")

    def forward(self, x):
        # TODO: x + MSA(LN1(x)), then x + MLP(LN2(x))
        raise NotImplementedError


# %% tags=["solution"]
class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def attention(self, x):
        B, T, D = x.shape
        d = D // self.heads
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, heads, T, d)
        scores = q @ k.transpose(-2, -1) / d**0.5  # (B, heads, T, T)
        out = scores.softmax(dim=-1) @ v  # (B, heads, T, d)
        out = out.transpose(1, 2).reshape(B, T, D)  # heads side by side
        return self.proj(out)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))  # x + MSA(LN1(x))
        hidden = F.gelu(self.fc1(self.norm2(x)))  # (B, T, dim * ratio)
        return x + self.fc2(hidden)  # x + MLP(LN2(x))


# %%
exercises.check_encoder_block(EncoderBlock)

# %% [markdown]
# **Your turn.** Stack four of your blocks in an `nn.Sequential` and run
# a `(1, 197, 192)` batch through it: the shape never changes. Then count
# the parameters of one block with `dim=192`: part 5 says $12D^2 + 13D$.
