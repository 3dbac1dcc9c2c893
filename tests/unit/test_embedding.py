"""``vitlesson.embedding``: the CLS token in front of the patch tokens, a position vector added to each, and the settings refused by name."""

from __future__ import annotations

import pytest
import torch

from vitlesson import VisionTransformerEmbedding


def test_vit_embedding_puts_cls_first():
    model = VisionTransformerEmbedding(
        img_size=32, patch_size=8, embed_dim=16, dropout=0.0
    )
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 17, 16)
    pos = model.pos_embedding.position_embeddings
    assert torch.allclose(
        out[:, 0], (model.cls_token + pos[:, :1]).expand(2, 1, 16)[:, 0]
    )
    assert torch.allclose(out[:, 1:], model.patch_embedding(x) + pos[:, 1:])
    assert {n for n, _ in model.named_parameters()} == {
        "cls_token",
        "patch_embedding.proj.weight",
        "patch_embedding.proj.bias",
        "pos_embedding.position_embeddings",
    }


def test_vit_embedding_defaults_and_errors():
    model = VisionTransformerEmbedding()
    assert (
        model.patch_embedding.n_patches == 196
        and model.cls_token.shape == (1, 1, 768)
    )
    with pytest.raises(
        ValueError,
        match=r"Input image size \(96\*96\) doesn't match model \(224\*224\)",
    ):
        model(torch.randn(1, 3, 96, 96))
