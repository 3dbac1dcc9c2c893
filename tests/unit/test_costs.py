"""The cost formulas agree with what PyTorch counts and allocates."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vitlesson import costs
from vitlesson.patching import PatchEmbedding
from vitlesson.vit import Attention


def counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("img_size,patch_size", [(32, 8), (64, 16), (48, 8)])
def test_patch_embedding_flops_match_the_flop_counter(img_size, patch_size):
    layer = PatchEmbedding(img_size, patch_size, embed_dim=24)
    x = torch.randn(1, 3, img_size, img_size)
    assert costs.patch_embedding_flops(img_size, patch_size, 24) == counted(
        lambda: layer(x)
    )
    assert (
        costs.patch_embedding_flops(img_size, patch_size, 24)
        == 2 * img_size**2 * 3 * 24
    )  # independent of P


@pytest.mark.parametrize("tokens,dim,heads", [(17, 16, 2), (50, 32, 4)])
def test_attention_flops_and_memory_match_pytorch(tokens, dim, heads):
    attention = Attention(dim, heads)
    x = torch.randn(1, tokens, dim)
    assert costs.attention_layer_flops(tokens, dim) == counted(
        lambda: attention(x, return_attention=True)
    )
    _, weights = attention(x, return_attention=True)
    assert (
        costs.attention_memory_bytes(tokens, heads)
        == weights.numel() * weights.element_size()
    )


def test_token_counts_and_entries():
    assert [costs.token_count(224, p) for p in (8, 16, 32)] == [784, 196, 49]
    assert [costs.attention_entries(n + 1) for n in (784, 196, 49)] == [
        785**2,
        197**2,
        50**2,
    ]
    assert costs.token_count(224, 14) == 256  # DINOv2's patch size
    with pytest.raises(
        ValueError,
        match=r"Image size \(384\*384\) is not divisible by patch size 14",
    ):
        costs.token_count(384, 14)
