"""``vitlesson.vit``: attention, the MLP, stochastic depth, the block and the Vision Transformer (defaults, factories, dropout, initialisation, attention maps, rollout), its export and compilation."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.export import Dim

import vitlesson
from tests.support.layer_inputs import (
    SETTINGS,
    dtypes,
    shapes,
    small_ints,
    small_shapes,
    tensor,
    tiny_vit,
)
from tests.support.refusals import expect
from vitlesson.data.images import (
    sample_image,
)
from vitlesson.position import (
    resample_position_embedding,
)
from vitlesson.tools.checkpoints import to_hf_vit_state_dict
from vitlesson.vit import (
    Attention,
    Block,
    DropPath,
    Mlp,
    VisionTransformer,
    attention_rollout,
    attention_weights,
)


def tiny(**kwargs):
    """A test-sized ViT (like HF's tiny tester configs): 2 blocks, 32 dimensions, 4 heads."""
    config = dict(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4
    )
    return vitlesson.VisionTransformer(**(config | kwargs)).eval()


def dino_keys(
    depth: int, dim: int, n_tokens: int, patch: int
) -> dict[str, tuple]:
    """The key names and shapes of DINO's (and timm's) vision_transformer with num_classes=0."""
    keys = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, n_tokens, dim),
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
        "norm.weight": (dim,),
        "norm.bias": (dim,),
    }
    for i in range(depth):
        keys |= {
            f"blocks.{i}.norm1.weight": (dim,),
            f"blocks.{i}.norm1.bias": (dim,),
            f"blocks.{i}.attn.qkv.weight": (3 * dim, dim),
            f"blocks.{i}.attn.qkv.bias": (3 * dim,),
            f"blocks.{i}.attn.proj.weight": (dim, dim),
            f"blocks.{i}.attn.proj.bias": (dim,),
            f"blocks.{i}.norm2.weight": (dim,),
            f"blocks.{i}.norm2.bias": (dim,),
            f"blocks.{i}.mlp.fc1.weight": (4 * dim, dim),
            f"blocks.{i}.mlp.fc1.bias": (4 * dim,),
            f"blocks.{i}.mlp.fc2.weight": (dim, 4 * dim),
            f"blocks.{i}.mlp.fc2.bias": (dim,),
        }
    return keys


@pytest.mark.parametrize(
    "factory,dim,patch",
    [
        (vitlesson.vit_small, 384, 16),
        (vitlesson.vit_small, 384, 8),
        (vitlesson.vit_base, 768, 16),
        (vitlesson.vit_tiny, 192, 16),
    ],
)
def test_state_dict_has_dino_and_timm_layout(factory, dim, patch):
    with torch.device("meta"):  # shapes only: a ViT-B in milliseconds
        model = factory(patch_size=patch)
    n_tokens = (224 // patch) ** 2 + 1
    assert {
        k: tuple(v.shape) for k, v in model.state_dict().items()
    } == dino_keys(12, dim, n_tokens, patch)
    assert all(
        m.eps == 1e-6
        for m in model.modules()
        if isinstance(m, torch.nn.LayerNorm)
    )


@pytest.mark.slow
def test_head_keys_and_output():
    torch.manual_seed(0)
    model = tiny(num_classes=10).eval()
    assert tuple(model.state_dict()["head.weight"].shape) == (10, 32)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        cls = model.forward_features(x)[:, 0]  # (3, 32)
        assert torch.allclose(
            model(x), cls @ model.head.weight.T + model.head.bias, atol=1e-6
        )
        backbone = tiny().eval()  # num_classes=0: the CLS feature itself
        backbone.load_state_dict(
            {
                k: v
                for k, v in model.state_dict().items()
                if not k.startswith("head.")
            }
        )
        assert torch.equal(backbone(x), cls)


@pytest.mark.slow
def test_checkpoint_round_trip_strict():
    torch.manual_seed(0)
    source, target = tiny(), tiny()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(source(x), target(x))
    target.load_state_dict(copy.deepcopy(source.state_dict()), strict=True)
    assert torch.equal(source(x), target(x))


def test_cls_feature_is_normalised_cls_token():
    model = tiny()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 17, 32)
        assert torch.equal(model(x), features[:, 0])
        assert torch.allclose(
            features.mean(-1), torch.zeros(2, 17), atol=1e-5
        )  # LayerNorm with init weights


def test_sdpa_path_equals_explicit_attention():
    torch.manual_seed(0)
    attention = Attention(32, num_heads=4).eval()
    x = torch.randn(2, 10, 32)
    fast, none = attention(x)
    slow, weights = attention(x, return_attention=True)
    assert none is None and weights.shape == (2, 4, 10, 10)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 10), atol=1e-5)


def test_block_is_permutation_equivariant():
    torch.manual_seed(0)
    block = Block(32, num_heads=4).eval()
    x, order = torch.randn(1, 9, 32), torch.randperm(9)
    assert torch.allclose(block(x)[:, order], block(x[:, order]), atol=1e-5)


def test_last_selfattention_and_intermediate_layers():
    model = tiny()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        attention = model.get_last_selfattention(x)
        layers = model.get_intermediate_layers(x, n=2)
    assert attention.shape == (2, 4, 17, 17)
    assert torch.allclose(attention.sum(-1), torch.ones(2, 4, 17), atol=1e-5)
    assert len(layers) == 2 and all(
        layer.shape == (2, 17, 32) for layer in layers
    )
    assert torch.allclose(layers[-1], model.forward_features(x), atol=1e-6)
    with pytest.raises(
        ValueError, match="n must be at most depth \\(2\\), got 3"
    ):
        model.get_intermediate_layers(x, n=3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "size,tokens",
    [((96, 96), 37), ((384, 384), 577), ((224, 160), 141), ((224, 224), 197)],
)
def test_dynamic_img_size(size, tokens):
    """A dynamic model equals a model built for that size with the resampled position table."""
    torch.manual_seed(0)
    model = tiny(img_size=224, patch_size=16, dynamic_img_size=True).eval()
    fixed = tiny(img_size=size, patch_size=16).eval()
    weights = dict(model.state_dict())
    weights["pos_embed"] = vitlesson.resample_position_embedding(
        weights["pos_embed"], (size[0] // 16, size[1] // 16)
    )
    fixed.load_state_dict(weights)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, tokens, 32)
        assert torch.allclose(features, fixed.forward_features(x), atol=1e-6)
        assert torch.allclose(
            model.get_last_selfattention(x),
            fixed.get_last_selfattention(x),
            atol=1e-6,
        )


def test_wrong_size_without_the_switch():
    with pytest.raises(
        ValueError,
        match=r"Input image size \(96\*96\) doesn't match model \(224\*224\)",
    ):
        tiny(img_size=224, patch_size=16)(torch.randn(1, 3, 96, 96))
    with pytest.raises(
        ValueError,
        match=r"Image size \(100\*96\) is not divisible by patch size 16",
    ):
        tiny(img_size=224, patch_size=16, dynamic_img_size=True)(
            torch.randn(1, 3, 100, 96)
        )


def test_resample_keeps_cls_and_identity():
    pos = torch.randn(1, 1 + 14 * 14, 8)
    same = resample_position_embedding(pos, 14)
    assert (
        torch.equal(same, pos) and same.data_ptr() != pos.data_ptr()
    )  # equal values, never an alias
    small = resample_position_embedding(pos, 6)
    assert small.shape == (1, 37, 8) and torch.equal(small[:, 0], pos[:, 0])
    assert resample_position_embedding(pos, (24, 16)).shape == (
        1,
        1 + 24 * 16,
        8,
    )


def test_resample_of_a_smooth_table_stays_smooth():
    rows = (
        torch.linspace(0, 1, 14).reshape(14, 1, 1).expand(14, 14, 1)
    )  # a ramp down the grid
    pos = torch.cat([torch.zeros(1, 1, 1), rows.reshape(1, 196, 1)], dim=1)
    resized = resample_position_embedding(pos, 7)[0, 1:, 0].reshape(7, 7)
    assert torch.all(
        resized[1:] > resized[:-1]
    )  # still increasing down the rows
    assert torch.allclose(
        resized[:, 0], resized[:, -1]
    )  # still constant along a row


def test_resample_matches_timm_convention_without_antialias():
    """timm's resample_abs_pos_embed: bicubic, size=, align_corners=False; antialias on by default."""
    torch.manual_seed(0)
    pos = torch.randn(1, 197, 16)
    grid = pos[:, 1:].reshape(1, 14, 14, 16).permute(0, 3, 1, 2)
    for antialias in (False, True):
        expected = F.interpolate(
            grid,
            size=(6, 6),
            mode="bicubic",
            align_corners=False,
            antialias=antialias,
        )
        expected = expected.permute(0, 2, 3, 1).reshape(1, 36, 16)
        assert torch.allclose(
            resample_position_embedding(pos, 6, antialias=antialias)[:, 1:],
            expected,
        )


@pytest.mark.parametrize(
    "args,message",
    [
        (
            (torch.randn(1, 197, 8), 6, None, 2),
            r"195 patch positions \(after num_prefix_tokens=2\) are not a square grid: pass old_grid",
        ),
        (
            (torch.randn(197, 8), 6),
            r"pos_embed must have shape \(1, 1 \+ rows\*cols, D\), got \(197, 8\)",
        ),
        (
            (torch.randn(1, 197, 8), 6, (14, 13)),
            r"old_grid 14x13 has 182 positions, pos_embed has 196",
        ),
        ((torch.randn(1, 197, 8), 0), r"new_grid must be positive, got 0"),
    ],
)
def test_resample_errors(args, message):
    with pytest.raises(ValueError, match=message):
        resample_position_embedding(*args)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (
            {"embed_dim": 30, "num_heads": 4},
            ValueError,
            r"embed_dim \(30\) must be divisible by num_heads \(4\)",
        ),
        (
            {"num_classes": -1},
            ValueError,
            "num_classes must be 0 or more, got -1",
        ),
        ({"depth": 0}, ValueError, "depth must be positive, got 0"),
        ({"num_heads": 2.0}, TypeError, "num_heads must be an int, got float"),
    ],
)
def test_bad_model_configurations(kwargs, error, message):
    with pytest.raises(error, match=message):
        tiny(**kwargs)


def test_attention_rejects_wrong_token_shape():
    with pytest.raises(
        ValueError,
        match=r"tokens must have shape \(batch, tokens, 32\), got \(2, 10, 16\)",
    ):
        Attention(32, 4)(torch.randn(2, 10, 16))


def test_to_hf_refuses_a_head():
    with pytest.raises(
        ValueError, match="No Hugging Face ViTModel key for 'head.weight'"
    ):
        to_hf_vit_state_dict(tiny(num_classes=3).state_dict())


def test_all_selfattention_and_rollout():
    from vitlesson.vit import attention_rollout

    torch.manual_seed(0)
    model = tiny().eval()  # depth 2
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        maps = model.get_all_selfattention(x)
        assert maps.shape == (2, 2, 4, 17, 17)
        assert torch.allclose(maps[:, -1], model.get_last_selfattention(x))
        rollout = attention_rollout(maps)
    eye = torch.eye(17)
    first, second = (0.5 * maps[:, i].mean(1) + 0.5 * eye for i in (0, 1))
    expected = second @ first  # rows of 0.5 A + 0.5 I already sum to 1
    assert torch.allclose(rollout, expected, atol=1e-6)
    assert torch.allclose(rollout.sum(-1), torch.ones(2, 17), atol=1e-5)
    with pytest.raises(
        ValueError,
        match=r"maps must have shape \(batch, depth, heads, tokens, tokens\)",
    ):
        attention_rollout(maps[0])


def test_forward_hooks_see_outputs_that_nothing_changes_afterwards():
    """Learners extract features with forward hooks: every submodule's output,
    cloned when its hook runs, must equal that same tensor after the whole
    forward pass (no in-place change of a returned tensor), with and without
    gradients."""
    import vitlesson

    model = vitlesson.VisionTransformer(
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        num_classes=3,
        drop_path_rate=0.0,
    )
    for grad in (True, False):
        kept = []

        def hook(module, inputs, output, kept=kept):
            if isinstance(output, torch.Tensor):
                kept.append((module, output, output.detach().clone()))

        handles = [
            m.register_forward_hook(hook)
            for m in model.modules()
            if m is not model
        ]
        with torch.set_grad_enabled(grad):
            model(torch.randn(2, 3, 32, 32))
        for handle in handles:
            handle.remove()
        assert len(kept) > 20
        changed = [
            type(m).__name__
            for m, out, copy in kept
            if not torch.equal(out.detach(), copy)
        ]
        assert changed == [], changed


def exportable(**kwargs):
    config = dict(
        img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2
    )
    torch.manual_seed(0)
    return vitlesson.VisionTransformer(**(config | kwargs)).eval()


@pytest.mark.slow  # each export traces the model: ~10 s on 2 cores
def test_export_with_a_dynamic_batch():
    model = exportable(num_classes=3)
    program = torch.export.export(
        model,
        (torch.randn(2, 3, 16, 16),),
        dynamic_shapes={"images": {0: Dim("batch")}},
    )
    for batch in (1, 5):
        x = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            assert torch.allclose(program.module()(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_export_with_dynamic_height_and_width():
    model = exportable(dynamic_img_size=True)
    # two or more patches a side: torch specialises a side of size 1
    rows, cols = Dim("rows", min=2, max=64), Dim("cols", min=2, max=64)
    program = torch.export.export(
        model,
        (torch.randn(2, 3, 16, 16),),
        dynamic_shapes={"images": {0: Dim("batch"), 2: 8 * rows, 3: 8 * cols}},
    )
    for shape in [(1, 3, 16, 24), (3, 3, 16, 16), (2, 3, 40, 16)]:
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(program.module()(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_free_height_and_width_are_refused_without_naming_img_size():
    """Sides that need not be multiples of the patch size: torch says how
    to write them; nothing mentions an img_size the user never passed."""
    with pytest.raises(Exception) as caught:
        torch.export.export(
            exportable(dynamic_img_size=True),
            (torch.randn(2, 3, 16, 16),),
            dynamic_shapes={"images": {2: Dim("h"), 3: Dim("w")}},
        )
    message = str(caught.value)
    assert "img_size" not in message and "SymInt" not in message, message
    assert "% 8" in message  # the guard: a side must be a multiple of P


@pytest.mark.slow
def test_compile_fullgraph_of_a_dynamic_img_size_model():
    model = exportable(dynamic_img_size=True)
    # fullgraph is dynamo's promise (no graph break), whatever the backend;
    # "eager" runs the captured graph without minutes of C++ code generation
    compiled = torch.compile(
        model, fullgraph=True, dynamic=True, backend="eager"
    )
    with torch.no_grad():
        for shape in [(2, 3, 16, 16), (3, 3, 32, 40)]:  # native, another
            x = torch.randn(shape)
            assert torch.allclose(compiled(x), model(x), atol=1e-5)


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


def test_attention_refuses_bad_dropout_rates_by_name():
    for name in ("attn_drop", "proj_drop"):
        with pytest.raises(
            ValueError, match=f"^{name} must be in \\[0, 1\\), got 1.5"
        ):
            Attention(8, 2, **{name: 1.5})


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


@SETTINGS
@given(
    img_size=st.sampled_from([16, 32, (32, 16)]),
    patch_size=st.sampled_from([4, 8, 16]),
    shape=shapes,
    dtype=dtypes,
    nan=st.booleans(),
    dynamic=st.booleans(),
)
def test_vision_transformer_forward(
    img_size, patch_size, shape, dtype, nan, dynamic
):
    def build():
        model = vitlesson.VisionTransformer(
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=16,
            depth=1,
            num_heads=2,
            dynamic_img_size=dynamic,
        ).eval()
        with torch.no_grad():
            return model.forward_features(tensor(shape, dtype, nan)), model

    def check(result):
        out, model = result
        b, _, h, w = shape
        assert h % patch_size == 0 and w % patch_size == 0
        assert out.shape == (b, (h // patch_size) * (w // patch_size) + 1, 16)
        if not dynamic:
            assert (h, w) == model.patch_embed.img_size

    expect(
        build,
        check,
        names=(
            "x",
            "img_size",
            "patch_size",
            "Image size",
            "image size",
            "images",
        ),
        values=(tuple(shape), dtype, img_size, *shape),
    )


@SETTINGS
@given(dim=small_ints, heads=small_ints, shape=shapes, dtype=dtypes)
def test_attention(dim, heads, shape, dtype):
    def build():
        return Attention(dim, heads)(tensor(shape, dtype, False))[0]

    def check(out):
        assert out.shape == tuple(shape) and shape[-1] == dim

    expect(
        build,
        check,
        names=("dim", "embed_dim", "num_heads", "x", "tokens"),
        values=(dim, heads, tuple(shape), dtype),
    )


widths = st.one_of(
    st.integers(-3, 40),
    st.floats(-2, 40),
    st.sampled_from(["8", None, True, 10**13]),
)


@SETTINGS
@given(
    dim=widths, hidden=widths, drop=st.one_of(st.floats(-1, 2), st.just(0.0))
)
def test_mlp_widths(dim, hidden, drop):
    def check_result(mlp):
        assert (
            all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0
                for v in (dim, hidden)
            )
            and 0 <= drop < 1
        )
        x = torch.randn(2, 3, dim)
        assert mlp.fc1.out_features == hidden and mlp(x).shape == x.shape

    expect(
        lambda: Mlp(dim, hidden, drop),
        check_result,
        names=("dim", "hidden_dim", "drop"),
        values=(dim, hidden, drop),
    )


@SETTINGS
@given(
    dim=st.sampled_from([6, 8, 16, 48, 384]),
    mlp_ratio=st.one_of(
        st.floats(0, 10),
        st.sampled_from([4.0, 4.1, 8 / 3, 1 / 3, 0.5, 2.5, 1e-9, 1e12]),
        st.fractions(0, 8, max_denominator=48).map(float),
    ),
)
def test_mlp_ratio_gives_a_width_a_loader_reads_back(dim, mlp_ratio):
    """A ratio is refused, naming mlp_ratio, unless dim * mlp_ratio is a
    whole width; then the width read back from fc1 (the loader's ratio,
    fc1 width / dim) builds the same block."""

    def check_result(block):
        width = block.mlp.fc1.out_features
        assert width >= 1 and abs(width - dim * mlp_ratio) < 1e-6 * width
        again = Block(dim, 2, mlp_ratio=width / dim)
        assert again.mlp.fc1.out_features == width

    expect(
        lambda: Block(dim, 2, mlp_ratio),
        check_result,
        names="mlp_ratio",
        values=(mlp_ratio,),
    )


@SETTINGS
@given(
    form=st.sampled_from(["Attention", "Block", "Mlp"]),
    shape=small_shapes,
    dtype=dtypes,
    explicit=st.booleans(),
)
def test_tokens_of_any_width_or_dtype(form, shape, dtype, explicit):
    module = {
        "Attention": lambda: Attention(8, 2),
        "Block": lambda: Block(8, 2),
        "Mlp": lambda: Mlp(8, 16),
    }[form]().eval()
    x = tensor(shape, dtype, False)

    def build():
        if form == "Mlp":
            return module(x)
        out = module(x, return_attention=explicit)
        return out[0] if isinstance(out, tuple) else out

    def check_result(out):
        assert len(shape) == 3 and shape[-1] == 8 and dtype == torch.float32
        assert out.shape == tuple(shape)

    expect(
        build,
        check_result,
        names=("x", "tokens"),
        values=(tuple(shape), dtype, *shape),
    )


@SETTINGS
@given(q_shape=small_shapes, k_shape=small_shapes, dtype=dtypes)
def test_attention_weights_of_any_queries_and_keys(q_shape, k_shape, dtype):
    def check_result(weights):
        assert len(q_shape) >= 2 and q_shape[:-2] == k_shape[:-2]
        assert q_shape[-1] == k_shape[-1] and dtype.is_floating_point
        assert k_shape[-2] > 0  # each row of weights sums to 1
        assert weights.shape[-2:] == (q_shape[-2], k_shape[-2])

    expect(
        lambda: attention_weights(
            tensor(q_shape, dtype, False), tensor(k_shape, dtype, False)
        ),
        check_result,
        names=("q", "k", "queries", "keys"),
        values=(tuple(q_shape), tuple(k_shape), dtype),
    )


# --- vit ---------------------------------------------------------------------


def test_attention_flag_must_be_a_bool():
    attention = Attention(16, 2)
    with pytest.raises(TypeError, match=r"^return_attention must be True"):
        attention(torch.randn(1, 3, 16), return_attention="yes")


def test_drop_path_names_its_input():
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        DropPath(0.1)([1.0])


def test_drop_path_zero_is_the_identity_in_training():
    drop = DropPath(0.0).train()
    x = torch.randn(4, 3, 8)
    state = torch.get_rng_state()
    assert drop(x) is x  # the same tensor, no copy
    assert torch.equal(torch.get_rng_state(), state)  # and no random draws


TINY = dict(img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=2)


def test_vit_blocks_too_large_are_named():
    # one block fits, 10**9 (13 TB) cannot: refused before the second
    with pytest.raises(
        ValueError,
        match=r"^1000000000 blocks of width 16 \(mlp_ratio=4\.0\) would "
        r"need [\d,.]+ GiB of memory \(3,280,000,000,000 numbers\); this "
        r"machine has [\d,.]+ GiB$",
    ):
        VisionTransformer(**{**TINY, "depth": 10**9})


@pytest.mark.slow  # ~1 s: the first meta computation loads its kernels
def test_rollout_stays_on_the_maps_device():
    maps = torch.empty(2, 1, 2, 3, 3, device="meta")
    rollout = attention_rollout(maps)
    assert rollout.device.type == "meta" and rollout.shape == (2, 3, 3)


def test_rollout_through_no_blocks_is_one_identity_per_image():
    rollout = attention_rollout(torch.rand(2, 0, 1, 3, 3))
    assert torch.equal(rollout, torch.eye(3).expand(2, 3, 3))


# --- flags that are not bools ----------------------------------------------


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None])
def test_return_attention_must_be_a_bool(value):
    x = torch.randn(1, 5, 8)
    for module in (Attention(8, 2), Block(8, 2)):
        with pytest.raises(
            TypeError,
            match=rf"^return_attention must be True or False, got "
            rf"{type(value).__name__} \({value!r}\)$",
        ):
            module(x, return_attention=value)


# --- widths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args,error,message",
    [
        ((16, 0), ValueError, "hidden_dim must be positive, got 0"),
        ((16, -4), ValueError, "hidden_dim must be positive, got -4"),
        ((0, 16), ValueError, "dim must be positive, got 0"),
        ((16, 64.0), TypeError, r"hidden_dim must be an int, got float"),
        ((16, 64, 1.0), ValueError, r"drop must be in \[0, 1\), got 1.0"),
        (
            (16, 10**12),
            ValueError,
            r"An MLP of width dim=16 -> hidden_dim=1,000,000,000,000 would "
            r"need [\d,.]+ GiB",
        ),
    ],
)
def test_mlp_widths_are_positive_ints_that_fit(args, error, message):
    with pytest.raises(error, match=message):
        Mlp(*args)


def test_mlp_ratio_that_int_would_truncate_is_refused():
    with pytest.raises(
        ValueError,
        match=r"mlp_ratio must give a whole hidden width, got 16 \* 4\.1 = "
        r"65\.6: int\(\) would build a width of 65; use mlp_ratio=4\.0625",
    ):
        Block(16, 2, mlp_ratio=4.1)
    with pytest.raises(ValueError, match="mlp_ratio must give a whole"):
        tiny_vit(mlp_ratio=2.3)  # 8 * 2.3 = 18.4


@pytest.mark.parametrize("dim,hidden", [(49, 1), (384, 1536), (768, 2048)])
def test_a_width_read_back_as_a_ratio_rebuilds_the_same_width(dim, hidden):
    """The loader passes fc1's width / dim: 49 * (1 / 49) is 0.999...,
    which int() would have truncated to 0."""
    block = Block(dim, 1, mlp_ratio=hidden / dim)
    assert block.mlp.fc1.out_features == hidden


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"num_classes": True}, TypeError, "num_classes must be an int"),
        (
            {"num_classes": 10**12},
            ValueError,
            "The head of num_classes=1,000,000,000,000 would need",
        ),
        ({"depth": 2.0}, TypeError, "depth must be an int, got float"),
        ({"embed_dim": 0}, ValueError, "embed_dim must be positive, got 0"),
        ({"num_heads": 0}, ValueError, "num_heads must be positive, got 0"),
        (
            {"mlp_ratio": 0},
            ValueError,
            r"mlp_ratio must be in \(0, inf\], got 0",
        ),
        ({"attn_drop_rate": -0.1}, ValueError, "attn_drop_rate must be in"),
        ({"drop_rate": "0.1"}, TypeError, "drop_rate must be a number"),
        ({"in_channels": 0}, ValueError, "in_channels must be positive"),
        (
            {"img_size": 16 * 10**6, "patch_size": 16},
            ValueError,
            r"A position table of \(1, 1000000000001, 8\) would need",
        ),
    ],
)
def test_vision_transformer_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        tiny_vit(**kwargs)


# --- tokens of the wrong width or dtype -------------------------------------


@pytest.mark.parametrize("module", [Attention(8, 2), Block(8, 2), Mlp(8, 16)])
@pytest.mark.parametrize(
    "x,error,message",
    [
        (
            torch.randn(2, 5, 6),
            ValueError,
            r"tokens must have shape \(batch, tokens, 8\), got \(2, 5, 6\)",
        ),
        (torch.randn(5, 8), ValueError, r"got \(5, 8\)"),
        (
            torch.randn(2, 5, 8, dtype=torch.float64),
            TypeError,
            r"tokens has dtype torch\.float64 but the module's parameters "
            r"are torch\.float32: call x\.to\(torch\.float32\)",
        ),
        (
            torch.zeros(2, 5, 8, dtype=torch.int64),
            TypeError,
            r"tokens must be a floating-point tensor, got dtype torch\.int64"
            r": call x\.float\(\) first",
        ),
        ([[0.0] * 8], TypeError, "tokens must be a torch.Tensor, got list"),
    ],
)
def test_tokens_of_the_wrong_width_or_dtype(module, x, error, message):
    with pytest.raises(error, match=message):
        module(x)


def test_attention_weights_and_rollout_inputs():
    with pytest.raises(
        ValueError,
        match=r"q and k must have shapes \(\.\.\., T, d\) and \(\.\.\., S, d\)"
        r".* got \(2, 5, 4\) and \(2, 5, 3\)",
    ):
        attention_weights(torch.randn(2, 5, 4), torch.randn(2, 5, 3))
    with pytest.raises(
        TypeError,
        match=r"^k has dtype torch\.float64 but q has torch\.float32: ",
    ):
        attention_weights(torch.randn(5, 4), torch.randn(5, 4).double())
    with pytest.raises(
        ValueError, match=r"^k is on device meta but q is on cpu: "
    ):
        attention_weights(torch.randn(5, 4), torch.randn(5, 4, device="meta"))
    weights = attention_weights(torch.randn(3, 4), torch.randn(6, 4))
    assert weights.shape == (3, 6)
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    with pytest.raises(TypeError, match="maps must be a floating-point"):
        attention_rollout(torch.zeros(1, 2, 2, 3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        DropPath(0.1)([1.0])


# --- factories pin their architecture ---------------------------------------

OTHER_DEFAULTS = dict(
    img_size=32,
    patch_size=8,
    in_channels=1,
    num_classes=5,
    embed_dim=48,
    depth=2,
    num_heads=4,
    mlp_ratio=2.0,
    qkv_bias=False,
)


def factory_shapes() -> dict[str, dict[str, tuple]]:
    from vitlesson.lab.dino.training import tiny_backbone
    from vitlesson.lab.train import tiny_vit as lab_tiny_vit

    factories = [
        vitlesson.vit_tiny,
        vitlesson.vit_small,
        vitlesson.vit_base,
        lab_tiny_vit,
        tiny_backbone,
    ]
    shapes = {}
    with torch.device("meta"):  # shapes only: no memory, no time
        for factory in factories:
            state = factory().state_dict()
            shapes[factory.__name__] = {k: v.shape for k, v in state.items()}
    return shapes


def test_factories_do_not_inherit_the_class_defaults(monkeypatch):
    before = factory_shapes()
    defaults = VisionTransformer.__init__.__kwdefaults__
    with torch.device("meta"):
        plain = VisionTransformer().state_dict()
    for name, value in OTHER_DEFAULTS.items():
        monkeypatch.setitem(defaults, name, value)
    with torch.device("meta"):
        changed = VisionTransformer().state_dict()
    # the class itself changed in every weight-shaping setting
    assert changed["pos_embed"].shape == (1, 17, 48)
    assert changed["patch_embed.proj.weight"].shape == (48, 1, 8, 8)
    assert changed["blocks.0.mlp.fc1.weight"].shape == (96, 48)
    assert "blocks.0.attn.qkv.bias" not in changed and "head.weight" in changed
    assert len(changed) < len(plain)  # 2 blocks instead of 12
    assert factory_shapes() == before
    # and the shipped weights still load into the factories' models
    from vitlesson.lab.dino.evaluation import load_backbone
    from vitlesson.lab.train import load_trained

    assert load_trained()[0].pos_embed.shape == (1, 65, 64)
    assert load_backbone().pos_embed.shape == (1, 65, 64)


# --- every option shows its effect, in training and in eval mode -------------

OPTION_BASE = dict(img_size=16, patch_size=8, embed_dim=16, depth=3)


@pytest.mark.parametrize(
    "rate", ["drop_rate", "attn_drop_rate", "drop_path_rate"]
)
def test_each_dropout_rate_acts_in_training_only(rate):
    """The same weights with and without the rate: in eval mode the
    outputs are equal; in training they differ from the plain model's and
    from one call to the next (a fresh draw each time). A rate has no
    parameters, so the weights load strictly."""
    torch.manual_seed(0)
    plain = vitlesson.VisionTransformer(**OPTION_BASE, num_heads=2)
    model = vitlesson.VisionTransformer(
        **OPTION_BASE, num_heads=2, **{rate: 0.5}
    )
    model.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), plain.eval()(x))
        reference = plain.train()(x)  # no rate: training changes nothing
        assert torch.equal(reference, plain.eval()(x))
        model.train()
        first, second = model(x), model(x)
    assert not torch.allclose(first, reference)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_qkv_bias_false_removes_the_bias_and_its_effect(training):
    """qkv_bias=False: no bias parameter in any block; the model equals a
    biased one whose biases are zero, and differs once they are not."""
    torch.manual_seed(0)
    biased = vitlesson.VisionTransformer(**OPTION_BASE, num_heads=2)
    unbiased = vitlesson.VisionTransformer(
        **OPTION_BASE, num_heads=2, qkv_bias=False
    )
    weights = biased.state_dict()
    biases = [k for k in weights if k.endswith("attn.qkv.bias")]
    assert len(biases) == 3 and not set(biases) & set(unbiased.state_dict())
    unbiased.load_state_dict(
        {k: v for k, v in weights.items() if k not in biases}, strict=True
    )
    x = torch.randn(2, 3, 16, 16)
    biased.train(training), unbiased.train(training)
    with torch.no_grad():
        assert torch.equal(unbiased(x), biased(x))  # biases start at zero
        for name in biases:
            biased.get_parameter(name).normal_()
        assert not torch.allclose(unbiased(x), biased(x))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_mlp_ratio_sets_the_hidden_width_that_acts(training):
    """mlp_ratio=2 gives hidden width 2·D in every block. A model of
    ratio 4 whose extra hidden units feed nothing (zero columns of fc2)
    computes the same; once they feed the output, it differs."""
    torch.manual_seed(0)
    narrow = vitlesson.VisionTransformer(
        **OPTION_BASE, num_heads=2, mlp_ratio=2.0
    )
    wide = vitlesson.VisionTransformer(**OPTION_BASE, num_heads=2)
    assert all(b.mlp.fc1.out_features == 32 for b in narrow.blocks)
    assert all(b.mlp.fc1.out_features == 64 for b in wide.blocks)
    with torch.no_grad():
        for key, value in narrow.state_dict().items():
            target = wide.state_dict()[key]  # shares storage with wide
            if key.endswith("fc1.weight") or key.endswith("fc1.bias"):
                target[:32] = value
            elif key.endswith("fc2.weight"):
                target[:, :32], target[:, 32:] = value, 0.0
            else:
                target.copy_(value)
        x = torch.randn(2, 3, 16, 16)
        narrow.train(training), wide.train(training)
        torch.testing.assert_close(wide(x), narrow(x))
        for block in wide.blocks:
            block.mlp.fc2.weight[:, 32:].normal_()
        assert not torch.allclose(wide(x), narrow(x))


# --- issue 36: inputs that were accepted silently, or refused too strictly -


def test_attention_weights_of_zero_width_tokens_are_refused():
    q = k = torch.zeros(1, 2, 3, 0)
    with pytest.raises(
        ValueError,
        match=r"^q and k must have d >= 1 numbers per token \(the scale is "
        r"1/sqrt\(d\)\), got shapes \(1, 2, 3, 0\) and \(1, 2, 3, 0\)$",
    ):
        attention_weights(q, k)


def test_rollout_of_no_heads_is_refused():
    with pytest.raises(
        ValueError,
        match=r"^maps must hold at least one head to average, got shape "
        r"\(1, 1, 0, 3, 3\)$",
    ):
        attention_rollout(torch.zeros(1, 1, 0, 3, 3))


@pytest.mark.parametrize(
    "maps,found",
    [
        (torch.full((1, 1, 2, 3, 3), 0.5), "a row summing to 1.5"),
        (
            torch.tensor([[0.5, 0.5], [1.5, -0.5]]).expand(1, 1, 1, 2, 2),
            "a weight of -0.5",
        ),
        (torch.full((1, 1, 1, 2, 2), float("nan")), "a row summing to nan"),
    ],
)
def test_rollout_of_scores_that_are_not_softmax_weights_is_refused(
    maps, found
):
    with pytest.raises(ValueError) as error:
        attention_rollout(maps)
    message = str(error.value)
    assert message.startswith(f"maps of shape {tuple(maps.shape)} must be ")
    assert found in message and "\n" not in message


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.bfloat16]
)
def test_rollout_accepts_softmax_weights_in_every_float_dtype(dtype):
    maps = torch.randn(2, 3, 4, 50, 50).softmax(dim=-1).to(dtype)
    rollout = attention_rollout(maps)
    sums = rollout.float().sum(dim=-1)
    torch.testing.assert_close(sums, torch.ones_like(sums), atol=0.05, rtol=0)


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 4), min_size=5, max_size=5),
    scale=st.sampled_from([None, 1.0, 3.0, -1.0]),
)
def test_rollout_of_any_maps_is_distributions_or_a_refusal(shape, scale):
    """Softmax rows (scale None) give rows that sum to 1; scaled ones, a
    wrong shape or no heads are refused in one line."""
    shape[-1] = shape[-2]
    maps = torch.randn(shape).softmax(dim=-1)
    if scale is not None and maps.numel():
        maps = maps * scale + (0.1 if scale == 1.0 else 0.0)

    def check_result(rollout):
        assert rollout.shape == (shape[0], shape[-1], shape[-1])
        if rollout.numel():
            torch.testing.assert_close(
                rollout.sum(-1), torch.ones(rollout.shape[:-1])
            )

    expect(
        lambda: attention_rollout(maps),
        check_result,
        names="maps",
        values=[maps],
    )


@SETTINGS
@given(
    q_shape=st.lists(st.integers(0, 4), min_size=2, max_size=4),
    k_rows=st.integers(0, 4),
)
def test_attention_weights_of_any_widths_are_rows_of_one_or_a_refusal(
    q_shape, k_rows
):
    q = torch.randn(q_shape)
    k = torch.randn(*q_shape[:-2], k_rows, q_shape[-1])

    def check_result(weights):
        assert weights.shape == (*q_shape[:-1], k_rows)
        assert torch.isfinite(weights).all()
        if weights.numel():
            torch.testing.assert_close(
                weights.sum(-1), torch.ones(weights.shape[:-1])
            )

    expect(
        lambda: attention_weights(q, k),
        check_result,
        names=("q", "k"),
        values=[q, k],
    )


# Every int or float setting of the core layers, in a value they accept.
_NUMBER_SETTINGS = {
    Attention: dict(dim=8, num_heads=2, attn_drop=0.1, proj_drop=0.1),
    Mlp: dict(dim=8, hidden_dim=16, drop=0.1),
    DropPath: dict(p=0.1),
    Block: dict(
        dim=8,
        num_heads=2,
        mlp_ratio=2.0,
        drop=0.1,
        attn_drop=0.1,
        drop_path=0.1,
    ),  # fmt: skip
    VisionTransformer: dict(
        img_size=16,
        patch_size=8,
        in_channels=3,
        num_classes=4,
        embed_dim=8,
        depth=2,
        num_heads=2,
        mlp_ratio=2.0,
        drop_rate=0.1,
        attn_drop_rate=0.1,
        drop_path_rate=0.1,
    ),  # fmt: skip
    vitlesson.PatchEmbedding: dict(
        img_size=16, patch_size=8, in_channels=3, embed_dim=8
    ),
    vitlesson.FlexiblePatchEmbedding: dict(
        img_size=16, patch_size=8, in_channels=3, embed_dim=8
    ),
    vitlesson.PositionalEmbedding: dict(n_patches=4, embed_dim=8, dropout=0.1),
    vitlesson.VisionTransformerEmbedding: dict(
        img_size=16, patch_size=8, in_channels=3, embed_dim=8, dropout=0.1
    ),
}


def _wrapped(value, form: str):
    """``value`` as a NumPy scalar, a 0-d NumPy array or a 0-d tensor."""
    import numpy as np

    if form == "numpy scalar":
        return np.int64(value) if type(value) is int else np.float32(value)
    return np.array(value) if form == "numpy array" else torch.tensor(value)


def _input_for(layer):
    if isinstance(layer, (Attention, Block, Mlp, DropPath)):
        return torch.randn(2, 3, 8)
    if isinstance(layer, vitlesson.PositionalEmbedding):
        return torch.randn(2, 5, 8)
    return torch.rand(2, 3, 16, 16)


def _plain_attributes(module):
    """(name, value) of every number a module or its sub-modules keeps
    that is not a Python number."""
    return [
        (name, type(value).__name__)
        for sub in module.modules()
        for name, value in vars(sub).items()
        if not name.startswith("_")
        and type(value).__module__ in ("numpy", "torch")
        and not isinstance(value, (torch.nn.Module, torch.dtype))
    ]


@SETTINGS
@given(
    cls=st.sampled_from(list(_NUMBER_SETTINGS)),
    data=st.data(),
    form=st.sampled_from(["numpy scalar", "numpy array", "tensor"]),
)
def test_core_layers_take_numpy_and_0d_tensor_numbers_as_numbers(
    cls, data, form
):
    """``PatchEmbedding(np.int64(224))``, ``dropout=np.float32(0.1)``: each
    setting is the number it holds, kept as a Python number, so that the
    layer runs, trains and pickles as with plain numbers."""
    import pickle

    settings = _NUMBER_SETTINGS[cls]
    name = data.draw(st.sampled_from(sorted(settings)), label="setting")
    layer = cls(**settings | {name: _wrapped(settings[name], form)})
    assert _plain_attributes(layer) == []
    x = _input_for(layer)
    layer.train()
    out = layer(x)
    out = out[0] if isinstance(out, tuple) else out
    if out.requires_grad:  # DropPath has no weights
        out.sum().backward()  # trains
    copy_ = pickle.loads(pickle.dumps(layer.eval()))
    first, second = layer(x), copy_(x)
    first = first[0] if isinstance(first, tuple) else first
    second = second[0] if isinstance(second, tuple) else second
    torch.testing.assert_close(first, second)


@pytest.mark.parametrize("cls", list(_NUMBER_SETTINGS))
def test_core_models_pickle(cls):
    import pickle

    layer = cls(**_NUMBER_SETTINGS[cls]).eval()
    copy_ = pickle.loads(pickle.dumps(layer))
    x = _input_for(layer)
    first, second = layer(x), copy_(x)
    first = first[0] if isinstance(first, tuple) else first
    second = second[0] if isinstance(second, tuple) else second
    torch.testing.assert_close(first, second)


def test_patch_embedding_of_a_numpy_224_is_224():
    import numpy as np

    layer = vitlesson.PatchEmbedding(np.int64(224), np.int64(16))
    assert layer.img_size == (224, 224) and type(layer.patch_size) is int
    assert layer.n_patches == 196 and type(layer.n_patches) is int
