"""Learners' answers to part 2's exercise (attention by hand), right and
wrong.

Each corpus maps a mistake to the answer that makes it and a pattern the
check's message must contain to name it; the right answers are other
correct formulations than the published solutions."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson.vit import Attention, attention_weights

# --- Task 1: attention ----------------------------------------------------


def attend(
    scale=lambda q: q.shape[-1] ** 0.5,
    dim=-1,
    keys=lambda k: k.transpose(-2, -1),
    weigh=lambda weights, v: weights @ v,
    returns=lambda output, weights: (output, weights),
):
    """softmax(q kᵀ / scale) v, each step replaceable by a mistake."""

    def attention(q, k, v):
        weights = (q @ keys(k) / scale(q)).softmax(dim=dim)
        return returns(weigh(weights, v), weights)

    return attention


right_attention = attend()


def with_einsum(q, k, v):
    scores = torch.einsum("...id,...jd->...ij", q, k) / math.sqrt(q.size(-1))
    weights = F.softmax(scores, dim=-1)
    return torch.einsum("...ij,...jd->...id", weights, v), weights


def with_scaled_queries(q, k, v):
    q = q * q.shape[-1] ** -0.5  # scale first, as timm does
    weights = torch.softmax(q @ k.mT, dim=-1)
    return weights @ v, weights


def with_exp(q, k, v):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores - scores.amax(dim=-1, keepdim=True)  # stable
    weights = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)
    return torch.matmul(weights, v), weights


RIGHT_ATTENTIONS = {
    "the published solution": right_attention,
    "einsum": with_einsum,
    "queries scaled first, k.mT": with_scaled_queries,
    "exp over the sum, stabilised": with_exp,
}


def with_torch_fused(q, k, v):
    weights = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)
    return F.scaled_dot_product_attention(q, k, v), weights


def with_multihead_module(q, k, v):
    layer = nn.MultiheadAttention(q.shape[-1], 1, batch_first=True)
    return layer(q, k, v)


def with_the_package_layer(q, k, v):
    layer = Attention(q.shape[-1] * 3, num_heads=3)
    return layer(q, return_attention=True)


def without_return(q, k, v):
    right_attention(q, k, v)


ATTENTION_MISTAKES = {
    "softmax over the queries (dim -2)": (
        attend(dim=-2),
        r"the softmax is over the queries \(dim -2\), not the keys",
    ),
    "softmax over dim 1": (
        attend(dim=1),
        r"the softmax is over dimension 1 \(of a 4-dimensional tensor\)",
    ),
    "no scale": (attend(scale=lambda q: 1), "the scores are not scaled"),
    "scale by d": (
        attend(scale=lambda q: q.shape[-1]),
        "divided by d, not by √d",
    ),
    "multiplied by √d": (
        attend(scale=lambda q: q.shape[-1] ** -0.5),
        "multiplied by √d instead of divided",
    ),
    "√T instead of √d": (
        attend(scale=lambda q: q.shape[-2] ** 0.5),
        r"divided by √T \(q.shape\[-2\], the token count\)",
    ),
    "√64 written": (
        attend(scale=lambda q: 8),
        "divided by √64, a width written as a number",
    ),
    "√D of the whole width": (
        attend(scale=lambda q: 384**0.5),
        "divided by √384, the width D of all heads together",
    ),
    "k not transposed": (
        attend(keys=lambda k: k),
        r"raised RuntimeError: .*the scores are q @ k.transpose\(-2, -1\)",
    ),
    "k.T on batched tensors": (
        attend(keys=lambda k: k.T),
        r"raised RuntimeError.*k.transpose\(-2, -1\) \(k.T reverses all four",
    ),
    "k qᵀ": (
        lambda q, k, v: right_attention(k, q, v),
        r"computed from k qᵀ",
    ),
    "weights transposed": (
        attend(returns=lambda out, w: (out, w.transpose(-2, -1))),
        "the weights are transposed",
    ),
    "output from the transposed weights": (
        attend(weigh=lambda w, v: w.transpose(-2, -1) @ v),
        r"wrong output: the output is weights.transpose\(-2, -1\) @ v",
    ),
    "(weights, output)": (
        attend(returns=lambda out, w: (w, out)),
        r"returned \(weights, output\)",
    ),
    "only the output": (
        attend(returns=lambda out, w: out),
        "returned one tensor",
    ),
    "a forgotten return": (without_return, "did you forget the `return`"),
    "torch's fused attention": (
        with_torch_fused,
        "called torch.nn.functional.scaled_dot_product_attention, "
        "PyTorch's fused attention",
    ),
    "nn.MultiheadAttention": (
        with_multihead_module,
        "your code called torch.nn.MultiheadAttention",
    ),
    "the package's attention_weights": (
        lambda q, k, v: (attention_weights(q, k) @ v, attention_weights(q, k)),
        "your code called vitlesson.vit.attention_weights, the package's "
        "solution",
    ),
    "the package's Attention layer": (
        with_the_package_layer,
        "your code called vitlesson.vit.Attention",
    ),
    "nothing passed": (None, "should be your function or class, got None"),
}


# --- Task 2: split_heads and merge_heads ----------------------------------


def right_split(x, heads):
    B, N, D = x.shape
    x = x.reshape(B, N, heads, D // heads)  # (B, N, h, d)
    return x.permute(0, 2, 1, 3)  # (B, h, N, d)


def right_merge(x):
    B, h, N, d = x.shape
    return x.permute(0, 2, 1, 3).reshape(B, N, h * d)  # (B, N, h*d)


def split_by_view(x, heads):
    return x.view(*x.shape[:2], heads, -1).transpose(1, 2)


def merge_by_flatten(x):
    return x.transpose(1, 2).flatten(2)


def split_by_chunks(x, heads):
    return torch.stack(torch.split(x, x.shape[-1] // heads, dim=-1), dim=1)


def merge_by_cat(x):
    return torch.cat([x[:, j] for j in range(x.shape[1])], dim=-1)


RIGHT_HEADS = {
    "the published solution": (right_split, right_merge),
    "view and transpose, transpose and flatten": (
        split_by_view,
        merge_by_flatten,
    ),
    "split and stack, cat": (split_by_chunks, merge_by_cat),
}


def split_without_permute(x, heads):
    B, N, D = x.shape
    return x.reshape(B, N, heads, D // heads)  # (B, N, h, d)


def split_straight(x, heads):
    B, N, D = x.shape
    return x.reshape(B, heads, N, D // heads)


def split_interleaved(x, heads):
    B, N, D = x.shape
    return x.reshape(B, N, D // heads, heads).permute(0, 3, 1, 2)


def split_float_width(x, heads):
    B, N, D = x.shape
    return x.reshape(B, N, heads, D / heads).permute(0, 2, 1, 3)


def split_tokens_transposed(x, heads):
    B, N, D = x.shape
    return x.reshape(B, heads, D // heads, N).transpose(2, 3)


def split_with(heads_written=None, width_written=None):
    def split_heads(x, heads):
        B, N, D = x.shape
        h = heads_written or heads
        return x.reshape(B, N, h, width_written or D // h).transpose(1, 2)

    return split_heads


def merge_straight(x):
    B, h, N, d = x.shape
    return x.reshape(B, N, h * d)


def merge_interleaved(x):
    B, h, N, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, N, h * d)


def merge_by_view(x):
    B, h, N, d = x.shape
    return x.transpose(1, 2).view(B, N, h * d)


def merge_not_flattened(x):
    return x.transpose(1, 2)


def merge_reversed(x):
    return right_merge(x.flip(1))


def merge_written(x):
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, 384)


def split_batch_and_heads_merged(x, heads):
    B, N, D = x.shape
    x = right_split(x, heads)  # (B, h, N, d)
    return x.reshape(B * heads, N, D // heads)


def split_width_last(x, heads):
    B, N, D = x.shape
    return x.reshape(B, N, heads, D // heads).permute(0, 2, 3, 1)


def merge_heads_summed(x):
    return x.sum(dim=1)


def merge_all_flat(x):
    return x.transpose(1, 2).flatten(1)


def merge_six_heads(x):
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, 6 * d)


def merge_numbers_transposed(x):
    B, h, N, d = x.shape
    return x.transpose(2, 3).reshape(B, N, h * d)


HEADS_MISTAKES = {
    "split as (B, N, h, d), no permute": (
        (split_without_permute, right_merge),
        r"\(B, N, h, d\): the heads must come before the tokens",
    ),
    "split: reshape without permute": (
        (split_straight, right_merge),
        "without a permute mixes tokens and heads",
    ),
    "split: heads interleaved": (
        (split_interleaved, right_merge),
        "the heads are interleaved: reshaping to \\(B, N, d, h\\)",
    ),
    "split: D / heads": (
        (split_float_width, right_merge),
        "raised TypeError.*D / heads is a float",
    ),
    "split: tokens and numbers mixed": (
        (split_tokens_transposed, right_merge),
        "inside each head, tokens and numbers are mixed",
    ),
    "split: 6 heads written": (
        (split_with(heads_written=6), right_merge),
        "It passed with the lesson's settings; this run drew",
    ),
    "split: width 64 written": (
        (split_with(width_written=64), right_merge),
        "It passed with the lesson's settings; this run drew",
    ),
    "split: returns nothing": (
        (lambda x, heads: None, right_merge),
        r"split_heads\(x of shape \(2, 5, 384\), heads=6\) returned None",
    ),
    "split: batch and heads in one dimension": (
        (split_batch_and_heads_merged, right_merge),
        r"shape \(12, 5, 64\) has 3 dimensions, expected 4",
    ),
    "split: the width last": (
        (split_width_last, right_merge),
        r"dimensions 2 \(tokens N\) and 3 \(head width d\) are swapped",
    ),
    "split: the heads as a tuple": (
        (lambda x, heads: x.chunk(heads, dim=-1), right_merge),
        "returned a tuple object, not a torch.Tensor",
    ),
    "split: the tokens cut instead of the width": (
        (
            lambda x, heads: torch.stack(x.chunk(heads, dim=1), dim=1),
            right_merge,
        ),
        r"dimension 1 \(heads h\) should be 6, got 5",
    ),
    "merge: reshape without permute": (
        (right_split, merge_straight),
        "reshaping \\(B, h, N, d\\) straight to \\(B, N, h·d\\) without "
        "moving the heads back",
    ),
    "merge: wrong order": (
        (right_split, merge_interleaved),
        "the heads are interleaved: permute to \\(B, N, h, d\\), not",
    ),
    "merge: heads reversed": (
        (right_split, merge_reversed),
        "the heads are in reverse order",
    ),
    "merge: view after transpose": (
        (right_split, merge_by_view),
        r"raised RuntimeError: view size .*\.reshape works where \.view "
        "does not",
    ),
    "merge: not flattened": (
        (right_split, merge_not_flattened),
        r"\(B, N, h, d\): put the heads side by side",
    ),
    "merge: 384 written": (
        (right_split, merge_written),
        "It passed with the lesson's settings; this run drew",
    ),
    "merge: heads summed": (
        (right_split, merge_heads_summed),
        r"dimension 2 \(width D\) should be 384, got 64",
    ),
    "merge: tokens flattened too": (
        (right_split, merge_all_flat),
        r"shape \(2, 1920\) has 2 dimensions, expected 3",
    ),
    "merge: 6 heads written": (
        (right_split, merge_six_heads),
        "It passed with the lesson's settings; this run drew",
    ),
    "merge: numbers and tokens transposed": (
        (right_split, merge_numbers_transposed),
        "inside each head, tokens and numbers are swapped",
    ),
    "merge: the package's layer": (
        (right_split, lambda x: Attention(x.shape[1] * x.shape[3])),
        "your code called vitlesson.vit.Attention",
    ),
    "merge: integers": (
        (right_split, lambda x: right_merge(x).long()),
        "a tensor of dtype torch.int64",
    ),
}
