import copy

import pytest
import torch
import torch.nn.functional as F

import vitlesson
from vitlesson.checkpoints import hf_vit_reference, to_hf_vit_state_dict
from vitlesson.position import resample_position_embedding
from vitlesson.vit import Attention, Block


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


@pytest.mark.slow  # a ViT-S/16 at 224x224 through two implementations
def test_hf_parity_vit_small():
    transformers = pytest.importorskip(
        "transformers",
        reason="the parity reference is Hugging Face transformers",
    )
    torch.manual_seed(0)
    ours = vitlesson.vit_small(patch_size=16).eval()
    reference = hf_vit_reference(ours)
    assert (
        isinstance(reference, transformers.ViTModel)
        and reference.config.num_attention_heads == 6
    )
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        error = (
            (
                ours.forward_features(x)
                - reference(pixel_values=x).last_hidden_state
            )
            .abs()
            .max()
            .item()
        )
        assert error < 1e-5, error
        # the same resampling convention: HF's interpolate_pos_encoding on a 96x96 local crop and 224x160
        flexible = vitlesson.vit_small(patch_size=16, dynamic_img_size=True)
        flexible.load_state_dict(ours.state_dict())
        for size in [(96, 96), (224, 160)]:
            crop = torch.randn(2, 3, *size)
            hf = reference(
                pixel_values=crop, interpolate_pos_encoding=True
            ).last_hidden_state
            gap = (flexible.eval().forward_features(crop) - hf).abs().max()
            assert gap < 1e-5, size
    print(f"max |ours - HF ViTModel| over 2 x 197 x 384 features: {error:.2e}")


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
