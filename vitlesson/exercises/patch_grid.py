"""The checks of part 1's exercise: the patch grid of a photograph.

The learner cuts the lesson's photograph into its grid of patches, a
``(rows, cols, C, P, P)`` stack, and draws that grid with matplotlib. Each
check runs the learner's code on the lesson's setting (the 224×224
photograph, 16-pixel patches; 32-pixel ones for the drawing), then on
settings drawn for this run: other patch sizes, non-square crops of the
same photograph, a grey version of it. The check's own patches are cut
with ``Tensor.unfold``, never with the package's ``patchify``, which
refuses to run while a check does. A wrong patch is named by its place on
the grid, and the typical mistakes (rows and columns swapped, channels
last, patches transposed, a grid one row short, overlapping patches) by
name. The checks print one line per passed case and raise
:class:`ExerciseError` otherwise.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator

import torch

from vitlesson import patching
from vitlesson.data.images import sample_image, square_crop_resize
from vitlesson.exercises._harness import (
    ExerciseError,
    SolutionRefused,
    describe,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
    shape_mistake,
)
from vitlesson.figures import plots

LESSON_SIZE, LESSON_PATCH = 224, 16
DRAWN_PATCH = 56  # the drawing's lesson setting: a 4×4 grid

# The package's answers to this exercise, refused while a check runs.
SOLUTIONS = {
    "vitlesson.patchify": patching.patchify,
    "vitlesson.unpatchify": patching.unpatchify,
    "vitlesson.figures.plots.patch_mosaic": plots.patch_mosaic,
    "vitlesson.figures.plots.patches_figure": plots.patches_figure,
}

GRID_DIMS = (
    "grid rows",
    "grid columns",
    "channels C",
    "pixel rows P",
    "pixel columns P",
)


@functools.cache
def lesson_photo() -> torch.Tensor:
    """The lesson's photograph at 224×224, read once: (3, 224, 224)."""
    return sample_image(LESSON_SIZE)


def photo_crop(size: tuple[int, int]) -> torch.Tensor:
    """The photograph at another size, (3, H, W): the largest centred crop
    of the lesson's 224×224 photograph with that aspect ratio, resized."""
    return square_crop_resize(lesson_photo(), size)


def reference_grid(image: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(C, H, W) -> (H/P, W/P, C, P, P), cut with ``unfold``: the check's
    own patches, independent of the package's ``patchify``."""
    P = patch_size
    x = image.unfold(1, P, P).unfold(2, P, P)  # (C, H/P, W/P, P, P)
    return x.permute(1, 2, 0, 3, 4)  # (H/P, W/P, C, P, P)


def wrong_grids(image: torch.Tensor, P: int) -> dict[str, torch.Tensor]:
    """What the typical wrong cuts return, to name them (those of the
    right shape only)."""
    C, H, W = image.shape
    rows, cols = H // P, W // P
    right = reference_grid(image, P)
    x = image.reshape(C, rows, P, cols, P)  # (C, H/P, P, W/P, P)
    strided = image.reshape(C, P, rows, P, cols)  # pixel index outside
    return {
        "the grid is transposed: position [r, c] holds the patch of grid "
        "row c, column r (rows and columns swapped)": right.transpose(0, 1),
        "inside each patch, pixel rows and columns are swapped (each patch "
        "is transposed): keep the order (C, P rows, P columns)": (
            right.transpose(3, 4)
        ),
        "the patches are not squares of the image: reshaping to (rows, "
        "cols, C, P, P) without a permute mixes pixels of different "
        "patches": x.reshape(rows, cols, C, P, P),
        "the patches are strided, not contiguous: splitting each side as "
        "(P, H/P) instead of (H/P, P) puts every (H/P)-th pixel in one "
        "patch": strided.permute(2, 4, 0, 1, 3),
        "the patches are in column-major order: the reshape runs down the "
        "columns first, so position [r, c] holds the patch whose raster "
        "index is c·rows + r": right.transpose(0, 1).reshape(
            rows, cols, C, P, P
        ),
    }


def _patch_place(P: int):
    """Names element (r, c, channel, y, x) of a patch grid."""

    def where(index: tuple[int, ...]) -> str:
        r, c, ch, y, x = index
        return (
            f"the patch at grid row {r}, column {c}: channel {ch}, pixel "
            f"row {y}, column {x} (image[{ch}, {r * P + y}, {c * P + x}])"
        )

    return where


def _drawn_note(settings: str) -> str:
    return (
        f"It passed on the lesson's 224×224 photograph; this run drew "
        f"{settings}: read every size from the inputs instead of writing "
        "a number"
    )


def _grid_shape_hint(got, expected, image, P) -> str:
    """What a wrong shape says about the cut, where it says something."""
    C, H, W = image.shape
    rows, cols = H // P, W // P
    if tuple(got) == (rows, cols, P, P, C):
        return (
            ": each patch is channels-last, (P, P, C); keep the channels "
            "first, (C, P, P), as the image has them"
        )
    if tuple(got) == (rows * cols, C, P, P) or tuple(got) == (
        rows * cols,
        C * P * P,
    ):
        return (
            ": that is the sequence of tokens; keep the grid, "
            f"(rows, cols, C, P, P) = {tuple(expected)}"
        )
    if len(got) == 6 and got[0] == 1:
        return ": a batch dimension too many; the input is one image"
    if len(got) >= 2 and (got[0], got[1]) in (
        (rows + 1, cols),
        (rows, cols + 1),
        (rows + 1, cols + 1),
    ):
        return (
            ": one patch too many along a side; the grid is H/P × W/P "
            f"= {rows}×{cols} (the last patch starts at pixel H - P)"
        )
    if len(got) >= 2 and (got[0] > rows or got[1] > cols):
        return (
            ": more patches than fit side by side, so they overlap: step "
            f"by the patch size {P} (the stride of the cut is P, not less)"
        )
    if len(got) >= 2 and (got[0] == rows - 1 or got[1] == cols - 1):
        return (
            ": one row or column of patches short; the last patch starts "
            f"at pixel H - P (range(0, H, P) has H/P = {rows} starts)"
        )
    return ""


def _check_grid(patch_grid, image, P, hint="") -> None:
    C, H, W = image.shape
    expected = reference_grid(image, P)
    call = f"patch_grid(image of shape {(C, H, W)}, {P})"
    wanted = (
        f"a stack of patches of shape {tuple(expected.shape)} "
        f"(rows = H/P = {H // P}, cols = W/P = {W // P}, C, P, P)"
    )
    got = learner_call(
        "patch_grid", patch_grid, image.clone(), P, expected=wanted, hint=hint
    )
    got = returned_tensor(call, got, wanted)
    end = f". {hint}" if hint else ""
    mistake = shape_mistake(got.shape, expected.shape, GRID_DIMS)
    if mistake:
        raise ExerciseError(
            f"{call} returned {mistake}"
            + _grid_shape_hint(got.shape, expected.shape, image, P)
            + end
        )
    difference = first_difference(
        got, expected, _patch_place(P), atol=1e-6, rtol=1e-6
    )
    if difference is None:
        return
    for name, wrong in wrong_grids(image, P).items():
        if not torch.equal(wrong, expected) and torch.allclose(got, wrong):
            raise ExerciseError(f"{call}: right shape, but {name}{end}")
    raise ExerciseError(
        f"{call}: right shape, wrong values: {difference} (the patch at "
        "grid row r, column c is image[:, r·P:(r+1)·P, c·P:(c+1)·P])" + end
    )


def _mentions(message: str, number: int) -> bool:
    return re.search(rf"(?<!\d){number}(?!\d)", message) is not None


def _check_refusal(patch_grid, image, P) -> None:
    """An image the patches do not tile must be refused with a ValueError
    that names the sizes, as the package's ``patchify`` refuses it."""
    C, H, W = image.shape
    call = f"patch_grid(image of shape {(C, H, W)}, {P})"
    side = "height" if H % P else "width"
    wanted = (
        f"a ValueError naming the image size ({H}×{W}) and the patch size "
        f"{P}, since the {side} {H if H % P else W} is not a multiple of {P}"
    )
    try:
        got = learner_call(
            "patch_grid", patch_grid, image.clone(), P, expected=wanted
        )
    except ExerciseError as error:
        cause = error.__cause__
        if not isinstance(cause, ValueError):
            if isinstance(cause, Exception) and not isinstance(
                cause, (NotImplementedError, SolutionRefused)
            ):
                raise ExerciseError(
                    f"{call} raised {type(cause).__name__}: {cause}; expected "
                    f"{wanted}: check the sizes yourself before cutting "
                    "(`if H % P or W % P: raise ValueError(...)`), so that "
                    "whoever calls it reads what is wrong, not a reshape "
                    "error"
                ) from cause
            raise
        message = str(cause)
        missing = [n for n in (H, W, P) if not _mentions(message, n)]
        if missing:
            raise ExerciseError(
                f"{call} raised ValueError({message!r}), which does not "
                f"name {', '.join(map(str, missing))}; expected {wanted}, "
                "e.g. 'Image size (230*224) is not divisible by patch size "
                "16' (vitlesson's own wording)"
            ) from cause
        return
    shown = describe(got)
    raise ExerciseError(
        f"{call} returned {shown} instead of refusing: the {side} is not a "
        f"multiple of {P}, so the patches would cut off the last "
        f"{(H % P) or (W % P)} pixels silently; expected {wanted}"
    )


def _drawn_images(draw: random.Random) -> Iterator[tuple]:
    """Three settings for this run: the photograph at other sizes and
    patch sizes, once in grey (one channel)."""
    for grey in (False, True, False):
        P = draw.choice([4, 5, 6, 7, 8, 10, 12])
        rows, cols = draw.sample(range(2, 9), 2)
        image = photo_crop((rows * P, cols * P))  # (3, H, W)
        if grey:
            image = image.mean(0, keepdim=True)  # (1, H, W)
        C = image.shape[0]
        settings = (
            f"a {rows * P}×{cols * P} crop of the photograph"
            f"{' in grey (1 channel)' if grey else ''}, patch size {P}"
        )
        yield image, P, settings, C


@seeded
def check_patch_grid(patch_grid, *, draw: random.Random) -> None:
    """Check ``patch_grid(image, patch_size) -> (rows, cols, C, P, P)``:
    on the lesson's 224×224 photograph with 16-pixel patches, on three
    settings drawn for this run, and on two images the patches do not tile,
    which must be refused with a ValueError naming the sizes."""
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        _check_grid(patch_grid, lesson_photo(), LESSON_PATCH)
        n = LESSON_SIZE // LESSON_PATCH
        print(
            f"✓ patch_grid: the 224×224 photo, P=16 -> ({n}, {n}, 3, 16, 16),"
            " all in place"
        )
        for image, P, settings, _ in _drawn_images(draw):
            _check_grid(patch_grid, image, P, _drawn_note(settings))
        print(
            "✓ patch_grid: right on 3 crops and patch sizes drawn for this run"
        )
        P = draw.choice([5, 6, 7, 9])
        rows, cols, extra = draw.randint(2, 6), draw.randint(2, 6), 0
        while extra == 0:
            extra = draw.randint(1, P - 1)
        for size in (
            (rows * P + extra, cols * P),
            (rows * P, cols * P + extra),
        ):
            _check_refusal(patch_grid, photo_crop(size), P)
    print(
        "✓ patch_grid: refuses images the patches do not tile, naming the "
        "sizes"
    )


# --- Task 2: draw the grid --------------------------------------------------


def _image_axes(figure) -> list:
    return [ax for ax in figure.axes if ax.get_images()]


def _placed(axes: list) -> tuple[list[float], list[float]]:
    """The distinct tops (top row first) and lefts of the axes."""
    tops = sorted({round(ax.get_position().y1, 3) for ax in axes})[::-1]
    lefts = sorted({round(ax.get_position().x0, 3) for ax in axes})
    return tops, lefts


def _check_drawing(show_patches, image, P, hint="") -> None:
    from matplotlib.figure import Figure

    grid = reference_grid(image, P)  # (rows, cols, C, P, P)
    rows, cols = grid.shape[:2]
    call = f"show_patches(patches of shape {tuple(grid.shape)})"
    wanted = (
        f"a matplotlib Figure with a {rows}×{cols} grid of axes, the axes "
        f"at row r, column c showing patch [r, c] with imshow"
    )
    end = f". {hint}" if hint else ""
    figure = learner_call(
        "show_patches",
        show_patches,
        grid.clone(),
        expected=wanted,
        hint="imshow takes an image as (height, width, channels): "
        "patch.permute(1, 2, 0)" + (f". {hint}" if hint else ""),
    )
    if not isinstance(figure, Figure):
        found = (
            "None: did you forget `return fig`?"
            if figure is None
            else describe(figure)
            + (
                ": return the Figure (the first value of plt.subplots), "
                "not its axes"
                if "Axes" in type(figure).__name__
                or type(figure).__name__ == "ndarray"
                else ""
            )
        )
        raise ExerciseError(f"{call} returned {found}; expected {wanted}")
    axes = _image_axes(figure)
    if len(axes) != rows * cols:
        why = ""
        if len(axes) == 1:
            why = ": one image, the whole grid in one axes? Draw each patch"
        elif len(axes) < rows * cols:
            why = ": some patches are missing"
        raise ExerciseError(
            f"{call} drew {len(axes)} image{'s' * (len(axes) != 1)}, "
            "expected one per patch, "
            f"{rows}·{cols} = {rows * cols}{why}{end}"
        )
    tops, lefts = _placed(axes)
    if (len(tops), len(lefts)) != (rows, cols):
        raise ExerciseError(
            f"{call} drew the patches in {len(tops)} rows of {len(lefts)}, "
            f"expected the grid's {rows} rows of {cols} (plt.subplots(rows, "
            f"cols) with rows, cols = patches.shape[:2]){end}"
        )
    for ax in axes:
        position = ax.get_position()
        r = tops.index(round(position.y1, 3))
        c = lefts.index(round(position.x0, 3))
        expected = grid[r, c].permute(1, 2, 0)  # (P, P, C) for imshow
        if expected.shape[-1] == 1:
            expected = expected[..., 0]  # (P, P): a grey image
        shown = torch.as_tensor(ax.get_images()[-1].get_array().data)
        if tuple(shown.shape) != tuple(expected.shape):
            raise ExerciseError(
                f"{call}: the axes at row {r}, column {c} shows an image of "
                f"shape {tuple(shown.shape)}, expected the patch as (P, P, "
                f"C) = {tuple(expected.shape)}, patch.permute(1, 2, 0){end}"
            )
        if torch.allclose(shown.to(expected.dtype), expected, atol=1e-6):
            continue
        named = {
            "the grid is drawn transposed (patch [r, c] at row c, column "
            "r): the axes' first index is the row": grid.transpose(0, 1),
            "the grid is drawn upside down (patch row 0 must be at the "
            "top)": grid.flip(0),
            "each patch is drawn transposed: permute(1, 2, 0) keeps its "
            "rows as rows; permute(2, 1, 0) swaps them": grid.transpose(3, 4),
        }
        for name, wrong in named.items():
            if tuple(wrong.shape[:2]) != (rows, cols):
                continue
            candidate = wrong[r, c].permute(1, 2, 0).reshape(expected.shape)
            if not torch.equal(candidate, expected) and torch.allclose(
                shown.to(expected.dtype), candidate, atol=1e-6
            ):
                raise ExerciseError(
                    f"{call}: at row {r}, column {c}, {name}{end}"
                )
        raise ExerciseError(
            f"{call}: the axes at row {r}, column {c} does not show patch "
            f"[{r}, {c}] as it is: imshow(patches[{r}, {c}].permute(1, 2, "
            f"0)), the pixel values unchanged{end}"
        )


@seeded
def check_show_patches(show_patches, *, draw: random.Random) -> None:
    """Check ``show_patches(patches) -> Figure``: a rows × cols grid of
    axes, each showing its patch; on the photograph's 4×4 grid of 56-pixel
    patches, then on two grids drawn for this run. Every figure the
    learner's code opens while checking is closed."""
    import matplotlib.pyplot as plt

    if not callable(show_patches):
        learner_call("show_patches", show_patches, expected="a function")
    before = set(plt.get_fignums())
    try:
        with refusing_the_solution(SOLUTIONS), torch.no_grad():
            _check_drawing(show_patches, lesson_photo(), DRAWN_PATCH)
            n = LESSON_SIZE // DRAWN_PATCH
            print(
                f"✓ show_patches: the {n}×{n} grid of {DRAWN_PATCH}-pixel "
                "patches, "
                "every patch in its place"
            )
            for _ in range(2):
                P = draw.choice([8, 10, 12, 16])
                rows, cols = draw.sample(range(2, 5), 2)
                settings = (
                    f"a {rows * P}×{cols * P} crop, patch size {P} "
                    f"({rows}×{cols} patches)"
                )
                image = photo_crop((rows * P, cols * P))
                _check_drawing(show_patches, image, P, _drawn_note(settings))
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
    print("✓ show_patches: right on 2 grids drawn for this run (non-square)")


__all__ = ["check_patch_grid", "check_show_patches"]
