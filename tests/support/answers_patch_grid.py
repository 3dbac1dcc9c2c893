"""Learners' answers to part 1's exercise (the patch grid), right and wrong.

Each corpus maps a mistake to the answer that makes it and a pattern the
check's message must contain to name it; the right answers are other
correct formulations than the published solution."""

import matplotlib.pyplot as plt
import torch

import vitlesson
from vitlesson.figures.plots import patch_mosaic

# --- Task 1: patch_grid ---------------------------------------------------


def refuse(image, P):
    """The published refusal: the sizes, in the package's words."""
    H, W = image.shape[1:]
    if H % P or W % P:
        raise ValueError(
            f"Image size ({H}*{W}) is not divisible by patch size {P}"
        )


def cut(order=(1, 3, 0, 2, 4), check=refuse, rows=None, size=None):
    """The reshape-permute answer; ``order`` is its permutation, ``check``
    its refusal, ``size`` a (H, W) written instead of the image's, ``rows``
    a grid written instead of H/P."""

    def patch_grid(image, P):
        if check:
            check(image, P)
        C, H, W = image.shape
        H, W = size or (H, W)
        r, c = (rows, rows) if rows else (H // P, W // P)
        x = image.reshape(C, r, P, c, P)  # (C, H/P, P, W/P, P)
        return x.permute(*order)

    return patch_grid


right_grid = cut()


def by_loops(image, P):
    refuse(image, P)
    C, H, W = image.shape
    return torch.stack(
        [
            torch.stack(
                [image[:, y : y + P, x : x + P] for x in range(0, W, P)]
            )
            for y in range(0, H, P)
        ]
    )


def by_unfold(image, P):
    refuse(image, P)
    x = image.unfold(1, P, P).unfold(2, P, P)  # (C, rows, cols, P, P)
    return x.permute(1, 2, 0, 3, 4)


def by_divmod(image, P):
    C, H, W = image.shape
    rows, extra_rows = divmod(H, P)
    cols, extra_cols = divmod(W, P)
    if extra_rows or extra_cols:
        raise ValueError(f"{H}x{W} pixels do not split into {P}x{P} patches")
    x = image.reshape(C, rows, P, cols, P).transpose(0, 1)  # (r, C, P, c, P)
    return x.permute(0, 3, 1, 2, 4).contiguous()


RIGHT_GRIDS = {
    "the published solution": right_grid,
    "loops over the grid": by_loops,
    "Tensor.unfold": by_unfold,
    "divmod and transpose": by_divmod,
}


def rows_and_cols_swapped(image, P):
    refuse(image, P)
    C, H, W = image.shape
    x = image.reshape(C, H // P, P, W // P, P)
    return x.permute(3, 1, 0, 2, 4)  # (cols, rows, C, P, P)


def loops_one_short(image, P):
    refuse(image, P)
    C, H, W = image.shape
    return torch.stack(
        [
            torch.stack(
                [image[:, y : y + P, x : x + P] for x in range(0, W, P)]
            )
            for y in range(0, H - P, P)
        ]
    )


def overlapping(image, P):
    refuse(image, P)
    x = image.unfold(1, P, P // 2).unfold(2, P, P // 2)
    return x.permute(1, 2, 0, 3, 4)


def no_permute(image, P):
    refuse(image, P)
    C, H, W = image.shape
    return image.reshape(H // P, W // P, C, P, P)


def strided(image, P):
    refuse(image, P)
    C, H, W = image.shape
    x = image.reshape(C, P, H // P, P, W // P)
    return x.permute(2, 4, 0, 1, 3)


def crops_silently(image, P):
    C, H, W = image.shape
    image = image[:, : H - H % P, : W - W % P]
    return right_grid(image, P)


def refuses_without_sizes(image, P):
    if image.shape[1] % P or image.shape[2] % P:
        raise ValueError("the image does not fit the patches")
    return right_grid(image, P)


def refuses_only_the_height(image, P):
    C, H, W = image.shape
    if H % P:
        raise ValueError(f"Image size ({H}*{W}) does not fit patch size {P}")
    return cut(check=None)(image[:, :, : W - W % P], P)


def without_return(image, P):
    right_grid(image, P)


def with_the_package(image, P):
    C, H, W = image.shape
    tokens = vitlesson.patchify(image[None], P)[0]  # (N, C*P*P)
    return tokens.reshape(H // P, W // P, C, P, P)


GRID_MISTAKES = {
    "rows and columns swapped (square)": (
        lambda image, P: right_grid(image, P).transpose(0, 1),
        "the grid is transposed: position",
    ),
    "rows and columns swapped (permute)": (
        rows_and_cols_swapped,
        r"(the grid is transposed|dimensions 0 \(grid rows\) and 1 \(grid "
        r"columns\) are swapped)",
    ),
    "channels-last": (
        cut(order=(1, 3, 2, 4, 0)),
        r"each patch is channels-last, \(P, P, C\)",
    ),
    "transposed patches": (
        cut(order=(1, 3, 0, 4, 2)),
        "each patch is transposed",
    ),
    "grid one row short": (
        loops_one_short,
        "one row or column of patches short",
    ),
    "hard-coded 224/16": (
        cut(rows=14),
        "It passed on the lesson's 224×224 photograph; this run drew",
    ),
    "hard-coded 224": (
        cut(size=(224, 224)),
        "It passed on the lesson's 224×224 photograph; this run drew",
    ),
    "the package's patchify": (
        with_the_package,
        "your code called vitlesson.patchify, the package's solution: "
        "write it yourself",
    ),
    "the package's mosaic": (
        lambda image, P: torch.as_tensor(patch_mosaic(image, P)),
        "your code called vitlesson.figures.plots.patch_mosaic",
    ),
    "overlapping stride": (overlapping, "so they overlap: step by the patch"),
    "reshape without permute": (no_permute, "without a permute mixes"),
    "strided split": (strided, "the patches are strided, not contiguous"),
    "the token sequence": (
        lambda image, P: right_grid(image, P).flatten(0, 1),
        "that is the sequence of tokens; keep the grid",
    ),
    "a batch dimension kept": (
        lambda image, P: right_grid(image, P)[None],
        "a batch dimension too many",
    ),
    "crops silently": (
        crops_silently,
        r"instead of refusing: the (height|width) is not a multiple of",
    ),
    "a refusal without sizes": (
        refuses_without_sizes,
        r"raised ValueError\('the image does not fit the patches'\), which "
        "does not name",
    ),
    "only the height checked": (
        refuses_only_the_height,
        r"instead of refusing: the width is not a multiple",
    ),
    "no refusal (the reshape fails)": (
        cut(check=None),
        r"raised RuntimeError: .*check the sizes yourself before cutting",
    ),
    "a forgotten return": (without_return, "did you forget the `return`"),
    "integer pixels": (
        lambda image, P: (right_grid(image, P) * 255).byte(),
        "a tensor of dtype torch.uint8",
    ),
    "nothing passed": (None, "should be your function or class, got None"),
}


# --- Task 2: show_patches -------------------------------------------------


def draw(place=None, picture=None, grid=None, returns="figure"):
    """A learner's show_patches: ``place(r, c, rows, cols)`` gives the
    axes' (row, column), ``picture(patch)`` what imshow gets, ``grid``
    a (rows, cols) written instead of the patches'."""

    def show_patches(patches):
        rows, cols = grid or patches.shape[:2]
        fig, axes = plt.subplots(rows, cols, figsize=(4, 4), squeeze=False)
        for r in range(rows):
            for c in range(cols):
                at = place(r, c, rows, cols) if place else (r, c)
                patch = patches[r, c]
                shown = (
                    picture(patch)
                    if picture
                    else patch.permute(1, 2, 0).numpy()
                )
                axes[at].imshow(shown)
                axes[at].set_axis_off()
        if returns == "figure":
            return fig
        if returns == "axes":
            return axes
        return None

    return show_patches


right_drawing = draw()


def with_add_subplot(patches):
    rows, cols = patches.shape[:2]
    fig = plt.figure(figsize=(3, 3))
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        ax = fig.add_subplot(rows, cols, index + 1)
        ax.imshow(patches[r, c].permute(1, 2, 0).numpy())
        ax.axis("off")
    return fig


def with_gaps(patches):
    rows, cols = patches.shape[:2]
    fig, axes = plt.subplots(
        rows, cols, squeeze=False, gridspec_kw={"wspace": 0.3, "hspace": 0.3}
    )
    for (r, c), ax in zip(
        [(r, c) for r in range(rows) for c in range(cols)],
        axes.flat,
        strict=True,
    ):
        ax.imshow(patches[r, c].movedim(0, -1))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{rows}×{cols} patches")
    return fig


RIGHT_DRAWINGS = {
    "the published solution": right_drawing,
    "add_subplot": with_add_subplot,
    "gaps, ticks removed, a title": with_gaps,
}


def one_image(patches):
    fig, ax = plt.subplots()
    rows, cols, C, P, _ = patches.shape
    ax.imshow(patches.permute(0, 3, 1, 4, 2).reshape(rows * P, cols * P, C))
    return fig


def in_one_row(patches):
    rows, cols = patches.shape[:2]
    fig, axes = plt.subplots(1, rows * cols, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(patches[i // cols, i % cols].permute(1, 2, 0))
    return fig


def only_the_figure_made_with_pyplot(patches):
    plt.subplots()


DRAWING_MISTAKES = {
    "channels first to imshow": (
        draw(picture=lambda patch: patch),
        r"raised TypeError: Invalid shape \(3, 56, 56\).*imshow takes an "
        r"image as \(height, width, channels\)",
    ),
    "grid drawn transposed": (
        draw(place=lambda r, c, rows, cols: (c, r)),
        "the grid is drawn transposed",
    ),
    "upside down": (
        draw(place=lambda r, c, rows, cols: (rows - 1 - r, c)),
        "the grid is drawn upside down",
    ),
    "each patch transposed": (
        draw(picture=lambda patch: patch.permute(2, 1, 0)),
        "each patch is drawn transposed",
    ),
    "grey patches": (
        draw(picture=lambda patch: patch.mean(0)),
        r"shows an image of shape \(56, 56\), expected the patch as",
    ),
    "hard-coded 4×4": (
        draw(grid=(4, 4)),
        "It passed on the lesson's 224×224 photograph; this run drew",
    ),
    "one row short": (
        lambda patches: right_drawing(patches[:-1]),
        r"drew \d+ images, expected one per patch.*some patches are missing",
    ),
    "the whole picture in one axes": (one_image, "one image, the whole grid"),
    "all patches in one row": (in_one_row, r"drew the patches in 1 rows of"),
    "the axes returned": (draw(returns="axes"), "not its axes"),
    "a forgotten return": (
        draw(returns=None),
        "returned None: did you forget `return fig`",
    ),
    "the package's figure": (
        lambda patches: vitlesson.figures.plots.patches_figure(
            patches.permute(2, 0, 3, 1, 4).flatten(3, 4).flatten(1, 2)
        ),
        "your code called vitlesson.figures.plots.patches_figure",
    ),
    "an empty figure": (
        only_the_figure_made_with_pyplot,
        "returned None",
    ),
}
