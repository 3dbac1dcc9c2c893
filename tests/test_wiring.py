"""Defaults, how arguments reach the layers, initialisation, exact messages and
the analysis numbers: the details a one-character change would break (found by
``make mutation``)."""

import contextlib
import io

import pytest
import torch
import torch.nn.functional as F

import vitlesson
from tests.support.exercise_answers import (
    learner_class,
    linear_from_conv,
    reshape_then,
    table,
)
from vitlesson.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_photo,
    normalize,
    sample_image,
    square_crop_resize,
)
from vitlesson.exercises import (
    ExerciseError,
    check_configuration_table,
    check_flexible_patch_embedding,
    check_linear_from_conv,
    check_manual_patching,
)
from vitlesson.position import (
    cosine_similarity_maps,
    neighbour_similarity,
    principal_component_maps,
)
from vitlesson.vit import Attention, Block, Mlp

# --- defaults ------------------------------------------------------------------


def test_layer_defaults():
    attention = Attention(32)
    assert attention.num_heads == 8 and attention.qkv.bias is not None
    assert attention.attn_drop.p == attention.proj_drop.p == 0.0
    assert Mlp(8, 32).drop.p == 0.0
    block = Block(32, num_heads=4)
    assert (
        block.attn.qkv.bias is not None
        and block.mlp.drop.p == block.attn.attn_drop.p == 0.0
    )
    assert vitlesson.FlexiblePatchEmbedding().projection.out_features == 768
    assert sample_image().shape == (3, 224, 224)


def test_vision_transformer_defaults_are_vit_base_16():
    with torch.device("meta"):  # sizes only: no memory, no initialisation
        model = vitlesson.VisionTransformer()
    block = model.blocks[0]
    assert (
        model.patch_embed.img_size,
        model.patch_embed.patch_size,
        model.patch_embed.in_channels,
    ) == ((224, 224), 16, 3)
    assert (
        model.embed_dim,
        model.depth,
        block.attn.num_heads,
        model.num_classes,
    ) == (768, 12, 12, 0)
    assert (
        block.mlp.fc1.out_features == 3072 and block.attn.qkv.bias is not None
    )
    assert (
        block.attn.attn_drop.p == block.mlp.drop.p == model.pos_drop.p == 0.0
    )
    assert not model.dynamic_img_size


@pytest.mark.parametrize(
    "factory,dim,heads",
    [
        (vitlesson.vit_tiny, 192, 3),
        (vitlesson.vit_small, 384, 6),
        (vitlesson.vit_base, 768, 12),
    ],
)
def test_factories(factory, dim, heads):
    with torch.device("meta"):  # sizes only: no memory, no initialisation
        model = factory(img_size=32)  # keyword arguments reach the model
        other = factory(8, 5, img_size=32)
    assert (
        model.patch_embed.patch_size == 16
        and model.num_classes == 0
        and model.patch_embed.img_size == (32, 32)
    )
    assert (model.embed_dim, model.depth, model.blocks[0].attn.num_heads) == (
        dim,
        12,
        heads,
    )
    assert other.patch_embed.patch_size == 8 and other.num_classes == 5


# --- arguments reach the layers ------------------------------------------------


def test_dropout_rates_and_bias_reach_every_layer():
    block = Block(32, num_heads=4, drop=0.1, attn_drop=0.2, qkv_bias=False)
    assert (
        block.attn.attn_drop.p,
        block.attn.proj_drop.p,
        block.mlp.drop.p,
    ) == (0.2, 0.1, 0.1)
    assert block.attn.qkv.bias is None
    model = vitlesson.VisionTransformer(
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=4,
        drop_rate=0.1,
        attn_drop_rate=0.2,
        qkv_bias=False,
        mlp_ratio=2.0,
    )
    for block in model.blocks:
        assert (
            block.attn.attn_drop.p,
            block.attn.proj_drop.p,
            block.mlp.drop.p,
        ) == (0.2, 0.1, 0.1)
        assert block.attn.qkv.bias is None and block.mlp.fc1.out_features == 64
    assert model.pos_drop.p == 0.1


@pytest.mark.slow
def test_initialisation():
    torch.manual_seed(0)
    model = vitlesson.VisionTransformer(embed_dim=384, depth=2, num_heads=6)
    for weights in (model.pos_embed, model.cls_token.expand(1, 200, -1)):
        assert (
            0.018 < weights.std().item() < 0.022
        )  # trunc_normal_(std=0.02), cut at +-2 as in DINO
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in linears)
    assert all(0.015 < m.weight.std().item() < 0.025 for m in linears)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert all(
        torch.equal(m.weight, torch.ones_like(m.weight)) and m.eps == 1e-6
        for m in norms
    )
    embedding = vitlesson.VisionTransformerEmbedding(embed_dim=768)
    assert 0.01 < embedding.cls_token.std().item() < 0.04


@pytest.mark.slow
def test_last_selfattention_is_the_last_block_of_a_deep_model():
    torch.manual_seed(0)
    model = vitlesson.VisionTransformer(
        img_size=16, patch_size=8, embed_dim=16, depth=3, num_heads=2
    ).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        tokens = model.prepare_tokens(x)
        for block in model.blocks[:2]:
            tokens = block(tokens)
        expected = model.blocks[2](tokens, return_attention=True)[1]
        assert torch.allclose(model.get_last_selfattention(x), expected)
        assert len(model.get_intermediate_layers(x)) == 1


# --- images --------------------------------------------------------------------


def test_photo_values_are_bytes_over_255():
    photo = load_photo()
    assert photo.max().item() == 1.0 and torch.equal(
        photo * 255, (photo * 255).round()
    )


def test_square_crop_resize_is_antialiased_bilinear():
    image = torch.rand(3, 40, 40)
    expected = F.interpolate(
        image[None],
        size=(10, 10),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )[0]
    assert torch.allclose(square_crop_resize(image, 10), expected)
    assert square_crop_resize(torch.ones(3, 40, 40), 7).max() == 1.0


def test_normalize_keeps_double_precision():
    image = torch.rand(3, 4, 4, dtype=torch.float64)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).reshape(3, 1, 1)
    assert torch.equal(normalize(image), (image - mean) / std)


@pytest.mark.slow
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: normalize([1.0]), "images must be a torch.Tensor, got list"),
        (
            lambda: square_crop_resize([1.0], 8),
            "image must be a torch.Tensor, got list",
        ),
        (
            lambda: square_crop_resize(torch.rand(3, 8, 8), 0),
            "size must be positive, got 0",
        ),
        (
            lambda: principal_component_maps(torch.rand(4, 8), 2, k=0),
            "k must be positive, got 0",
        ),
        (
            lambda: cosine_similarity_maps([1.0], 2),
            "embedding must be a torch.Tensor, got list",
        ),
        (
            lambda: cosine_similarity_maps(torch.rand(4, 8), "x"),
            "grid_size must be an int, got str",
        ),
        (
            lambda: vitlesson.vit_tiny(img_size=32).get_intermediate_layers(
                torch.rand(1, 3, 32, 32), n=0
            ),
            "n must be positive, got 0",
        ),
        (
            lambda: vitlesson.FlexiblePatchEmbedding(flatten_patches="no"),
            "flatten_patches must be True or False",
        ),
        (
            lambda: Attention(8, 2)(torch.rand(1, 3, 8, dtype=torch.float64)),
            "tokens has dtype torch.float64 but the module's parameters are torch.float32",
        ),
    ],
)
def test_messages_name_the_argument(call, message):
    with pytest.raises((TypeError, ValueError)) as error:
        call()
    assert str(error.value).startswith(message)


# --- the analysis numbers ------------------------------------------------------


def test_neighbour_similarity_on_a_known_table():
    # a 1x5 grid of unit vectors at angles 0, 30, 60, 90, 120 degrees: neighbours are 30 degrees apart
    angles = torch.deg2rad(torch.tensor([0.0, 30, 60, 90, 120]))
    table = torch.stack([angles.cos(), angles.sin()], dim=1)  # (5, 2)
    near, far = neighbour_similarity(table, (1, 5))
    assert near == pytest.approx(
        torch.cos(torch.deg2rad(torch.tensor(30.0))).item(), abs=1e-6
    )
    assert far == pytest.approx(
        torch.cos(torch.deg2rad(torch.tensor(120.0))).item(), abs=1e-6
    )  # only (0, 4)
    near, far = neighbour_similarity(
        table, (1, 5), far=3
    )  # pairs 3 and 4 apart: 90 degrees twice, 120 once
    assert far == pytest.approx((0 + 0 + 0 + 0 - 0.5 - 0.5) / 6, abs=1e-6)
    with pytest.raises(
        ValueError,
        match="no two positions of a 1x5 grid are 5 cells apart: use a smaller far",
    ):
        neighbour_similarity(table, (1, 5), far=5)
    with pytest.raises(
        ValueError, match=r"embedding must have shape \(6, D\) for a 2x3 grid"
    ):
        neighbour_similarity(table, (2, 3))


def test_neighbours_count_rows_and_columns():
    # on a 2x2 grid the direct neighbours of (0, 0) are (0, 1) and (1, 0), not the diagonal
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]])
    near, far = neighbour_similarity(table, 2, far=1.4)
    assert near == pytest.approx(0.0) and far == pytest.approx(
        -1.0
    )  # the diagonal pairs are opposite


def test_principal_components_of_a_known_table():
    # positions spread along one direction (x 3) and a little along another (x 1)
    coords = torch.tensor([[-1.0, -1], [-1, 1], [1, -1], [1, 1]])
    table = torch.cat(
        [coords * torch.tensor([3.0, 1.0]), torch.full((4, 1), 5.0)], dim=1
    )  # offset: centred away
    maps, variance = principal_component_maps(table, 2, k=2)
    assert variance.tolist() == pytest.approx([0.9, 0.1])  # 9 : 1
    assert maps[0].abs().flatten().tolist() == pytest.approx(
        [3.0] * 4
    )  # scores along the first axis
    assert maps[1].abs().flatten().tolist() == pytest.approx([1.0] * 4)
    assert principal_component_maps(table, 2)[0].shape == (
        3,
        2,
        2,
    )  # k = 3 by default


def test_cosine_similarity_is_per_position():
    table = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0], [2.0, 0.0]])
    maps = cosine_similarity_maps(table, 2)
    assert maps[0, 0].flatten().tolist() == pytest.approx(
        [1.0, 0.0, 2**-0.5, 1.0]
    )


def test_sincos_is_computed_in_double_precision():
    table = vitlesson.sincos_2d_position_embedding((3, 200), 64)
    i = torch.arange(16, dtype=torch.float64)
    angle = 199 * 10000 ** (-i / 16)
    assert torch.equal(table[199, 32:48], angle.sin().float())


# --- exact exercise messages ---------------------------------------------------

PERMUTE = (
    "The linear form gives other tokens than the convolution (patch size 8): "
)
MESSAGES = [
    (
        check_flexible_patch_embedding,
        learner_class(patching=reshape_then((0, 2, 4, 3, 5, 1))),
        PERMUTE
        + "each patch is flattened channels-last, as (P, P, C); a Conv2d weight flattens as (C, P, P), so put "
        "the channel dimension first inside each patch.",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(patching=reshape_then((0, 2, 4, 1, 5, 3))),
        PERMUTE
        + "inside each patch, rows and columns are swapped (flattened as (C, P_w, P_h) instead of "
        "(C, P_h, P_w)).",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(
            patching=lambda x, p: x.reshape(x.shape[0], -1, 3 * p * p)
        ),
        PERMUTE
        + "the tokens are not patches: reshaping (B, C, H, W) straight to (B, N, C*P*P) without a permute "
        "mixes pixels of different patches into one token.",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(patching=reshape_then((0, 4, 2, 1, 3, 5))),
        PERMUTE
        + "the patches are in column-major order (your permute puts the column index before the row index, "
        "so token 1 is the patch *below* token 0, not the one to its right).",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(
            patching=lambda x, p: reshape_then((0, 2, 4, 1, 3, 5))(x, p) * 2
        ),
        "With the convolution's weights copied in, the linear form should give the convolution's tokens (patch size "
        "8); largest difference",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(transpose_conv=False),
        "The convolution form returns (B, D, N): transpose it to (B, N, D) with .transpose(1, 2) after .flatten(2)",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(conv_for_linear=True),
        "With flatten_patches=True, self.projection must be an nn.Linear, got Conv2d",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(channels_in_dim=False),
        "224/8: patch_dim should be 192 (C·P·P = 3·8·8: did you forget the 3 channels?), got 64",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(fail=True),
        "FlexiblePatchEmbedding(224, 8, in_channels=3, embed_dim=32, flatten_patches=True) raised RuntimeError: "
        "forgot super().__init__()",
    ),
    (
        check_linear_from_conv,
        lambda conv: linear_from_conv(conv, transpose=True),
        "For patch size 8, expected nn.Linear(192, 32) with weight shape (32, 192), got weight shape (192, 32): the "
        "weight is transposed",
    ),
    (
        check_linear_from_conv,
        lambda conv: torch.nn.Linear(10, 32),
        "For patch size 8, expected nn.Linear(192, 32) with weight shape (32, 192), got weight shape (32, 10)",
    ),
    (
        check_linear_from_conv,
        lambda conv: linear_from_conv(conv, copy_bias=False),
        "The bias was not copied: linear.bias must equal conv.bias",
    ),
    (
        check_linear_from_conv,
        lambda conv: linear_from_conv(
            conv, flatten=lambda w: w.permute(0, 2, 3, 1).flatten(1)
        ),
        "For patch size 8, the linear layer gives different tokens than the convolution (largest difference ",
    ),
    (
        check_manual_patching,
        reshape_then((0, 4, 2, 1, 3, 5)),
        "Right shape, wrong order (patch size 8): the patches are in column-major order (your permute puts the column "
        "index before the row index, so token 1 is the patch *below* token 0, not the one to its right).",
    ),
    (
        check_manual_patching,
        lambda x, p: reshape_then((0, 2, 4, 1, 3, 5))(x, p).flip(1),
        "Right shape, wrong values for patch size 8 on 224x224: token 1 should be images[:, :, 0:8, 8:16] flattened "
        "(the second patch of the top row), channel first",
    ),
    (
        check_configuration_table,
        lambda c, e: [
            dict(r, n_patches=r["n_patches"] + 1) for r in table(c, e)
        ],
        "224/8: n_patches should be 784 (N = (H/P)·(W/P) = (224/8)²), got 785",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("check,wrong,message", MESSAGES)
def test_exercise_messages_in_full(check, wrong, message):
    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check(wrong)
    text = str(error.value)
    assert text == message or (
        message.endswith(("difference", "difference "))
        and text.startswith(message)
    )


@pytest.mark.slow
def test_linear_form_off_by_a_little_is_caught():
    class Shifted(learner_class()):
        def forward(self, images):
            return super().forward(images) + (
                0.01 if self.flatten_patches else 0.0
            )

    with pytest.raises(ExerciseError, match=r"largest difference 0\.01"):
        check_flexible_patch_embedding(Shifted)


def test_a_linear_layer_in_the_wrong_orientation_is_named():
    with pytest.raises(
        ExerciseError,
        match="got weight shape \\(192, 32\\): the weight is transposed$",
    ):
        check_linear_from_conv(
            lambda conv: linear_from_conv(conv, transpose=True)
        )


def test_exact_message_with_its_seeded_number():
    with pytest.raises(ExerciseError) as error:
        check_linear_from_conv(
            lambda conv: linear_from_conv(
                conv, flatten=lambda w: w.permute(0, 2, 3, 1).flatten(1)
            )
        )
    assert str(error.value) == (
        "For patch size 8, the linear layer gives different tokens than the convolution (largest difference 3.28): "
        "flatten conv.weight (D, C, P, P) with .flatten(1) or .reshape(D, -1), so its (C, P, P) order matches the "
        "patches"
    )


@pytest.mark.parametrize(
    "mistake,message",
    [
        (
            "conv values",
            "The convolution form should return conv(x).flatten(2).transpose(1, 2), shape (2, 784, 32); "
            "got shape (2, 784, 32) with other values",
        ),
        (
            "linear shape",
            "The linear form should return shape (2, 784, 32), got (2, 392, 64)",
        ),
        (
            "linear size",
            "Expected nn.Linear(192, 32), with weight shape (32, 192), got (32, 193)",
        ),
        (
            "no projection",
            "With flatten_patches=False, self.projection must be an nn.Conv2d, got NoneType",
        ),
    ],
)
def test_learner_class_shape_mistakes_in_full(mistake, message):
    base = learner_class()

    class Wrong(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if mistake == "linear size" and self.flatten_patches:
                self.projection = torch.nn.Linear(self.patch_dim + 1, 32)
            if mistake == "no projection" and not self.flatten_patches:
                del self.projection

        def forward(self, images):
            tokens = super().forward(images)
            if mistake == "conv values" and not self.flatten_patches:
                return tokens.flip(1)
            if mistake == "linear shape" and self.flatten_patches:
                return tokens.reshape(2, -1, 64)
            return tokens

    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check_flexible_patch_embedding(Wrong)
    assert str(error.value) == message


def test_hf_reference_follows_the_model_and_loads_strictly(monkeypatch):
    pytest.importorskip(
        "transformers", reason="the reference is Hugging Face transformers"
    )
    from vitlesson import checkpoints

    model = vitlesson.VisionTransformer(
        img_size=16,
        patch_size=8,
        in_channels=1,
        embed_dim=16,
        depth=1,
        num_heads=2,
        qkv_bias=False,
    ).eval()
    reference = checkpoints.hf_vit_reference(model)
    assert (
        reference.config.num_channels == 1
        and reference.config.qkv_bias is False
    )
    assert (
        reference.config._attn_implementation == "sdpa"
        and reference.pooler is None
    )
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(
            reference(pixel_values=x).last_hidden_state,
            model.forward_features(x),
            atol=1e-5,
        )
    incomplete = checkpoints.to_hf_vit_state_dict

    def dropping_one(state_dict):
        converted = incomplete(state_dict)
        converted.pop("layernorm.bias")
        return converted

    monkeypatch.setattr(checkpoints, "to_hf_vit_state_dict", dropping_one)
    with pytest.raises(RuntimeError, match="Missing key"):
        checkpoints.hf_vit_reference(model)


def test_to_hf_refuses_a_head_in_full():
    from vitlesson.checkpoints import to_hf_vit_state_dict

    with pytest.raises(ValueError) as error:
        to_hf_vit_state_dict({"head.weight": torch.zeros(2, 2)})
    assert str(error.value) == (
        "No Hugging Face ViTModel key for 'head.weight' (a model with a head? use "
        "num_classes=0)"
    )


def test_flexible_patch_embedding_sizes():
    layer = vitlesson.FlexiblePatchEmbedding(224, 16, flatten_patches=False)
    assert (layer.grid_size, layer.n_patches, layer.patch_dim) == (
        (14, 14),
        196,
        768,
    )
    assert vitlesson.FlexiblePatchEmbedding((224, 112), 16).n_patches == 98


def test_neighbour_similarity_names_its_grid_argument():
    with pytest.raises(TypeError, match="^grid_size must be an int, got str"):
        neighbour_similarity(torch.rand(4, 8), "x")


@pytest.mark.parametrize(
    "mistake,message",
    [
        (
            "wrong count",
            "224/8: n_patches should be 784 (N = (H/P)·(W/P) = (224/8)²), got 783",
        ),
        (
            "missing",
            "224/8: n_patches should be 784 (N = (H/P)·(W/P) = (224/8)²), got None",
        ),
        (
            "conv offset",
            "The convolution form should return conv(x).flatten(2).transpose(1, 2), shape (2, 784, 32); "
            "got shape (2, 784, 32) with other values",
        ),
    ],
)
def test_more_learner_mistakes_in_full(mistake, message):
    class Wrong(learner_class()):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if mistake == "wrong count":
                self.n_patches -= 1
            if mistake == "missing":
                del self.n_patches

        def forward(self, images):
            tokens = super().forward(images)
            return (
                tokens + 0.01
                if mistake == "conv offset" and not self.flatten_patches
                else tokens
            )

    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check_flexible_patch_embedding(Wrong)
    assert str(error.value) == message


@pytest.mark.slow
def test_the_check_passes_the_channel_count_explicitly():
    class OneChannelByDefault(learner_class()):
        def __init__(
            self,
            img_size=224,
            patch_size=16,
            in_channels=1,
            embed_dim=768,
            flatten_patches=True,
        ):
            super().__init__(
                img_size, patch_size, in_channels, embed_dim, flatten_patches
            )

    with contextlib.redirect_stdout(io.StringIO()):
        check_flexible_patch_embedding(
            OneChannelByDefault
        )  # built with in_channels=3: passes


def test_attention_refuses_bad_dropout_rates_by_name():
    for name in ("attn_drop", "proj_drop"):
        with pytest.raises(
            ValueError, match=f"^{name} must be in \\[0, 1\\), got 1.5"
        ):
            Attention(8, 2, **{name: 1.5})


def test_a_non_square_training_grid_resamples_to_another_size():
    torch.manual_seed(0)
    model = vitlesson.VisionTransformer(
        img_size=(32, 16),
        patch_size=8,
        embed_dim=16,
        depth=1,
        num_heads=2,
        dynamic_img_size=True,
    ).eval()
    with torch.no_grad():
        tokens = model.forward_features(
            torch.randn(1, 3, 16, 32)
        )  # a 2x4 grid from a 4x2 table
    assert tokens.shape == (1, 9, 16)
    expected = vitlesson.resample_position_embedding(
        model.pos_embed, (2, 4), old_grid=(4, 2)
    )
    with torch.no_grad():
        assert torch.allclose(
            model.prepare_tokens(torch.zeros(1, 3, 16, 32))[:, 1:]
            - model.patch_embed(torch.zeros(1, 3, 16, 32)),
            expected[:, 1:],
            atol=1e-6,
        )


def test_rollout_in_double_precision_for_a_batch_of_three():
    from vitlesson.vit import attention_rollout

    torch.manual_seed(0)
    maps = torch.rand(3, 2, 2, 5, 5, dtype=torch.float64).softmax(
        dim=-1
    )  # batch 3, depth 2
    rollout = attention_rollout(maps)
    assert rollout.dtype == torch.float64 and rollout.shape == (3, 5, 5)
    assert torch.allclose(
        rollout.sum(-1), torch.ones(3, 5, dtype=torch.float64)
    )
    with pytest.raises(
        ValueError,
        match=r"^maps must have shape \(batch, depth, heads, tokens, tokens\), "
        r"got \(3, 2, 2, 5, 4\)",
    ):
        attention_rollout(maps[..., :4])
    with pytest.raises(TypeError, match="^maps must be a torch.Tensor"):
        attention_rollout([1.0])


def test_drop_path_defaults_and_names():
    from vitlesson.vit import DropPath

    assert DropPath().p == 0.0 and Block(8, 2).drop_path.p == 0.0
    x = torch.randn(4, 3, 8)
    assert torch.equal(
        DropPath().train()(x), x
    )  # p = 0: nothing dropped even in training
    with pytest.raises(
        ValueError, match=r"^drop_path must be in \[0, 1\), got 1.5"
    ):
        Block(8, 2, drop_path=1.5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "check, answer",
    [
        (check_linear_from_conv, linear_from_conv),
        (check_flexible_patch_embedding, learner_class()),
    ],
)
def test_checks_leave_the_learners_random_state_as_it_was(check, answer):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check(answer)
    assert torch.equal(torch.random.get_rng_state(), before)
