import pytest
import torch

from vitlesson import (
    PositionalEmbedding,
    VisionTransformerEmbedding,
    sincos_2d_position_embedding,
)
from vitlesson.position import cosine_similarity_maps, principal_component_maps


def test_positional_embedding_parameter():
    torch.manual_seed(0)
    pos = PositionalEmbedding(196, 768)
    assert pos.position_embeddings.shape == (1, 197, 768)
    assert pos.position_embeddings.requires_grad
    assert abs(pos.position_embeddings.std().item() - 0.02) < 1e-3
    assert abs(pos.position_embeddings.mean().item()) < 1e-3


def test_positional_embedding_adds_the_table():
    pos = PositionalEmbedding(4, 8, dropout=0.0)
    tokens = torch.randn(3, 5, 8)
    assert torch.equal(pos(tokens), tokens + pos.position_embeddings)


def test_dropout_only_in_training():
    pos = PositionalEmbedding(4, 8, dropout=0.5)
    tokens = torch.ones(2, 5, 8)
    assert torch.equal(pos.eval()(tokens), tokens + pos.position_embeddings)
    assert (pos.train()(tokens) == 0).any()


@pytest.mark.parametrize(
    "tokens,message",
    [
        (
            torch.randn(2, 4, 8),
            r"shape \(batch, 5, 8\) \(CLS \+ 4 patches\), got \(2, 4, 8\)",
        ),
        (torch.randn(5, 8), r"got \(5, 8\)"),
        (torch.randn(2, 5, 6), r"got \(2, 5, 6\)"),
    ],
)
def test_positional_embedding_rejects_wrong_shapes(tokens, message):
    with pytest.raises(ValueError, match=message):
        PositionalEmbedding(4, 8)(tokens)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (
            {"n_patches": 0, "embed_dim": 8},
            ValueError,
            "n_patches must be positive, got 0",
        ),
        (
            {"n_patches": 4, "embed_dim": 8, "dropout": 1.5},
            ValueError,
            r"dropout must be in \[0, 1\), got 1.5",
        ),
        (
            {"n_patches": 4.0, "embed_dim": 8},
            TypeError,
            "n_patches must be an int, got float",
        ),
    ],
)
def test_positional_embedding_bad_configuration(kwargs, error, message):
    with pytest.raises(error, match=message):
        PositionalEmbedding(**kwargs)


def test_sincos_is_smooth_and_distinct():
    table = sincos_2d_position_embedding((6, 8), 64)
    assert table.shape == (48, 64)
    assert (
        len({tuple(row.tolist()) for row in table}) == 48
    )  # every position gets its own vector
    maps = cosine_similarity_maps(table, (6, 8))
    # similarity falls with distance along a row and along a column
    assert (
        maps[2, 3, 2, 4] > maps[2, 3, 2, 6]
        and maps[2, 3, 3, 3] > maps[2, 3, 5, 3]
    )


def test_sincos_needs_dimension_divisible_by_four():
    with pytest.raises(ValueError, match="divisible by 4 .* got 30"):
        sincos_2d_position_embedding(4, 30)


def test_similarity_maps_of_a_random_table():
    torch.manual_seed(0)
    table = torch.randn(16, 512)
    maps = cosine_similarity_maps(table, 4)
    assert maps.shape == (4, 4, 4, 4)
    assert torch.allclose(maps[1, 2, 1, 2], torch.tensor(1.0))
    off_diagonal = maps.reshape(16, 16)[~torch.eye(16, dtype=torch.bool)]
    assert off_diagonal.abs().max() < 0.25


def test_principal_components_find_a_gradient():
    rows, cols = 5, 7
    r, c = torch.meshgrid(
        torch.arange(float(rows)), torch.arange(float(cols)), indexing="ij"
    )
    # a table that varies only with the column, plus a little noise
    torch.manual_seed(0)
    table = c.reshape(-1, 1) * torch.randn(1, 32) + 0.01 * torch.randn(
        rows * cols, 32
    )
    maps, variance = principal_component_maps(table, (rows, cols), k=2)
    assert maps.shape == (2, rows, cols) and variance[0] > 0.99
    assert torch.allclose(
        maps[0].std(dim=0), torch.zeros(cols), atol=0.05
    )  # constant down each column


def test_analysis_rejects_a_table_of_the_wrong_size():
    with pytest.raises(
        ValueError,
        match=r"shape \(196, D\) for a 14x14 grid .* got \(197, 8\)",
    ):
        cosine_similarity_maps(torch.randn(197, 8), 14)


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
