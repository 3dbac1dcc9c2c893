"""The checks of part 4's exercise: a flexible patch embedding.

Each check runs the learner's code first on the lesson's settings, then on
settings drawn for this run (other batches, channel counts, image sizes,
patch sizes and widths), and compares it with the check's own reference:
patches cut with ``Tensor.unfold``, tokens computed as ``patches @ W.T + b``
from the weights of the learner's layer. A wrong result is matched against
the typical mistakes and named. The check prints one line per passed case
and raises :class:`ExerciseError` otherwise.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn

from vitlesson import costs, patching
from vitlesson.exercises._harness import (
    ExerciseError,
    describe,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
    shape_mistake,
)

CONFIGURATIONS = [(224, 8), (224, 16), (224, 32), (384, 16)]

# The package's answers to this exercise, refused while a check runs.
SOLUTIONS = {
    "vitlesson.patchify": patching.patchify,
    "vitlesson.PatchEmbedding": patching.PatchEmbedding,
    "vitlesson.FlexiblePatchEmbedding": patching.FlexiblePatchEmbedding,
    "vitlesson.costs.token_count": costs.token_count,
}

TOKEN_DIMS = ("images B", "tokens N", "embedding D")


def reference_patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*P*P), cut with ``unfold``: the check's own
    patches, independent of the package's ``patchify``."""
    B, C, H, W = images.shape
    P = patch_size
    x = images.unfold(2, P, P).unfold(3, P, P)  # (B, C, H/P, W/P, P, P)
    x = x.permute(0, 2, 3, 1, 4, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(B, (H // P) * (W // P), C * P * P)  # (B, N, C*P*P)


def wrong_patch_orders(
    images: torch.Tensor, patch_size: int
) -> dict[str, torch.Tensor]:
    """What the typical wrong patchings return, to name them."""
    B, C, H, W = images.shape
    P, rows, cols = patch_size, H // patch_size, W // patch_size
    x = images.reshape(B, C, rows, P, cols, P)  # (B, C, H/P, P, W/P, P)

    def arranged(order):
        return x.permute(*order).reshape(B, rows * cols, C * P * P)

    swapped = images.reshape(B, C, cols, P, rows, P)  # grid read as W, H
    return {
        "the patches are in column-major order (your permute puts the "
        "column index before the row index, so token 1 is the patch "
        "*below* token 0, not the one to its right)": arranged(
            (0, 4, 2, 1, 3, 5)
        ),
        "each patch is flattened channels-last, as (P, P, C); a Conv2d "
        "weight flattens as (C, P, P), so put the channel dimension first "
        "inside each patch": arranged((0, 2, 4, 3, 5, 1)),
        "inside each patch, rows and columns are swapped (flattened as "
        "(C, P_w, P_h) instead of (C, P_h, P_w))": arranged(
            (0, 2, 4, 1, 5, 3)
        ),
        "the tokens are not patches: reshaping (B, C, H, W) straight to "
        "(B, N, C*P*P) without a permute mixes pixels of different patches "
        "into one token": images.reshape(B, rows * cols, C * P * P),
        "the grid is read as (W/P, H/P): the image's height H is "
        "images.shape[2], its width W images.shape[3], so reshape to "
        "(B, C, H/P, P, W/P, P)": swapped.permute(0, 2, 4, 1, 3, 5).reshape(
            B, rows * cols, C * P * P
        ),
    }


def _patch_element(images: torch.Tensor, patch_size: int):
    """Names element (b, n, k) of patches cut from ``images``."""
    P, cols = patch_size, images.shape[3] // patch_size

    def where(index: tuple[int, ...]) -> str:
        b, n, k = index
        c, y, x = k // (P * P), k % (P * P) // P, k % P
        row, col = n // cols, n % cols
        return (
            f"image {b}, token {n} (patch row {row}, column {col}), "
            f"number {k} (channel {c}, pixel row {y}, column {x} of the "
            f"patch, images[{b}, {c}, {row * P + y}, {col * P + x}])"
        )

    return where


def _token_element(grid_cols: int):
    def where(index: tuple[int, ...]) -> str:
        b, n, d = index
        return (
            f"image {b}, token {n} (patch row {n // grid_cols}, column "
            f"{n % grid_cols}), embedding number {d}"
        )

    return where


def _token_count_hint(got: int, expected: int) -> str:
    if got == expected + 1:
        return ": one token too many (N counts patches; no CLS token here)"
    if got == expected - 1:
        return ": one token short (N = (H/P)·(W/P), every patch a token)"
    return ""


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b.to(a.dtype), atol=1e-4, rtol=1e-4)
    )


def _drawn_note(settings: str) -> str:
    return (
        f"It passed with the lesson's settings; this run drew {settings}: "
        "read every size from the inputs instead of writing a number"
    )


# --- Task 1: cut images into patches ------------------------------------------


def _check_patches(manual_patching, images, patch_size, hint="") -> None:
    B, C, H, W = images.shape
    P = patch_size
    expected = reference_patches(images, P)
    call = f"manual_patching(images of shape {(B, C, H, W)}, {P})"
    wanted = (
        f"patches of shape {tuple(expected.shape)} (B, N = (H/P)·(W/P) = "
        f"{H // P}·{W // P}, C·P·P = {C}·{P}·{P})"
    )
    got = learner_call(
        "manual_patching",
        manual_patching,
        images.clone(),
        P,
        expected=wanted,
        hint=hint,
    )
    got = returned_tensor(call, got, wanted)
    end = f". {hint}" if hint else ""
    mistake = shape_mistake(
        got.shape, expected.shape, ("images B", "tokens N", "numbers C·P·P")
    )
    if mistake:
        raise ExerciseError(
            f"{call} returned {mistake}"
            + _token_count_hint(got.shape[1], expected.shape[1])
            + end
        )
    difference = first_difference(
        got, expected, _patch_element(images, P), atol=1e-6, rtol=1e-6
    )
    if difference:
        for name, wrong in wrong_patch_orders(images, P).items():
            if not _close(wrong, expected) and _close(got, wrong):
                raise ExerciseError(
                    f"{call}: right shape, wrong order (patch size {P}): "
                    f"{name}" + end
                )
        raise ExerciseError(
            f"{call}: right shape, wrong values: {difference} (each token "
            "is one patch, its numbers channel first, then pixel row, then "
            "column)" + end
        )


@seeded
def check_manual_patching(manual_patching, *, draw: random.Random) -> None:
    """Check ``manual_patching(images, patch_size) -> (B, N, C*P*P)``: on
    the lesson's four configurations, then on three settings drawn for this
    run (non-square images, other channel counts and batches)."""
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        first = CONFIGURATIONS[0][0]
        for img_size, P in CONFIGURATIONS:
            images = torch.randn(2, 3, img_size, img_size)
            hint = (
                f"It passed on {first}x{first} images: read the image size "
                "from the input instead of writing a number"
            )
            _check_patches(
                manual_patching, images, P, hint if img_size != first else ""
            )
            n = (img_size // P) ** 2
            print(
                f"✓ manual_patching: {img_size}x{img_size}, P={P} -> "
                f"(2, {n}, {3 * P * P})"
            )
        for _ in range(3):
            P = draw.choice([2, 3, 4, 5, 6, 7])
            rows, cols = draw.sample(range(2, 8), 2)
            B, C = draw.choice([1, 3, 4]), draw.choice([1, 2, 4])
            settings = (
                f"batch {B}, {C} channel{'s' * (C > 1)}, "
                f"{rows * P}x{cols * P} images, patch size {P}"
            )
            images = torch.randn(B, C, rows * P, cols * P)
            _check_patches(manual_patching, images, P, _drawn_note(settings))
    print(
        "✓ manual_patching: also right on 3 settings drawn for this run "
        "(non-square images, other channel counts and batches)"
    )


# --- Task 2: the class, in both forms -----------------------------------------


def _expected_sizes(layer, call, img_size, P, C) -> None:
    n, patch_dim = (img_size // P) ** 2, C * P * P
    checks = {
        "n_patches": (n, f"N = (H/P)·(W/P) = ({img_size}/{P})²"),
        "patch_dim": (patch_dim, f"C·P·P = {C}·{P}·{P}"),
    }
    for name, (expected, formula) in checks.items():
        got = getattr(layer, name, None)
        if got == expected:
            continue
        if name == "patch_dim" and got == P * P:
            formula += ": did you forget the channels?"
        elif name == "patch_dim" and got == 3 * P * P:
            formula += f": use in_channels ({C}), not 3"
        elif name == "n_patches" and got == n + 1:
            formula += ": the CLS token is not a patch"
        raise ExerciseError(
            f"{img_size}/{P}: {name} should be {expected} ({formula}), got "
            f"{got} (in {call})"
        )


def _checked_projection(
    layer, call, flag, P, C, D
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight (D, C*P*P) and bias of the layer's projection, if it is
    the one the task asks for."""
    kind = nn.Linear if flag else nn.Conv2d
    projection = getattr(layer, "projection", None)
    if not isinstance(projection, kind):
        raise ExerciseError(
            f"With flatten_patches={flag}, self.projection must be an "
            f"nn.{kind.__name__}, got {type(projection).__name__} (in {call})"
        )
    weight = getattr(projection, "weight", None)
    shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else ()
    if flag:
        expected: tuple[int, ...] = (D, C * P * P)
        form = f"nn.Linear({C * P * P}, {D}), weight shape {expected}"
        if shape == (C * P * P, D):
            reason = "the weight is transposed: nn.Linear(in, out)"
        elif shape[:1] != (D,):
            reason = f"its out_features should be embed_dim = {D}"
        elif shape[1:] == (3 * P * P,):
            reason = f"in_features uses 3 channels: use in_channels ({C})"
        else:
            reason = f"in_features should be C·P·P = {C}·{P}·{P}"
    else:
        expected = (D, C, P, P)
        form = f"nn.Conv2d({C}, {D}, kernel_size={P}, stride={P})"
        if shape[:1] != (D,):
            reason = f"its out_channels should be embed_dim = {D}"
        elif shape[1:2] != (C,):
            reason = f"its in_channels should be in_channels = {C}"
        else:
            reason = f"its kernel_size should be the patch size {P}"
    if shape != expected:
        raise ExerciseError(
            f"With flatten_patches={flag}, self.projection should be {form}; "
            f"got weight shape {shape}: {reason} (in {call})"
        )
    bias = getattr(projection, "bias", None)
    if not isinstance(bias, torch.Tensor):
        raise ExerciseError(
            f"With flatten_patches={flag}, self.projection has no bias "
            "(bias=False): ViT's patch embedding adds one, and the "
            f"configurations table counts it (in {call})"
        )
    if not flag:
        for name, right in (
            ("stride", (P, P)),
            ("padding", (0, 0)),
            ("dilation", (1, 1)),
            ("groups", 1),
        ):
            got = getattr(projection, name, None)
            if got != right and not (name == "padding" and got == "valid"):
                why = (
                    f"the patch size {P}, so that patches do not overlap"
                    if name == "stride"
                    else f"{right}: every patch is one P x P square"
                )
                raise ExerciseError(
                    f"With flatten_patches=False, the convolution's {name} "
                    f"should be {why}; got {got} (in {call})"
                )
    weight = projection.weight.detach().reshape(D, -1)  # (D, C*P*P)
    return weight, bias.detach()


def _named_token_mistakes(weight, bias, images, P, flag):
    """The tokens of the typical mistakes, computed with the learner's
    weights, to name a wrong result."""
    B = images.shape[0]
    patches = reference_patches(images, P)
    mistakes = {
        "the tokens lack the projection's bias: apply self.projection "
        "(or add its bias)": patches @ weight.T,
    }
    if flag:
        for name, wrong in wrong_patch_orders(images, P).items():
            mistakes[name] = wrong @ weight.T + bias
    else:
        grid = (patches @ weight.T + bias).transpose(1, 2)  # (B, D, N)
        mistakes[
            "reshaping the convolution's (B, D, N) output to (B, N, D) "
            "mixes embedding numbers and tokens: use .transpose(1, 2)"
        ] = grid.reshape(B, -1, weight.shape[0])
    return mistakes


def _check_form(cls, name, img_size, P, C, D, B, flag, hint) -> None:
    shown = (
        f"{name}({img_size}, {P}, in_channels={C}, embed_dim={D}, "
        f"flatten_patches={flag})"
    )
    end = f". {hint}" if hint else ""
    layer = learner_call(
        name,
        cls,
        img_size,
        P,
        in_channels=C,
        embed_dim=D,
        flatten_patches=flag,
        expected="a patch embedding layer",
        hint=hint,
    )
    _expected_sizes(layer, shown, img_size, P, C)
    weight, bias = _checked_projection(layer, shown, flag, P, C, D)
    images = torch.randn(B, C, img_size, img_size)
    N = (img_size // P) ** 2
    wanted = f"tokens of shape {(B, N, D)} from {shown}"
    call = f"{name}.forward(images of shape {tuple(images.shape)})"
    got = learner_call(
        f"{name}.forward",
        layer,
        images.clone(),
        expected=wanted,
        hint=hint,
    )
    got = returned_tensor(call, got, wanted)
    expected = reference_patches(images, P) @ weight.T + bias
    form = "linear" if flag else "convolution"
    if not flag and tuple(got.shape) == (B, D, N):
        raise ExerciseError(
            "The convolution form returns (B, D, N): transpose it to "
            "(B, N, D) with .transpose(1, 2) after .flatten(2) "
            f"(in {shown}){end}"
        )
    mistake = shape_mistake(got.shape, expected.shape, TOKEN_DIMS)
    if mistake:
        raise ExerciseError(
            f"The {form} form (flatten_patches={flag}) returned {mistake}"
            + _token_count_hint(got.shape[1], N)
            + f" (in {shown}){end}"
        )
    difference = first_difference(
        got, expected, _token_element(img_size // P), atol=1e-4, rtol=1e-3
    )
    if difference is None:
        return
    if bool((got == 0).all()):
        raise ExerciseError(
            f"The {form} form (flatten_patches={flag}) returns only zeros; "
            f"expected patches @ W.T + b from its own weights (in {shown})"
        )
    for mistake, wrong in _named_token_mistakes(
        weight, bias, images, P, flag
    ).items():
        if not _close(wrong, expected) and _close(got, wrong):
            raise ExerciseError(
                f"The {form} form gives other tokens than patches @ W.T + b "
                f"(patch size {P}): {mistake} (in {shown}){end}"
            )
    raise ExerciseError(
        f"The {form} form (flatten_patches={flag}) should give the "
        f"tokens patches @ W.T + b of its own weights; {difference} "
        f"(in {shown}){end}"
    )


@seeded
def check_flexible_patch_embedding(cls, *, draw: random.Random) -> None:
    """Check a learner's ``FlexiblePatchEmbedding`` class in both forms.

    On each of the lesson's configurations (3 channels, width 32), then on
    two drawn for this run (other channel counts, widths, batches and patch
    sizes), the class is built with ``flatten_patches`` True and False;
    each form must give the tokens ``patches @ W.T + b`` computed by the
    check from the weights of the form's own projection. Nothing is copied
    into the learner's layers.
    """
    name = getattr(cls, "__name__", "FlexiblePatchEmbedding")
    if not inspect.isclass(cls):
        raise ExerciseError(
            f"check_flexible_patch_embedding expects your class "
            f"FlexiblePatchEmbedding itself, got {describe(cls)}: run the "
            "cell that defines the class, then pass the class to the check"
        )
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        for img_size, P in CONFIGURATIONS:
            for flag in (True, False):
                _check_form(cls, name, img_size, P, 3, 32, 2, flag, "")
            print(
                f"✓ FlexiblePatchEmbedding {img_size}/{P}: both forms give "
                f"patches @ W.T + b, (2, {(img_size // P) ** 2}, 32) tokens"
            )
        for _ in range(2):
            P = draw.choice([2, 3, 4, 5, 6])
            grid = draw.choice([2, 3, 4, 5])
            C, D = draw.choice([1, 2, 4]), draw.choice([8, 12, 20, 24, 40])
            B = draw.choice([1, 3])
            settings = (
                f"{grid * P}x{grid * P} images, patch size {P}, "
                f"in_channels={C}, embed_dim={D}, batch {B}"
            )
            for flag in (True, False):
                _check_form(
                    cls,
                    name,
                    grid * P,
                    P,
                    C,
                    D,
                    B,
                    flag,
                    _drawn_note(settings),
                )
    print(
        "✓ FlexiblePatchEmbedding: also right on 2 settings drawn for this "
        "run (other channel counts, widths, batches and patch sizes)"
    )


# --- Task 3: the configurations table -----------------------------------------

KEYS = ("n_patches", "patch_dim", "params")


def _number(value: Any) -> float | None:
    """``value`` as a number, None if it is not one (bools are not)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _expected_row(img_size: int, P: int, D: int) -> dict[str, int]:
    patch_dim = 3 * P * P
    return {
        "n_patches": (img_size // P) ** 2,
        "patch_dim": patch_dim,
        "params": patch_dim * D + D,
    }


def _row_hint(key, got, img_size, P, D) -> str:
    N, patch_dim = (img_size // P) ** 2, 3 * P * P
    hints = {
        "n_patches": f"N = (H/P)·(W/P) = ({img_size}/{P})²",
        "patch_dim": f"C·P·P = 3·{P}·{P}",
        "params": f"patch_dim·D + D (weights and bias) = {patch_dim}·{D} + {D}",
    }
    hint = hints[key]
    if key == "patch_dim" and got == P * P:
        hint += ": did you forget the 3 channels?"
    elif key == "n_patches" and got == N + 1:
        hint += ": the CLS token is not a patch"
    elif key == "n_patches" and got == img_size // P:
        hint += ": that is one side of the grid"
    elif key == "params" and got == patch_dim * D:
        hint += ": the bias is missing"
    elif key == "params" and D != 768 and got == patch_dim * 768 + 768:
        hint += f": that is the count for embed_dim 768, not {D}"
    return hint


def _check_table(configuration_table, configs, D, hint="") -> list[dict]:
    end = f". {hint}" if hint else ""
    call = f"configuration_table({configs}, {D})"
    wanted = (
        f"a list of {len(configs)} dicts, one per configuration, with the "
        "keys 'n_patches', 'patch_dim' and 'params'"
    )
    rows = learner_call(
        "configuration_table",
        configuration_table,
        list(configs),
        D,
        expected=wanted,
        hint=hint,
    )
    if rows is None:
        raise ExerciseError(
            f"{call} returned None: did you forget the `return`? Expected "
            + wanted
        )
    if inspect.isgenerator(rows):
        raise ExerciseError(
            f"{call} returned a generator (a `yield`?): return {wanted}"
        )
    if not isinstance(rows, (list, tuple)):
        raise ExerciseError(
            f"{call} returned a {type(rows).__name__}; expected {wanted}"
        )
    if len(rows) != len(configs):
        raise ExerciseError(
            f"Expected {len(configs)} rows, one per configuration, got "
            f"{len(rows)} (in {call}){end}"
        )
    expected_rows = [_expected_row(s, P, D) for s, P in configs]
    for row, (img_size, P), expected in zip(
        rows, configs, expected_rows, strict=True
    ):
        label = f"{img_size}/{P}"
        if not isinstance(row, Mapping):
            raise ExerciseError(
                f"The row for {label} is {describe(row)}; expected a dict "
                f"with the keys {', '.join(map(repr, KEYS))} (in {call})"
            )
        for key, value in expected.items():
            if key not in row:
                raise ExerciseError(
                    f"Row for {label} has no {key!r} entry (it has "
                    f"{sorted(map(str, row))})"
                )
            got = _number(row[key])
            if got == value:
                continue
            if got is None:
                raise ExerciseError(
                    f"{label}: {key} should be the number {value}, got "
                    f"{describe(row[key])} (in {call})"
                )
            if any(
                other[key] == got and other != expected
                for other in expected_rows
            ):
                hint_text = "it belongs to another configuration: keep the "
                hint_text += "rows in the order of configs"
            else:
                hint_text = _row_hint(key, got, img_size, P, D)
            raise ExerciseError(
                f"{label}: {key} should be {value} ({hint_text}), got "
                f"{row[key]}" + (f" (in {call}){end}" if hint else "")
            )
    return expected_rows


@seeded
def check_configuration_table(
    configuration_table: Callable, *, draw: random.Random
) -> None:
    """Check ``configuration_table(configs, embed_dim)``: one dict per
    ``(img_size, patch_size)`` with ``n_patches``, ``patch_dim`` and
    ``params``; on the lesson's configurations with width 768, then on
    configurations and a width drawn for this run."""
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        rows = _check_table(configuration_table, CONFIGURATIONS, 768)
        for (img_size, P), row in zip(CONFIGURATIONS, rows, strict=True):
            print(f"✓ {img_size}/{P}: {row}")
        P = draw.choice([4, 5, 6, 7])
        sizes = draw.sample(range(3, 12), 3)
        configs = [(grid * P, P) for grid in sizes]
        D = draw.choice([24, 40, 48, 96, 100])
        settings = f"configs {configs}, embed_dim {D}"
        _check_table(configuration_table, configs, D, _drawn_note(settings))
    print(
        "✓ configuration_table: also right on configurations and a width "
        "drawn for this run"
    )
