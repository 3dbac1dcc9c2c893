import pytest
import torch

from vitlesson import (
    FlexiblePatchEmbedding,
    PatchEmbedding,
    patchify,
    unpatchify,
)

CONFIGS = [(img, patch) for img in (224, 384) for patch in (8, 16, 32)]


@pytest.mark.parametrize("img_size,patch_size", CONFIGS)
def test_patch_embedding_shape(img_size, patch_size):
    layer = PatchEmbedding(img_size, patch_size, in_channels=3, embed_dim=32)
    out = layer(torch.randn(2, 3, img_size, img_size))
    n = (img_size // patch_size) ** 2
    assert layer.n_patches == n
    assert out.shape == (2, n, 32)


def test_patch_embedding_defaults_and_checkpoint_layout():
    layer = PatchEmbedding()
    assert (
        layer.img_size,
        layer.patch_size,
        layer.in_channels,
        layer.embed_dim,
    ) == ((224, 224), 16, 3, 768)
    assert isinstance(layer.proj, torch.nn.Conv2d)
    assert layer.proj.weight.is_contiguous()  # safetensors can save it
    assert dict(
        (k, tuple(v.shape)) for k, v in layer.state_dict().items()
    ) == {
        "proj.weight": (768, 3, 16, 16),
        "proj.bias": (768,),
    }


def test_loaded_kernel_gives_the_convolution_tokens():
    """A conv checkpoint loads strictly and its tokens equal the conv's."""
    import copy

    layer = PatchEmbedding(32, 8, embed_dim=16)
    source = torch.nn.Conv2d(3, 16, kernel_size=8, stride=8)
    layer.load_state_dict(
        {
            "proj.weight": source.weight.detach(),
            "proj.bias": source.bias.detach(),
        }
    )
    x = torch.randn(2, 3, 32, 32)
    expected = source(x).flatten(2).transpose(1, 2)
    with torch.no_grad():
        for module in (layer, copy.deepcopy(layer)):
            assert torch.allclose(module(x), expected, atol=1e-5)


@pytest.mark.parametrize("img_size,patch_size", CONFIGS)
def test_patch_embedding_equals_its_convolution(img_size, patch_size):
    layer = PatchEmbedding(img_size, patch_size, embed_dim=48)
    x = torch.randn(2, 3, img_size, img_size)
    with torch.no_grad():
        expected = layer.proj(x).flatten(2).transpose(1, 2)
        assert torch.allclose(layer(x), expected, atol=1e-5)


@pytest.mark.parametrize("img_size,patch_size", CONFIGS)
def test_flexible_linear_and_conv_forms_agree_with_shared_weights(
    img_size, patch_size
):
    linear = FlexiblePatchEmbedding(
        img_size, patch_size, embed_dim=40, flatten_patches=True
    )
    conv = FlexiblePatchEmbedding(
        img_size, patch_size, embed_dim=40, flatten_patches=False
    )
    assert isinstance(linear.projection, torch.nn.Linear) and isinstance(
        conv.projection, torch.nn.Conv2d
    )
    assert (
        linear.patch_dim == 3 * patch_size**2
        and linear.n_patches == conv.n_patches
    )
    with torch.no_grad():
        linear.projection.weight.copy_(conv.projection.weight.flatten(1))
        linear.projection.bias.copy_(conv.projection.bias)
        x = torch.randn(2, 3, img_size, img_size)
        assert torch.allclose(linear(x), conv(x), atol=1e-5)


def test_flexible_forms_differ_if_the_patch_order_is_wrong():
    """The equivalence above is not vacuous: flattening (P, P, C) instead of (C, P, P) breaks it."""
    linear = FlexiblePatchEmbedding(32, 8, embed_dim=16, flatten_patches=True)
    conv = FlexiblePatchEmbedding(32, 8, embed_dim=16, flatten_patches=False)
    with torch.no_grad():
        linear.projection.weight.copy_(
            conv.projection.weight.permute(0, 2, 3, 1).flatten(1)
        )
        linear.projection.bias.copy_(conv.projection.bias)
        x = torch.randn(1, 3, 32, 32)
        assert not torch.allclose(linear(x), conv(x), atol=1e-3)


def test_manual_patching_shape_and_content():
    layer = FlexiblePatchEmbedding(224, 16)
    x = torch.randn(2, 3, 224, 224)
    patches = layer.manual_patching(x)
    assert patches.shape == (2, 196, 768)
    # token 14 is the first patch of the second row
    assert torch.equal(patches[1, 14], x[1, :, 16:32, 0:16].flatten())


@pytest.mark.parametrize(
    "shape,patch",
    [
        ((2, 3, 224, 224), 16),
        ((1, 1, 32, 48), 8),
        ((3, 5, 12, 6), 3),
        ((0, 3, 8, 8), 4),
    ],
)
def test_unpatchify_inverts_patchify(shape, patch):
    x = torch.randn(shape)
    patches = patchify(x, patch)
    assert patches.shape == (
        shape[0],
        (shape[2] // patch) * (shape[3] // patch),
        shape[1] * patch * patch,
    )
    assert torch.equal(unpatchify(patches, patch, shape[2:]), x)


def test_patchify_inverts_unpatchify():
    patches = torch.randn(2, 12, 3 * 4 * 4)
    assert torch.equal(patchify(unpatchify(patches, 4, (12, 16)), 4), patches)


def test_non_square_images():
    layer = PatchEmbedding(img_size=(224, 160), patch_size=16, embed_dim=8)
    assert layer.grid_size == (14, 10) and layer.n_patches == 140
    assert layer(torch.randn(1, 3, 224, 160)).shape == (1, 140, 8)


def test_batch_of_zero_images():
    assert PatchEmbedding(32, 8, embed_dim=4)(
        torch.randn(0, 3, 32, 32)
    ).shape == (0, 16, 4)


@pytest.mark.parametrize(
    "x,error,message",
    [
        (
            torch.randn(3, 224, 224),
            ValueError,
            r"shape \(batch, channels, height, width\), got 3 dimensions",
        ),
        (torch.randn(1, 1, 3, 224, 224), ValueError, "got 5 dimensions"),
        (
            torch.randn(1, 4, 224, 224),
            ValueError,
            "Expected 3 input channels, got 4",
        ),
        (
            torch.randn(1, 3, 240, 240),
            ValueError,
            r"Input image size \(240\*240\) doesn't match model \(224\*224\)",
        ),
        (
            torch.randn(1, 3, 224, 160),
            ValueError,
            r"\(224\*160\) doesn't match model \(224\*224\)",
        ),
        (
            torch.zeros(1, 3, 224, 224, dtype=torch.uint8),
            TypeError,
            "floating-point tensor, got dtype torch.uint8",
        ),
        (
            torch.zeros(1, 3, 224, 224, dtype=torch.float64),
            TypeError,
            "dtype torch.float64 but the module's parameters are torch.float32",
        ),
        ([[1.0]], TypeError, "must be a torch.Tensor, got list"),
    ],
)
@pytest.mark.parametrize(
    "module",
    [
        PatchEmbedding,
        FlexiblePatchEmbedding,
        lambda: FlexiblePatchEmbedding(flatten_patches=False),
    ],
)
def test_bad_inputs_are_named(module, x, error, message):
    with pytest.raises(error, match=message):
        module()(x)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (
            {"img_size": 225},
            ValueError,
            r"Image size \(225\*225\) is not divisible by patch size 16",
        ),
        (
            {"img_size": 224, "patch_size": 15},
            ValueError,
            "not divisible by patch size 15",
        ),
        ({"patch_size": 0}, ValueError, "patch_size must be positive, got 0"),
        (
            {"img_size": -224},
            ValueError,
            "img_size must be positive, got -224",
        ),
        ({"embed_dim": 0}, ValueError, "embed_dim must be positive, got 0"),
        (
            {"in_channels": 2.5},
            TypeError,
            r"in_channels must be an int, got float \(2.5\)",
        ),
        (
            {"img_size": (224, 224, 3)},
            ValueError,
            r"img_size must be an int or a \(height, width\) pair",
        ),
        (
            {"patch_size": "16"},
            TypeError,
            "patch_size must be an int, got str",
        ),
    ],
)
@pytest.mark.parametrize("module", [PatchEmbedding, FlexiblePatchEmbedding])
def test_bad_configurations_are_named(module, kwargs, error, message):
    with pytest.raises(error, match=message):
        module(**kwargs)


def test_patchify_refuses_sizes_it_would_have_to_crop():
    with pytest.raises(
        ValueError,
        match=r"Image size \(30\*32\) is not divisible by patch size 8",
    ):
        patchify(torch.randn(1, 3, 30, 32), 8)


@pytest.mark.parametrize(
    "patches,img_size,message",
    [
        (
            torch.randn(1, 15, 48),
            16,
            r"Expected 16 patches for a 16\*16 image with patch size 4, got 15",
        ),
        (
            torch.randn(1, 16, 50),
            16,
            r"patch_dim must be channels \* 4\*\*2, got 50",
        ),
        (
            torch.randn(16, 48),
            16,
            r"shape \(batch, n_patches, patch_dim\), got \(16, 48\)",
        ),
    ],
)
def test_unpatchify_errors(patches, img_size, message):
    with pytest.raises(ValueError, match=message):
        unpatchify(patches, 4, img_size)
