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
# # Exercise: attention by hand
#
# Write scaled dot-product attention and the two reshapes that make it
# multi-head, then rebuild the package's attention layer from your pieces.
#
# In [part 2](../../lessons/attention/) the package computed attention for
# you; here you write each step, and the last cell compares your code with
# the package's `Attention` layer and with PyTorch's fused attention.
#
# **How to work through it.** Each task has a **TODO** cell for your code,
# then a **check** from `vitlesson.exercises` that runs *your* code: it
# prints ✓ lines, or stops and says what is wrong. Each check runs your code
# on the lesson's sizes, then on sizes it draws when it runs (other
# batches, head counts, token counts and widths): read every size from the
# inputs, never write it as a number. The exercise is to write the formula,
# so while a check runs the package's `attention_weights` and `Attention`
# refuse to work, and so do PyTorch's ready-made
# `F.scaled_dot_product_attention` and `nn.MultiheadAttention`. Outside
# the checks they are the right tools: the last cell compares your code
# with the package's layer and with the fused function. The solutions are
# folded under each TODO on the course page and come as a separate
# download.

# %%
import torch
import torch.nn.functional as F

from vitlesson import exercises
from vitlesson.vit import Attention

torch.manual_seed(0)
print(f"torch {torch.__version__}")

# %% [markdown]
# ## Task 1: scaled dot-product attention
#
# Write `attention(q, k, v)` returning the pair `(output, weights)`:
#
# $$
# \text{weights} = \operatorname{softmax}\!\left(\frac{q k^\top}{\sqrt{d}}
# \right), \qquad \text{output} = \text{weights} \; v ,
# $$
#
# where $d$ is the width of the queries and keys, `q.shape[-1]`, and the
# softmax runs over the keys, so that each row (one query) sums to 1.
# `q`, `k` and `v` are `(T, d)` in the page's worked example and
# `(B, h, T, d)` in a ViT (batch, heads, tokens, width): transpose only the
# last two dimensions of `k`, with `k.transpose(-2, -1)` (`k.T` reverses
# all four).


# %% tags=["exercise"]
def attention(q, k, v):
    # TODO: return softmax(q k^T / sqrt(d)) v and the weights
    raise NotImplementedError("write attention")


# %% tags=["solution"]
def attention(q, k, v):
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / d**0.5  # (..., T, T)
    weights = scores.softmax(dim=-1)  # each row sums to 1
    return weights @ v, weights  # (..., T, d), (..., T, T)


# %%
exercises.check_attention(attention)

# %% [markdown]
# ## Task 2: split the heads, merge them back
#
# Multi-head attention runs $h$ attentions side by side, each on its own
# slice of width $d = D/h$ of every token. Write
#
# - `split_heads(x, heads)`: `(B, N, D)` → `(B, h, N, D/h)`, where head `j`
#   holds numbers `j*d` to `(j+1)*d - 1` of every token;
# - `merge_heads(x)`: `(B, h, N, d)` → `(B, N, h*d)`, the heads side by side
#   again, so that `merge_heads(split_heads(x, h))` is `x`.
#
# Hint: `reshape` to `(B, N, h, d)` first (each token's numbers cut into
# `h` slices), then `permute` the heads in front of the tokens; merging
# undoes both steps in reverse order. A reshape alone, without the
# permute, gives the right shape and the wrong numbers.


# %% tags=["exercise"]
def split_heads(x, heads):
    # TODO: (B, N, D) -> (B, h, N, D/h)
    raise NotImplementedError("write split_heads")


# %% tags=["solution"]
def split_heads(x, heads):
    B, N, D = x.shape
    x = x.reshape(B, N, heads, D // heads)  # (B, N, h, d)
    return x.permute(0, 2, 1, 3)  # (B, h, N, d)


# %% tags=["exercise"]
def merge_heads(x):
    # TODO: (B, h, N, d) -> (B, N, h*d)
    raise NotImplementedError("write merge_heads")


# %% tags=["solution"]
def merge_heads(x):
    B, h, N, d = x.shape
    x = x.permute(0, 2, 1, 3)  # (B, N, h, d)
    return x.reshape(B, N, h * d)  # (B, N, D)


# %%
exercises.check_heads(split_heads, merge_heads)

# %% [markdown]
# ## Your pieces against the package's attention
#
# The package's `Attention` makes queries, keys and values of all heads with
# one linear layer `qkv` (its output is $q$, $k$, $v$ side by side), runs
# attention per head and mixes the merged heads with `proj`. Rebuild it
# from your three functions with the layer's own weights, on ViT-S/16's
# sizes (197 tokens, 6 heads of width 64), and compare with the layer and
# with PyTorch's fused `F.scaled_dot_product_attention`:

# %%
layer = Attention(dim=384, num_heads=6).eval()
x = torch.randn(2, 197, 384)  # (B, N, D)
with torch.no_grad():
    expected, expected_weights = layer(x, return_attention=True)
    q, k, v = layer.qkv(x).chunk(3, dim=-1)  # each (B, N, D)
    q, k, v = (split_heads(t, 6) for t in (q, k, v))  # (B, h, N, d)
    output, weights = attention(q, k, v)
    mine = layer.proj(merge_heads(output))  # (B, N, D)
    fused = F.scaled_dot_product_attention(q, k, v)
gaps = {
    "output vs the layer's": mine - expected,
    "weights vs the layer's": weights - expected_weights,
    "heads' output vs PyTorch's fused": output - fused,
}
for name, gap in gaps.items():
    print(f"{name}: largest difference {gap.abs().max():.1e}")

# %% [markdown]
# **Your turn.** Drop the $1/\sqrt{d}$ from your `attention` and look at
# `weights.max(dim=-1).values.mean()` before and after: how close to one
# winner per row does the softmax get with heads of width 64?
