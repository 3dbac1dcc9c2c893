"""Learners' answers to part 4's exercise, right and wrong.

Each corpus maps a mistake a learner makes to the answer that makes it and
a phrase the check's message must contain to name it; the right answers
are other correct formulations than the published solutions. A builder
takes the mistake to make as an argument and returns the function or class
a learner would write."""

import torch
import torch.nn as nn
import torch.nn.functional as F

import vitlesson
from vitlesson.patching import patchify as imported_patchify

# --- Task 1: manual_patching ------------------------------------------------


def reshape_then(order, channels=None, size=None, batch=None, square=False):
    """The reshape-permute-reshape answer; ``order`` is its permutation, and
    ``channels``, ``size`` or ``batch`` a number written instead of the
    one read from the input (``square``: the width taken for the height)."""

    def manual_patching(images, p):
        b, c, h, w = images.shape
        b, c = batch or b, channels or c
        h, w = (size, size) if size else (h, h) if square else (h, w)
        x = images.reshape(b, c, h // p, p, w // p, p).permute(*order)
        return x.reshape(b, (h // p) * (w // p), c * p * p)

    return manual_patching


RIGHT_ORDER = (0, 2, 4, 1, 3, 5)
right_patching = reshape_then(RIGHT_ORDER)


def grid_read_as_width_height(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, w // p, p, h // p, p).permute(*RIGHT_ORDER)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def without_return(images, p):
    right_patching(images, p)


def as_generator(images, p):
    yield right_patching(images, p)


def with_cls_token(images, p):
    patches = right_patching(images, p)
    return torch.cat([patches[:, :1] * 0, patches], dim=1)


PATCHING_MISTAKES = {
    "column-major": (
        reshape_then((0, 4, 2, 1, 3, 5)),
        r"token 1 is the patch \*below\* token 0",
    ),
    "channels-last": (
        reshape_then((0, 2, 4, 3, 5, 1)),
        r"flattened channels-last, as \(P, P, C\)",
    ),
    "rows and columns swapped in a patch": (
        reshape_then((0, 2, 4, 1, 5, 3)),
        "inside each patch, rows and columns are swapped",
    ),
    "no permute": (
        lambda x, p: x.reshape(x.shape[0], -1, x.shape[1] * p * p),
        "without a permute",
    ),
    "grid read as (W/P, H/P)": (
        grid_read_as_width_height,
        r"the grid is read as \(W/P, H/P\)",
    ),
    "one token short": (
        lambda x, p: right_patching(x, p)[:, :-1],
        r"dimension 1 \(tokens N\) should be 784, got 783; .*: one token short",
    ),
    "a CLS token added": (with_cls_token, "one token too many"),
    "unfold without the transpose": (
        lambda x, p: F.unfold(x, p, stride=p),
        r"dimensions 1 \(tokens N\) and 2 \(numbers C·P·P\) are swapped",
    ),
    "3 channels written": (
        reshape_then(RIGHT_ORDER, channels=3),
        "It passed with the lesson's settings; this run drew batch",
    ),
    "224 written": (
        reshape_then(RIGHT_ORDER, size=224),
        r"\(2, 3, 384, 384\), 16\) raised RuntimeError: .*It passed on "
        "224x224 images: read the image size from the input",
    ),
    "square images assumed": (
        reshape_then(RIGHT_ORDER, square=True),
        "It passed with the lesson's settings; this run drew batch",
    ),
    "batch 2 written": (
        reshape_then(RIGHT_ORDER, batch=2),
        "read every size from the inputs instead of writing a number",
    ),
    "a forgotten return": (
        without_return,
        "returned None: did you forget the `return`",
    ),
    "yield instead of return": (as_generator, "returned a generator"),
    "a NumPy array": (
        lambda x, p: right_patching(x, p).numpy(),
        "returned a ndarray object, not a torch.Tensor",
    ),
    "integer pixels": (
        lambda x, p: right_patching(x, p).long(),
        "a tensor of dtype torch.int64",
    ),
    "a scale added": (
        lambda x, p: right_patching(x, p) / 255,
        r"right shape, wrong values: image 0, token 0 \(patch row 0, "
        r"column 0\), number 0 \(channel 0, pixel row 0, column 0",
    ),
    "a crash": (
        lambda x, p: x.view(2, 3, 1, 2),
        r"manual_patching\(a tensor of shape \(2, 3, 224, 224\), 8\) "
        r"raised RuntimeError: .*; expected patches of shape "
        r"\(2, 784, 192\)",
    ),
    "the package's patchify": (
        vitlesson.patchify,
        "your code called vitlesson.patchify, the package's solution: "
        "write it yourself",
    ),
    "the package's patchify, imported before": (
        lambda x, p: imported_patchify(x, p),
        "your code called vitlesson.patchify",
    ),
    "nothing passed": (None, "should be your function or class, got None"),
}


def patches_by_unfold(images, p):
    return F.unfold(images, p, stride=p).transpose(1, 2)  # (B, N, C*P*P)


def patches_by_tensor_unfold(images, p):
    b, c, h, w = images.shape
    x = images.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/P, W/P, P, P)
    return x.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)


def patches_by_identity_conv(images, p):
    c = images.shape[1]
    eye = torch.eye(c * p * p).reshape(c * p * p, c, p, p)
    return F.conv2d(images, eye, stride=p).flatten(2).transpose(1, 2)


def patches_by_flatten(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 1, 3, 5).flatten(3).flatten(1, 2)


def patches_by_loops(images, p):
    h, w = images.shape[2:]
    return torch.stack(
        [
            images[:, :, y : y + p, x : x + p].flatten(1)
            for y in range(0, h, p)
            for x in range(0, w, p)
        ],
        dim=1,
    )


RIGHT_PATCHINGS = {
    "F.unfold": patches_by_unfold,
    "Tensor.unfold": patches_by_tensor_unfold,
    "F.conv2d with an identity kernel": patches_by_identity_conv,
    "permute, then flatten": patches_by_flatten,
    "loops over the grid": patches_by_loops,
    "the published solution": right_patching,
}


# --- Task 2: FlexiblePatchEmbedding -------------------------------------------


class ZeroConv(nn.Conv2d):
    def forward(self, images):
        return super().forward(images) * 0


class ZeroLinear(nn.Linear):
    def forward(self, patches):
        return super().forward(patches) * 0


def learner_class(
    patching=right_patching,
    channels=None,
    width=None,
    kernel_size=None,
    stride=None,
    linear_bias=True,
    conv_bias=True,
    linear=nn.Linear,
    conv=nn.Conv2d,
    transpose_conv=True,
    reshape_conv=False,
    conv_for_linear=False,
    transposed_linear=False,
    patch_dim_channels=True,
    extra_tokens=0,
    add_bias=True,
    returns=True,
    fail=False,
    base=nn.Module,
):
    """A learner's FlexiblePatchEmbedding, one mistake switched on at a
    time: ``channels``, ``width``, ``kernel_size`` and ``stride`` are
    numbers written instead of the arguments."""

    class FlexiblePatchEmbedding(base):
        def __init__(
            self,
            img_size=224,
            patch_size=16,
            in_channels=3,
            embed_dim=768,
            flatten_patches=True,
        ):
            super().__init__()
            if fail:
                raise RuntimeError("forgot super().__init__()")
            c = channels or in_channels
            d = width or embed_dim
            self.patch_size, self.flatten_patches = patch_size, flatten_patches
            self.n_patches = (img_size // patch_size) ** 2 + extra_tokens
            self.patch_dim = (c if patch_dim_channels else 1) * patch_size**2
            if flatten_patches and not conv_for_linear:
                sizes = (c * patch_size**2, d)
                self.projection = linear(
                    *(sizes[::-1] if transposed_linear else sizes),
                    bias=linear_bias,
                )
            else:
                self.projection = conv(
                    c,
                    d,
                    kernel_size=kernel_size or patch_size,
                    stride=stride or patch_size,
                    bias=conv_bias,
                )

        def forward(self, images):
            if self.flatten_patches:
                patches = patching(images, self.patch_size)
                if add_bias:
                    tokens = self.projection(patches)
                else:
                    tokens = F.linear(patches, self.projection.weight)
            else:
                x = self.projection(images).flatten(2)  # (B, D, N)
                if reshape_conv:
                    tokens = x.reshape(x.shape[0], -1, x.shape[1])
                else:
                    tokens = x.transpose(1, 2) if transpose_conv else x
            if returns:
                return tokens

    return FlexiblePatchEmbedding


class FormsIgnoringTheFlag(learner_class()):
    """Builds the right layer, but its forward always convolves."""

    def forward(self, images):
        return self.projection(images).flatten(2).transpose(1, 2)


CLASS_MISTAKES = {
    "channels-last patches": (
        learner_class(patching=reshape_then((0, 2, 4, 3, 5, 1))),
        "flattened channels-last",
    ),
    "column-major patches": (
        learner_class(patching=reshape_then((0, 4, 2, 1, 3, 5))),
        "column-major order",
    ),
    "patch_dim without channels": (
        learner_class(patch_dim_channels=False),
        r"patch_dim should be 192 \(C·P·P = 3·8·8: did you forget the "
        r"channels\?\), got 64",
    ),
    "conv output left (B, D, N)": (
        learner_class(transpose_conv=False),
        r"returns \(B, D, N\): transpose it",
    ),
    "conv output reshaped": (
        learner_class(reshape_conv=True),
        "reshaping the convolution's .* use .transpose",
    ),
    "a conv for both forms": (
        learner_class(conv_for_linear=True),
        "flatten_patches=True, self.projection must be an nn.Linear, got "
        "Conv2d",
    ),
    "__init__ raises": (
        learner_class(fail=True),
        r"FlexiblePatchEmbedding\(224, 8, in_channels=3, embed_dim=32, "
        r"flatten_patches=True\) raised RuntimeError: forgot super",
    ),
    "3 channels written": (
        learner_class(channels=3),
        r"patch_dim should be \d+ \(C·P·P = [124]·.*: use in_channels "
        r"\([124]\), not 3\)",
    ),
    "embed_dim ignored": (
        learner_class(width=768),
        "its out_features should be embed_dim = 32",
    ),
    "kernel_size 3": (
        learner_class(kernel_size=3),
        "its kernel_size should be the patch size 8",
    ),
    "stride 1": (
        learner_class(stride=1),
        "the convolution's stride should be the patch size 8, so that "
        "patches do not overlap; got",
    ),
    "bias=False on the Linear": (
        learner_class(linear_bias=False),
        r"flatten_patches=True, self.projection has no bias \(bias=False\)",
    ),
    "bias=False on the conv": (
        learner_class(conv_bias=False),
        r"flatten_patches=False, self.projection has no bias \(bias=False\)",
    ),
    "zeros from both forms": (
        learner_class(linear=ZeroLinear, conv=ZeroConv),
        r"The linear form \(flatten_patches=True\) returns only zeros",
    ),
    "zeros from the conv": (
        learner_class(conv=ZeroConv),
        r"The convolution form \(flatten_patches=False\) returns only zeros",
    ),
    "the bias forgotten in forward": (
        learner_class(add_bias=False),
        "the tokens lack the projection's bias",
    ),
    "a transposed Linear": (
        learner_class(transposed_linear=True),
        r"got weight shape \(192, 32\): the weight is transposed",
    ),
    "a forgotten return": (
        learner_class(returns=False),
        r"FlexiblePatchEmbedding.forward\(images of shape \(2, 3, 224, 224\)"
        r"\) returned None: did you forget the `return`",
    ),
    "a CLS token counted": (
        learner_class(extra_tokens=1),
        "n_patches should be 784 .*the CLS token is not a patch",
    ),
    "forward ignores the flag": (
        FormsIgnoringTheFlag,
        r"FormsIgnoringTheFlag.forward\(a tensor of shape "
        r"\(2, 3, 224, 224\)\) raised RuntimeError",
    ),
    "the package's patchify": (
        learner_class(patching=vitlesson.patchify),
        "your code called vitlesson.patchify, the package's solution",
    ),
    "the package's class": (
        learner_class(base=vitlesson.FlexiblePatchEmbedding),
        "your code called vitlesson.FlexiblePatchEmbedding",
    ),
    "patches with 3 channels written": (
        learner_class(patching=reshape_then(RIGHT_ORDER, channels=3)),
        "It passed with the lesson's settings; this run drew",
    ),
    "nothing passed": (
        None,
        "expects your class FlexiblePatchEmbedding itself, got None",
    ),
    "an instance passed": (
        learner_class()(),
        "itself, got a FlexiblePatchEmbedding object",
    ),
}


class ByConvFunction(nn.Module):
    """Both forms through torch.nn.functional, from the layer's weights."""

    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        flatten_patches=True,
    ):
        super().__init__()
        self.p, self.flat = patch_size, flatten_patches
        self.n_patches = (img_size // patch_size) ** 2
        self.patch_dim = in_channels * patch_size * patch_size
        self.projection = (
            nn.Linear(self.patch_dim, embed_dim)
            if flatten_patches
            else nn.Conv2d(in_channels, embed_dim, patch_size, patch_size)
        )

    def forward(self, images):
        w, b = self.projection.weight, self.projection.bias
        if self.flat:
            return patches_by_unfold(images, self.p) @ w.T + b
        x = F.conv2d(images, w, b, stride=self.p)  # (B, D, H/P, W/P)
        return torch.einsum("bdhw->bhwd", x).flatten(1, 2)  # (B, N, D)


RIGHT_CLASSES = {
    "the published solution": learner_class(),
    "unfold patches": learner_class(patching=patches_by_unfold),
    "F.conv2d and einsum": ByConvFunction,
    "padding='valid'": learner_class(
        conv=lambda *args, **kwargs: nn.Conv2d(
            *args, padding="valid", **kwargs
        )
    ),
}


# --- Task 3: configuration_table ----------------------------------------------


def table(configs, embed_dim, channels=3, bias=1, width=None, square=2):
    return [
        {
            "n_patches": (s // p) ** square,
            "patch_dim": channels * p * p,
            "params": (channels * p * p + bias) * (width or embed_dim),
        }
        for s, p in configs
    ]


LESSON_TABLE = table([(224, 8), (224, 16), (224, 32), (384, 16)], 768)


def table_as_generator(configs, embed_dim):
    yield from table(configs, embed_dim)


def table_without_return(configs, embed_dim):
    table(configs, embed_dim)


def table_by_token_count(configs, embed_dim):
    rows = table(configs, embed_dim)
    for row, (s, p) in zip(rows, configs, strict=True):
        row["n_patches"] = vitlesson.costs.token_count(s, p)
    return rows


def table_raising(configs, embed_dim):
    raise KeyError("n_patches")


TABLE_MISTAKES = {
    "the channels forgotten": (
        lambda c, d: table(c, d, channels=1),
        r"224/8: patch_dim should be 192 \(C·P·P = 3·8·8: did you forget "
        r"the 3 channels\?\), got 64",
    ),
    "the bias forgotten": (
        lambda c, d: table(c, d, bias=0),
        r"224/8: params should be 148224 .*: the bias is missing\), got "
        "147456",
    ),
    "embed_dim ignored": (
        lambda c, d: table(c, d, width=768),
        "that is the count for embed_dim 768, not",
    ),
    "hard-coded numbers": (
        lambda c, d: LESSON_TABLE,
        r"Expected 3 rows, one per configuration, got 4 .*It passed with "
        "the lesson's settings",
    ),
    "a row short": (
        lambda c, d: table(c, d)[:3],
        "Expected 4 rows, one per configuration, got 3",
    ),
    "another key": (
        lambda c, d: [{"patches": 1}] * 4,
        r"Row for 224/8 has no 'n_patches' entry \(it has \['patches'\]\)",
    ),
    "a CLS token counted": (
        lambda c, d: [
            dict(r, n_patches=r["n_patches"] + 1) for r in table(c, d)
        ],
        "224/8: n_patches should be 784 .*the CLS token is not a patch",
    ),
    "one side of the grid": (
        lambda c, d: table(c, d, square=1),
        "one side of the grid",
    ),
    "a forgotten return": (
        table_without_return,
        "returned None: did you forget the `return`",
    ),
    "yield instead of return": (table_as_generator, "returned a generator"),
    "rows of ints": (
        lambda c, d: [(s // p) ** 2 for s, p in c],
        "The row for 224/8 is 784; expected a dict",
    ),
    "rows reversed": (
        lambda c, d: table(c, d)[::-1],
        "it belongs to another configuration: keep the rows in the order",
    ),
    "numbers as text": (
        lambda c, d: [{k: str(v) for k, v in r.items()} for r in table(c, d)],
        "n_patches should be the number 784, got '784'",
    ),
    "a dict of rows": (
        lambda c, d: dict(zip(c, table(c, d), strict=True)),
        "returned a dict; expected a list of 4 dicts",
    ),
    "the package's token_count": (
        table_by_token_count,
        "your code called vitlesson.costs.token_count",
    ),
    "a crash": (
        table_raising,
        r"configuration_table\(\[\(224, 8\).*\], 768\) raised KeyError: "
        "'n_patches'",
    ),
}


def table_from_class(configs, embed_dim):
    """The published solution: sizes read from the learner's class."""
    cls = learner_class()
    return [
        {
            "n_patches": layer.n_patches,
            "patch_dim": layer.patch_dim,
            "params": sum(p.numel() for p in layer.parameters()),
        }
        for layer in (cls(s, p, embed_dim=embed_dim) for s, p in configs)
    ]


RIGHT_TABLES = {
    "the published solution": table_from_class,
    "by formula": table,
    "a tuple of rows, with floats": lambda c, d: tuple(
        {k: float(v) for k, v in r.items()} for r in table(c, d)
    ),
    "numbers as tensors": lambda c, d: [
        {k: torch.tensor(v) for k, v in r.items()} for r in table(c, d)
    ],
}
