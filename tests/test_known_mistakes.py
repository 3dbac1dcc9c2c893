"""Tests written as the single-line bugs people make would show up.

Each test pins a convention or a behaviour that a plausible one-line change
would break while every shape stayed right: which half of the sin-cos table
encodes which axis, the raster and within-patch order, LayerNorms that are not
the identity, dropout in train and eval mode, prefix tokens in resampling,
normalisation by division.
"""

import math

import pytest
import torch

import vitlesson
from vitlesson.checkpoints import hf_vit_reference
from vitlesson.data.images import IMAGENET_MEAN, IMAGENET_STD, normalize
from vitlesson.vit import Attention, Block

# --- conventions -------------------------------------------------------------


def test_sincos_first_half_encodes_the_row_second_half_the_column():
    rows, cols, dim = 3, 5, 16
    table = vitlesson.sincos_2d_position_embedding((rows, cols), dim).reshape(
        rows, cols, dim
    )
    row_half, col_half = table[..., : dim // 2], table[..., dim // 2 :]
    assert torch.equal(
        row_half, row_half[:, :1].expand_as(row_half)
    )  # same along a row
    assert torch.equal(
        col_half, col_half[:1].expand_as(col_half)
    )  # same down a column
    # each half is (sin, cos) of position x frequency 10000^(-i / (D/4))
    frequencies = 10000 ** (
        -torch.arange(dim // 4, dtype=torch.float64) / (dim // 4)
    )
    expected = torch.cat(
        [(2 * frequencies).sin(), (2 * frequencies).cos()]
    ).float()
    assert torch.allclose(table[2, 0, : dim // 2], expected)  # row 2
    assert torch.allclose(table[0, 2, dim // 2 :], expected)  # column 2


def test_patch_tokens_are_in_raster_order_with_channel_row_column_inside():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(
        2, 3, 4, 6
    )  # (B, C, H, W)
    patches = vitlesson.patchify(images, 2)  # grid 2 x 3
    for token, (r, c) in enumerate(
        [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    ):
        block = images[1, :, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2]  # (C, P, P)
        assert torch.equal(patches[1, token], block.flatten()), token
    # inside token 0 of image 0: channel 0 row 0, channel 0 row 1, then channel 1
    assert patches[0, 0, :6].tolist() == [0, 1, 6, 7, 24, 25]


def test_normalize_divides_by_the_standard_deviation_and_round_trips():
    image = torch.rand(3, 8, 8)
    mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1)
    assert torch.allclose(
        normalize(torch.ones(3, 2, 2))[:, 0, 0],
        (1 - mean.flatten()) / std.flatten(),
    )
    assert torch.allclose(
        normalize(image) * std + mean, image, atol=1e-6
    )  # the inverse gives it back


# --- parity with every parameter in play --------------------------------------


def randomised(model, seed=0):
    """All parameters random, LayerNorms included (fresh ones are the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(
                torch.randn(parameter.shape, generator=generator) * 0.1
            )
            if parameter.dim() == 1 and parameter.numel() == model.embed_dim:
                parameter.add_(1.0)  # LayerNorm scales around 1, biases off 0
    return model.eval()


def hf_error(model, x):
    reference = hf_vit_reference(model)
    with torch.no_grad():
        ours = model.forward_features(x)
        theirs = reference(pixel_values=x).last_hidden_state
    return ((ours - theirs).abs().max() / ours.abs().max()).item()


@pytest.mark.slow
def test_hf_parity_with_every_parameter_random():
    pytest.importorskip(
        "transformers",
        reason="the parity reference is Hugging Face transformers",
    )
    model = randomised(
        vitlesson.VisionTransformer(
            img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=4
        )
    )
    assert hf_error(model, torch.randn(2, 3, 32, 32)) < 1e-5
    # the LayerNorms really are in play: they change the features
    with torch.no_grad():
        before = model.forward_features(torch.ones(1, 3, 32, 32))
        model.blocks[0].norm1.weight.mul_(2)
        assert not torch.allclose(
            model.forward_features(torch.ones(1, 3, 32, 32)), before, atol=1e-3
        )


def test_hf_parity_of_the_shipped_trained_model():
    pytest.importorskip(
        "transformers",
        reason="the parity reference is Hugging Face transformers",
    )
    from vitlesson.data.shapes import make_shapes, normalize_shapes
    from vitlesson.train import TEST_SEED, load_trained

    trained, _ = load_trained()
    backbone = vitlesson.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4
    )
    weights = {
        k: v
        for k, v in trained.state_dict().items()
        if not k.startswith("head.")
    }
    backbone.load_state_dict(weights, strict=True)
    images, _ = make_shapes(4, seed=TEST_SEED)
    assert hf_error(backbone.eval(), normalize_shapes(images)) < 1e-5


# --- dropout ----------------------------------------------------------------


@pytest.mark.parametrize("explicit", [False, True], ids=["fused", "explicit"])
def test_attention_dropout_acts_in_training_only(explicit):
    torch.manual_seed(0)
    attention = Attention(32, num_heads=4, attn_drop=0.5)
    plain = Attention(32, num_heads=4)
    plain.load_state_dict(attention.state_dict())
    x = torch.randn(2, 10, 32)
    attention.eval()
    with torch.no_grad():
        assert torch.allclose(
            attention(x, explicit)[0], plain.eval()(x, explicit)[0], atol=1e-6
        )
        attention.train()
        first, second = attention(x, explicit)[0], attention(x, explicit)[0]
    assert not torch.allclose(first, second)  # a fresh mask every call
    assert not torch.allclose(first, plain(x, explicit)[0])


def test_block_dropout_acts_in_training_only():
    torch.manual_seed(0)
    block = Block(32, num_heads=4, drop=0.3, attn_drop=0.3)
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        block.eval()
        assert torch.equal(block(x), block(x))
        block.train()
        assert not torch.allclose(block(x), block(x))


# --- resampling with several prefix tokens -------------------------------------


def test_resampling_keeps_every_prefix_token_and_resizes_only_the_grid():
    torch.manual_seed(0)
    prefix, grid = (
        torch.randn(1, 2, 8),
        torch.randn(1, 16, 8),
    )  # two prefix tokens, a 4x4 grid
    table = torch.cat([prefix, grid], dim=1)
    resized = vitlesson.resample_position_embedding(
        table, (2, 2), num_prefix_tokens=2
    )
    alone = vitlesson.resample_position_embedding(
        torch.cat([prefix[:, :1], grid], 1), (2, 2)
    )
    assert resized.shape == (1, 2 + 4, 8)
    assert torch.equal(resized[:, :2], prefix)
    assert torch.allclose(resized[:, 2:], alone[:, 1:])
    # a constant grid stays constant: bicubic weights sum to one
    flat = torch.cat([prefix, torch.full((1, 16, 8), 0.5)], 1)
    assert torch.allclose(
        vitlesson.resample_position_embedding(flat, 6, num_prefix_tokens=2)[
            :, 2:
        ],
        torch.full((1, 36, 8), 0.5),
        atol=1e-6,
    )


def test_mlp_is_four_times_wider_and_uses_gelu():
    block = Block(16, num_heads=2)
    assert block.mlp.fc1.out_features == 64 and block.mlp.fc2.in_features == 64
    x = torch.tensor([[-1.0, 0.0, 1.0]])
    assert torch.allclose(
        block.mlp.act(x), x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    )


@pytest.mark.slow
def test_stochastic_depth_as_dino_builds_its_student():
    with torch.device("meta"):  # main_dino.py's student, its shapes only
        student = vitlesson.vit_small(
            img_size=32, patch_size=16, drop_path_rate=0.1
        )
    rates = [block.drop_path.p for block in student.blocks]
    assert (
        rates == pytest.approx(torch.linspace(0, 0.1, 12).tolist())
        and student.num_features == 384
    )
    torch.manual_seed(0)
    small = dict(img_size=16, patch_size=8, embed_dim=16, depth=4)
    model = vitlesson.VisionTransformer(
        **small, num_heads=2, drop_path_rate=0.3
    )
    plain = vitlesson.VisionTransformer(**small, num_heads=2)
    plain.load_state_dict(
        model.state_dict(), strict=True
    )  # stochastic depth has no parameters
    x = torch.randn(8, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(
            model.eval()(x), plain.eval()(x)
        )  # the identity in eval mode
        model.train()
        assert not torch.allclose(
            model(x), model(x)
        )  # whole samples dropped, afresh each call
    from vitlesson.vit import DropPath

    drop = DropPath(0.5).train()
    torch.manual_seed(1)
    out = drop(torch.ones(1000, 4))
    kept = out[:, 0] > 0
    assert torch.equal(
        out[kept], torch.full_like(out[kept], 2.0)
    )  # survivors scaled by 1 / (1 - p)
    assert (
        torch.equal(out[~kept], torch.zeros_like(out[~kept]))
        and 400 < int(kept.sum()) < 600
    )
    with pytest.raises(
        ValueError, match=r"^drop_path_rate must be in \[0, 1\), got 1.5"
    ):
        vitlesson.vit_tiny(img_size=32, drop_path_rate=1.5)


@pytest.mark.slow
def test_state_dict_saves_with_safetensors(tmp_path):
    safetensors = pytest.importorskip(
        "safetensors.torch", reason="safetensors comes with transformers"
    )
    model = vitlesson.vit_tiny(img_size=32)
    safetensors.save_file(
        model.state_dict(), tmp_path / "model.safetensors"
    )  # every tensor contiguous
    loaded = safetensors.load_file(tmp_path / "model.safetensors")
    assert all(
        torch.equal(loaded[k], v) for k, v in model.state_dict().items()
    )
