"""What a configuration costs: tokens, attention entries, memory and FLOPs.

The formulas behind the lesson's numbers and the patch explorer on the site
(which computes the same formulas in the browser; a test compares the two).
FLOPs count a multiply-add as 2, as ``torch.utils.flop_counter`` does.
"""

from __future__ import annotations

from vitlesson import _validation as check


def token_count(img_size: int, patch_size: int) -> int:
    """N: the patch tokens of an image (the CLS token not included)."""
    rows, cols = check.patch_grid(
        check.image_size_pair(img_size),
        check.positive_int(patch_size, "patch_size"),
    )
    return rows * cols


def attention_entries(tokens: int) -> int:
    """(N+1)^2: the weights of one head's attention matrix, for N+1 tokens."""
    return check.positive_int(tokens, "tokens") ** 2


def attention_memory_bytes(tokens: int, heads: int) -> int:
    """The attention matrices of one layer for one image, in float32."""
    return attention_entries(tokens) * check.positive_int(heads, "heads") * 4


def patch_embedding_flops(
    img_size: int, patch_size: int, embed_dim: int, in_channels: int = 3
) -> int:
    """N patches times a (D x C*P*P) matrix: 2 * N * C*P*P * D = 2*H*W*C*D."""
    n = token_count(img_size, patch_size)
    P = check.positive_int(patch_size, "patch_size")
    patch_dim = check.positive_int(in_channels, "in_channels") * P**2
    return 2 * n * patch_dim * check.positive_int(embed_dim, "embed_dim")


def attention_layer_flops(tokens: int, embed_dim: int) -> int:
    """One multi-head self-attention layer on T tokens of width D.

    The qkv and output projections: 2*T*D*3D + 2*T*D*D = 8*T*D^2 (linear in
    T); the scores Q K^T and the weighted sum of V: 2 * 2*T^2*D (quadratic
    in T), whatever the number of heads.
    """
    T = check.positive_int(tokens, "tokens")
    D = check.positive_int(embed_dim, "embed_dim")
    return 8 * T * D * D + 4 * T * T * D
