"""``vitlesson.patching``: patchify, PatchEmbedding and FlexiblePatchEmbedding (the two forms agree, tokens in raster order, every input refused by name)."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import vitlesson
from tests.support.layer_inputs import (
    SETTINGS,
    dtypes,
    shapes,
    sizes,
    small_ints,
    tensor,
    tiny_vit,
)
from tests.support.refusals import expect
from vitlesson import patchify, unpatchify
from vitlesson.patching import (
    FlexiblePatchEmbedding,
    PatchEmbedding,
    patch_config,
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


@pytest.mark.parametrize("patch_size,as_matmul", [(8, False), (32, True)])
def test_a_hook_on_proj_sees_the_convolution_output(patch_size, as_matmul):
    """As on DINO's, timm's and HF's models, proj runs once per forward and
    a hook on it sees the conv's (B, D, H/P, W/P) output, which forward
    turns into the tokens without a copy: computed by the convolution below
    32-pixel patches and by one matrix product from 32 on."""
    P = patch_size
    layer = PatchEmbedding(4 * P, P, embed_dim=16, dynamic_img_size=True)
    assert layer.proj.as_matmul is as_matmul
    seen = []
    layer.proj.register_forward_hook(lambda m, i, out: seen.append(out))
    x = torch.randn(2, 3, 4 * P, 3 * P)
    with torch.no_grad():
        tokens = layer(x)
        conv = torch.nn.functional.conv2d(
            x, layer.proj.weight, layer.proj.bias, stride=P
        )
    assert len(seen) == 1 and seen[0].shape == (2, 16, 4, 3)
    assert torch.allclose(seen[0], conv, atol=1e-5)
    assert torch.equal(seen[0].flatten(2).transpose(1, 2), tokens)
    assert seen[0].data_ptr() == tokens.data_ptr()  # the same numbers
    layer(x)
    assert len(seen) == 2


@pytest.mark.parametrize("img_size,patch_size", CONFIGS)
def test_patch_embedding_equals_its_convolution(img_size, patch_size):
    """A conv checkpoint (an independent nn.Conv2d) loads strictly, and the
    layer's tokens, and a copy's, equal that convolution's."""
    import copy

    layer = PatchEmbedding(img_size, patch_size, embed_dim=48)
    source = torch.nn.Conv2d(3, 48, kernel_size=patch_size, stride=patch_size)
    layer.load_state_dict(
        {
            "proj.weight": source.weight.detach(),
            "proj.bias": source.bias.detach(),
        }
    )
    x = torch.randn(2, 3, img_size, img_size)
    with torch.no_grad():
        # (B, D, H/p, W/p) -> (B, D, N) -> (B, N, D)
        expected = source(x).flatten(2).transpose(1, 2)
        for module in (layer, copy.deepcopy(layer)):
            assert torch.allclose(module(x), expected, atol=1e-5)


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


def test_flexible_patch_embedding_sizes():
    layer = vitlesson.FlexiblePatchEmbedding(224, 16, flatten_patches=False)
    assert (layer.grid_size, layer.n_patches, layer.patch_dim) == (
        (14, 14),
        196,
        768,
    )
    assert vitlesson.FlexiblePatchEmbedding((224, 112), 16).n_patches == 98


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


@SETTINGS
@given(
    img_size=sizes,
    patch_size=small_ints,
    in_channels=small_ints,
    embed_dim=small_ints,
    flexible=st.sampled_from([None, True, False]),
)
def test_patch_embedding_constructors(
    img_size, patch_size, in_channels, embed_dim, flexible
):
    def build():
        if flexible is None:
            return vitlesson.PatchEmbedding(
                img_size, patch_size, in_channels, embed_dim
            )
        return vitlesson.FlexiblePatchEmbedding(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            flatten_patches=flexible,
        )

    def check(layer):
        h, w = (
            (img_size, img_size)
            if isinstance(img_size, int)
            else tuple(img_size)
        )
        assert (
            h % patch_size == 0
            and w % patch_size == 0
            and min(h, w, patch_size, in_channels, embed_dim) > 0
        )
        assert layer.n_patches == (h // patch_size) * (w // patch_size)

    expect(
        build,
        check,
        names=(
            "img_size",
            "patch_size",
            "in_channels",
            "embed_dim",
            "Image size",
        ),
        values=(img_size, patch_size, in_channels, embed_dim),
    )


@SETTINGS
@given(
    shape=shapes,
    dtype=dtypes,
    nan=st.booleans(),
    patch_size=st.sampled_from([4, 8]),
    form=st.sampled_from(["default", "linear", "conv", "patchify"]),
)
def test_patch_embedding_forward(shape, dtype, nan, patch_size, form):
    layer = {
        "default": lambda: vitlesson.PatchEmbedding(32, patch_size, 3, 8),
        "linear": lambda: vitlesson.FlexiblePatchEmbedding(
            32, patch_size, 3, 8, flatten_patches=True
        ),
        "conv": lambda: vitlesson.FlexiblePatchEmbedding(
            32, patch_size, 3, 8, flatten_patches=False
        ),
        "patchify": lambda: lambda x: vitlesson.patchify(x, patch_size),
    }[form]()
    x = tensor(shape, dtype, nan)

    def check(out):
        b, c, h, w = shape  # anything else must have been refused
        n = (h // patch_size) * (w // patch_size)
        assert h % patch_size == 0 and w % patch_size == 0  # no silent crop
        assert out.shape == (
            (b, n, c * patch_size**2) if form == "patchify" else (b, n, 8)
        )
        if form != "patchify":
            assert (b, c, h, w)[1:] == (3, 32, 32)
        if nan and out.numel():
            assert out.isnan().any()  # NaN propagates, it is not hidden

    expect(
        lambda: layer(x),
        check,
        names=(
            "x",
            "img_size",
            "patch_size",
            "Image size",
            "image size",
            "images",
        ),
        values=(tuple(shape), dtype, *shape),
    )


# --- patching ----------------------------------------------------------------


def test_patch_config_checks_its_flags():
    with pytest.raises(TypeError, match=r"^dynamic_img_size must be True"):
        patch_config(8, 4, dynamic_img_size="yes")


def test_patch_config_refuses_a_kernel_no_machine_holds():
    # 10**12 x 3 x 4 x 4 numbers: 192 TB, whatever this machine's memory
    with pytest.raises(
        ValueError,
        match=r"^A patch kernel of 1000000000000 x 3 x 4 x 4 would need "
        r"[\d,.]+ GiB of memory \(48,000,000,000,000 numbers\)",
    ):
        patch_config(4, 4, embed_dim=10**12)
    assert patch_config(4, 4) == (1, 1)  # only the settings are checked


def test_patch_embedding_checks_dynamic_img_size():
    with pytest.raises(TypeError, match=r"^dynamic_img_size must be True"):
        PatchEmbedding(8, 4, 3, 16, dynamic_img_size="yes")


def test_flexible_grid_sizes_are_ints():
    layer = FlexiblePatchEmbedding(8, 4, in_channels=3, embed_dim=16)
    assert layer.grid_size == (2, 2) and layer.n_patches == 4
    assert [type(n) for n in (*layer.grid_size, layer.n_patches)] == [int] * 3


def test_flexible_refuses_images_on_another_device():
    layer = FlexiblePatchEmbedding(8, 4, in_channels=3, embed_dim=16)
    with pytest.raises(
        ValueError, match=r"^images are on device meta but the module's"
    ):
        layer(torch.empty(1, 3, 8, 8, device="meta"))


def test_the_conv_form_no_longer_returns_a_meta_tensor_silently():
    layer = vitlesson.FlexiblePatchEmbedding(
        16, 8, 3, 8, flatten_patches=False
    )
    with pytest.raises(ValueError, match="images are on device meta"):
        layer(torch.randn(1, 3, 16, 16, device="meta"))
    # a model and its input both on meta is fine: shapes without numbers
    with torch.device("meta"):
        model = tiny_vit()
        out = model(torch.randn(2, 3, 16, 16))
    assert out.device.type == "meta" and out.shape == (2, 8)


# --- issue 36: empty images, and suggestions the user can take -------------


@pytest.mark.parametrize("shape", [(1, 3, 0, 0), (2, 3, 0, 4), (1, 0, 4, 4)])
def test_patchify_of_an_empty_image_is_refused(shape):
    with pytest.raises(
        ValueError,
        match=r"^images must have at least one channel, row and column, got "
        rf"shape {re.escape(str(shape))}: there are no patches to cut$",
    ):
        patchify(torch.zeros(shape), 2)


def test_a_patch_larger_than_the_image_suggests_a_size_that_tiles_it():
    with pytest.raises(ValueError) as error:
        patchify(torch.zeros(1, 3, 4, 4), 10**18)
    message = str(error.value)
    assert message == (
        "Image size (4*4) is smaller than patch size 1000000000000000000: "
        "use a patch size that tiles it, such as 4 (nothing is cropped "
        "silently)"
    )


@SETTINGS
@given(
    height=st.integers(1, 64),
    width=st.integers(1, 64),
    patch_size=st.one_of(st.integers(1, 80), st.just(10**18)),
)
def test_every_suggested_size_is_one_the_user_can_use(
    height, width, patch_size
):
    """A refusal's suggestion is a patch size that tiles the image, or an
    image no larger than the one given that the patch size tiles."""
    images = torch.zeros(1, 1, height, width)
    try:
        patches = patchify(images, patch_size)
    except ValueError as error:
        message = str(error)
        assert "\n" not in message and str(patch_size) in message
        suggested = re.search(r"such as (\d+)(?:\*(\d+))?", message)
        assert suggested, message
        if suggested.group(2) is None:  # a patch size
            size = int(suggested.group(1))
            assert height % size == 0 and width % size == 0, message
        else:  # an image size
            rows, cols = int(suggested.group(1)), int(suggested.group(2))
            assert rows <= height and cols <= width, message
            assert rows % patch_size == 0 and cols % patch_size == 0
        return
    assert patches.shape == (
        1,
        (height // patch_size) * (width // patch_size),
        patch_size**2,
    )
