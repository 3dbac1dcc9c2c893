"""Checks for the hands-on exercise that say what is wrong, not just that something is.

Each ``check_*`` function runs a learner's code on inputs built so that mistakes
leave a recognisable trace: every pixel of the probe images encodes its own
channel, row and column, so a wrong reshape can be identified from the output
(columns mixed with rows, channels flattened last, ...). A check prints one line
per passed case and raises :class:`ExerciseError` with an explanation otherwise.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn

from vitlesson.patching import patchify

CONFIGURATIONS = [(224, 8), (224, 16), (224, 32), (384, 16)]


def _repeatable(check):
    """Run ``check`` with seed 0 in a forked random state: its random layers
    and images are the same every time, and the learner's own random state
    is left as it was."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return check(*args, **kwargs)

    return run


class ExerciseError(AssertionError):
    """An exercise check failed; the message says what was expected and what was found."""


def _learner_error(name: str, error: Exception, context: str) -> ExerciseError:
    """The learner's own exception as a check failure: a stub still in place says so."""
    if isinstance(error, NotImplementedError):
        return ExerciseError(
            f"{name} is not written yet (it still raises NotImplementedError): "
            "write it in its TODO cell, run that cell, then run this check again"
        )
    return ExerciseError(
        f"{name} raised {type(error).__name__}: {error} ({context})"
    )


def coordinate_images(
    batch: int, channels: int, height: int, width: int
) -> torch.Tensor:
    """Images whose pixel (b, c, y, x) holds a unique number, so any rearrangement can be traced."""
    return torch.arange(
        batch * channels * height * width, dtype=torch.float32
    ).reshape(batch, channels, height, width)


def _wrong_patch_orders(
    images: torch.Tensor, patch_size: int
) -> dict[str, torch.Tensor]:
    """Outputs of the typical wrong implementations, to recognise them in a learner's result."""
    batch, channels, height, width = images.shape
    rows, cols, p = height // patch_size, width // patch_size, patch_size
    x = images.reshape(
        batch, channels, rows, p, cols, p
    )  # (B, C, H/P, P, W/P, P)

    def arranged(order):
        return x.permute(*order).reshape(batch, rows * cols, channels * p * p)

    return {
        "the patches are in column-major order (your permute puts the column index before the row index, "
        "so token 1 is the patch *below* token 0, not the one to its right)": arranged(
            (0, 4, 2, 1, 3, 5)
        ),
        "each patch is flattened channels-last, as (P, P, C); a Conv2d weight flattens as (C, P, P), so put "
        "the channel dimension first inside each patch": arranged(
            (0, 2, 4, 3, 5, 1)
        ),
        "inside each patch, rows and columns are swapped (flattened as (C, P_w, P_h) instead of (C, P_h, P_w))": arranged(
            (0, 2, 4, 1, 5, 3)
        ),
        "the tokens are not patches: reshaping (B, C, H, W) straight to (B, N, C*P*P) without a permute mixes "
        "pixels of different patches into one token": images.reshape(
            batch, rows * cols, channels * p * p
        ),
    }


def check_manual_patching(manual_patching) -> None:
    """Check ``manual_patching(images, patch_size) -> (B, N, C*P*P)`` against every configuration."""
    for img_size, patch_size in CONFIGURATIONS:
        images = coordinate_images(2, 3, img_size, img_size)
        expected = patchify(images, patch_size)
        try:
            got = manual_patching(images, patch_size)
        except Exception as error:  # report the learner's own exception with the configuration it failed on
            raise _learner_error(
                "manual_patching",
                error,
                f"images {tuple(images.shape)}, patch size {patch_size}",
            ) from error
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(
                f"manual_patching must return a torch.Tensor, got {type(got).__name__}"
            )
        if got.shape != expected.shape:
            n, dim = expected.shape[1:]
            raise ExerciseError(
                f"For patch size {patch_size} on {img_size}x{img_size} images, expected shape {tuple(expected.shape)} "
                f"(batch, N = ({img_size}/{patch_size})² = {n}, C·P·P = 3·{patch_size}·{patch_size} = {dim}), "
                f"got {tuple(got.shape)}"
            )
        if not torch.equal(got, expected):
            for mistake, wrong in _wrong_patch_orders(
                images, patch_size
            ).items():
                if torch.equal(got, wrong):
                    raise ExerciseError(
                        f"Right shape, wrong order (patch size {patch_size}): {mistake}."
                    )
            raise ExerciseError(
                f"Right shape, wrong values for patch size {patch_size} on {img_size}x{img_size}: token 1 should be "
                f"images[:, :, 0:{patch_size}, {patch_size}:{2 * patch_size}] flattened (the second patch of the "
                "top row), channel first"
            )
        print(
            f"✓ manual_patching: {img_size}x{img_size}, P={patch_size} -> {tuple(got.shape)}"
        )


@_repeatable
def check_linear_from_conv(linear_from_conv) -> None:
    """Check ``linear_from_conv(conv) -> nn.Linear`` computing the same tokens as ``conv`` on patchified images."""
    for img_size, patch_size in CONFIGURATIONS:
        conv = nn.Conv2d(3, 32, kernel_size=patch_size, stride=patch_size)
        linear = linear_from_conv(conv)
        if not isinstance(linear, nn.Linear):
            raise ExerciseError(
                f"linear_from_conv must return an nn.Linear, got {type(linear).__name__}"
            )
        patch_dim = 3 * patch_size * patch_size
        if tuple(linear.weight.shape) != (32, patch_dim):
            raise ExerciseError(
                f"For patch size {patch_size}, expected nn.Linear({patch_dim}, 32) with weight shape (32, {patch_dim}), "
                f"got weight shape {tuple(linear.weight.shape)}"
                + (
                    ": the weight is transposed"
                    if tuple(linear.weight.shape) == (patch_dim, 32)
                    else ""
                )
            )
        images = torch.randn(1, 3, img_size, img_size)
        with torch.no_grad():
            expected = (
                conv(images).flatten(2).transpose(1, 2)
            )  # (1, D, H/P, W/P) -> (1, N, D)
            got = linear(patchify(images, patch_size))
            if (
                linear.bias is None
                or conv.bias is None
                or not torch.allclose(linear.bias, conv.bias)
            ):
                raise ExerciseError(
                    "The bias was not copied: linear.bias must equal conv.bias"
                )
            if not torch.allclose(got, expected, atol=1e-4):
                raise ExerciseError(
                    f"For patch size {patch_size}, the linear layer gives different tokens than the convolution "
                    f"(largest difference {(got - expected).abs().max():.3g}): flatten conv.weight (D, C, P, P) "
                    "with .flatten(1) or .reshape(D, -1), so its (C, P, P) order matches the patches"
                )
        print(
            f"✓ linear_from_conv: P={patch_size}, same tokens as the convolution"
        )


def check_configuration_table(
    configuration_table, embed_dim: int = 768
) -> None:
    """Check ``configuration_table(configs, embed_dim)`` -> one dict per (img_size, patch_size)."""
    try:
        rows = configuration_table(CONFIGURATIONS, embed_dim)
    except Exception as error:  # the learner's own exception, with context
        raise _learner_error(
            "configuration_table",
            error,
            f"configs {CONFIGURATIONS}, embed_dim {embed_dim}",
        ) from error
    if len(rows) != len(CONFIGURATIONS):
        raise ExerciseError(
            f"Expected {len(CONFIGURATIONS)} rows, one per configuration, got {len(rows)}"
        )
    for row, (img_size, patch_size) in zip(rows, CONFIGURATIONS, strict=True):
        patch_dim = 3 * patch_size * patch_size
        expected = {
            "n_patches": (img_size // patch_size) ** 2,
            "patch_dim": patch_dim,
            "params": patch_dim * embed_dim + embed_dim,
        }
        for key, value in expected.items():
            if key not in row:
                raise ExerciseError(
                    f"Row for {img_size}/{patch_size} has no {key!r} entry (it has {sorted(row)})"
                )
            if row[key] != value:
                hint = {
                    "n_patches": f"N = (H/P)·(W/P) = ({img_size}/{patch_size})²",
                    "patch_dim": f"C·P·P = 3·{patch_size}·{patch_size}: did you forget the 3 channels?",
                    "params": f"patch_dim·D + D (weights and bias) = {patch_dim}·{embed_dim} + {embed_dim}",
                }[key]
                raise ExerciseError(
                    f"{img_size}/{patch_size}: {key} should be {value} ({hint}), got {row[key]}"
                )
        print(f"✓ {img_size}/{patch_size}: {expected}")


def _build(cls, img_size, patch_size, flatten_patches):
    try:
        return cls(
            img_size,
            patch_size,
            in_channels=3,
            embed_dim=32,
            flatten_patches=flatten_patches,
        )
    except Exception as error:  # the learner's own exception, with context
        call = (
            f"{cls.__name__}({img_size}, {patch_size}, in_channels=3, "
            f"embed_dim=32, flatten_patches={flatten_patches})"
        )
        if isinstance(error, NotImplementedError):
            raise _learner_error(cls.__name__, error, call) from error
        raise ExerciseError(
            f"{call} raised {type(error).__name__}: {error}"
        ) from error


def _forward(layer, images, flatten_patches):
    try:
        return layer(images)
    except Exception as error:  # the learner's forward, with context
        raise _learner_error(
            f"{type(layer).__name__}.forward",
            error,
            f"flatten_patches={flatten_patches}, images {tuple(images.shape)}",
        ) from error


def _check_sizes(layer, img_size: int, patch_size: int) -> None:
    n, patch_dim = (img_size // patch_size) ** 2, 3 * patch_size**2
    hints = {
        "n_patches": (n, f"N = (H/P)·(W/P) = ({img_size}/{patch_size})²"),
        "patch_dim": (
            patch_dim,
            f"C·P·P = 3·{patch_size}·{patch_size}: "
            "did you forget the 3 channels?",
        ),
    }
    for name, (expected, hint) in hints.items():
        got = getattr(layer, name, None)
        if got != expected:
            raise ExerciseError(
                f"{img_size}/{patch_size}: {name} should be {expected} "
                f"({hint}), got {got}"
            )


@_repeatable
def check_flexible_patch_embedding(cls) -> None:
    """Check a learner's ``FlexiblePatchEmbedding`` class in both forms.

    For every configuration, the class is built twice (``flatten_patches``
    True and False), the convolution's weights are copied into the linear
    layer, and both must give the convolution's tokens (B, N, D). A wrong
    result is matched against the typical mistakes and named.
    """
    for img_size, patch_size in CONFIGURATIONS:
        linear = _build(cls, img_size, patch_size, True)
        conv = _build(cls, img_size, patch_size, False)
        for layer in (linear, conv):
            _check_sizes(layer, img_size, patch_size)
        kinds = {"True": (linear, nn.Linear), "False": (conv, nn.Conv2d)}
        for flag, (layer, kind) in kinds.items():
            if not isinstance(getattr(layer, "projection", None), kind):
                raise ExerciseError(
                    f"With flatten_patches={flag}, self.projection must be "
                    f"an nn.{kind.__name__}, got "
                    f"{type(getattr(layer, 'projection', None)).__name__}"
                )
        patch_dim = 3 * patch_size**2
        if tuple(linear.projection.weight.shape) != (32, patch_dim):
            raise ExerciseError(
                f"Expected nn.Linear({patch_dim}, 32), with weight shape "
                f"(32, {patch_dim}), got "
                f"{tuple(linear.projection.weight.shape)}"
            )
        images = torch.randn(2, 3, img_size, img_size)
        with torch.no_grad():
            weight = conv.projection.weight.flatten(1)  # (D, C*P*P)
            linear.projection.weight.copy_(weight)
            linear.projection.bias.copy_(conv.projection.bias)
            expected = conv.projection(images).flatten(2).transpose(1, 2)
            got_conv = _forward(conv, images, False)
            got_linear = _forward(linear, images, True)
        n = expected.shape[1]
        if tuple(got_conv.shape) == (2, 32, n):
            raise ExerciseError(
                "The convolution form returns (B, D, N): transpose it to "
                "(B, N, D) with .transpose(1, 2) after .flatten(2)"
            )
        if not torch.allclose(got_conv, expected, atol=1e-4):
            raise ExerciseError(
                f"The convolution form should return conv(x).flatten(2)"
                f".transpose(1, 2), shape {tuple(expected.shape)}; got "
                f"shape {tuple(got_conv.shape)} with other values"
            )
        if got_linear.shape != expected.shape:
            raise ExerciseError(
                f"The linear form should return shape "
                f"{tuple(expected.shape)}, got {tuple(got_linear.shape)}"
            )
        if not torch.allclose(got_linear, expected, atol=1e-4):
            bias = conv.projection.bias
            for mistake, wrong in _wrong_patch_orders(
                images, patch_size
            ).items():
                tokens = torch.nn.functional.linear(wrong, weight, bias)
                if torch.allclose(got_linear, tokens, atol=1e-4):
                    raise ExerciseError(
                        "The linear form gives other tokens than the "
                        f"convolution (patch size {patch_size}): {mistake}."
                    )
            raise ExerciseError(
                "With the convolution's weights copied in, the linear form "
                f"should give the convolution's tokens (patch size "
                f"{patch_size}); largest difference "
                f"{(got_linear - expected).abs().max():.3g}"
            )
        print(
            f"✓ FlexiblePatchEmbedding {img_size}/{patch_size}: both "
            f"forms give the same {tuple(expected.shape)} tokens"
        )
