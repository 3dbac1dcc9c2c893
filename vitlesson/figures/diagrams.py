"""Diagrams of the architecture, drawn from the same numbers the code uses.

Each function returns a matplotlib Figure (8 inches wide, text of at least
9 points, like :mod:`vitlesson.figures.plots`). Shapes and counts are computed, not
typed: the pipeline diagram asks a real :class:`~vitlesson.vit.VisionTransformer`
for its sizes, the patchify diagram runs :func:`~vitlesson.patching.patchify`,
the attention diagram shows real weights from
:func:`~vitlesson.vit.attention_weights`.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from vitlesson import _validation as check
from vitlesson.figures.plots import NARROW, SMALL, WIDTH, _width
from vitlesson.patching import patch_config, patchify
from vitlesson.vit import attention_weights

STAGE = "#e8eaf6"  # boxes of tensors
LAYER = "#fff3e0"  # boxes of layers with weights
EDGE = "#3949ab"
CHANNELS = ("#e53935", "#43a047", "#1e88e5")  # R, G, B


def _box(ax, x, y, w, h, text, colour=STAGE, size=10, weight="normal"):
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=colour,
            edgecolor=EDGE,
            linewidth=1.2,
        )
    )
    ax.text(
        x, y, text, ha="center", va="center", fontsize=size, fontweight=weight
    )


def _arrow(ax, start, end, style="-|>", **kwargs):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=12,
            color=EDGE,
            linewidth=1.2,
            **kwargs,
        )
    )


def _canvas(height: float, xlim=(0, 8), ylim=None, width: float = WIDTH):
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(*xlim)
    ax.set_ylim(*(ylim or (0, height)))
    ax.set_axis_off()
    return fig, ax


def vit_pipeline_figure(
    model=None, batch: str = "B", *, width: float = WIDTH
) -> Figure:
    """The path from an image to the CLS feature, with every tensor shape.

    ``model`` is a :class:`~vitlesson.vit.VisionTransformer` (ViT-B/16 at
    224 pixels by default); its sizes label the diagram. The stages snake
    through three columns, or two in a narrow figure (``width`` in inches,
    below :data:`~vitlesson.figures.plots.NARROW`).
    """
    width = _width(width)
    narrow = width < NARROW
    if model is None:
        from vitlesson.vit import vit_base

        model = vit_base(patch_size=16)
    embed = model.patch_embed
    (H, W), P, C = embed.img_size, embed.patch_size, embed.in_channels
    N, D, L = embed.n_patches, model.embed_dim, model.depth
    heads = model.blocks[0].attn.num_heads
    stages = [
        ("image", f"({batch}, {C}, {H}, {W})"),
        ("patchify: cut and flatten", f"({batch}, {N}, {C * P * P})"),
        ("linear projection E", f"({batch}, {N}, {D})"),
        ("prepend the CLS token", f"({batch}, {N + 1}, {D})"),
        ("add position embeddings", f"({batch}, {N + 1}, {D})"),
        (f"{L} encoder blocks ({heads} heads)", f"({batch}, {N + 1}, {D})"),
        ("final LayerNorm", f"({batch}, {N + 1}, {D})"),
        ("take token 0 (CLS)", f"({batch}, {D})"),
        (
            "head: classifier, or DINO's\nprojection head (K)",
            f"({batch}, classes | K)",
        ),
    ]
    xs: tuple[float, ...]  # the columns' centres, in inches
    ys: tuple[float, ...]  # the rows' centres
    if narrow:  # 1 unit = 1 inch, as on the wide canvas
        fig, ax = _canvas(6.6, xlim=(0, width), width=width)
        xs, ys = (
            (width / 2 - 1.3, width / 2 + 1.3),
            (5.6, 4.35, 3.1, 1.85, 0.6),
        )
        box, reach = 2.2, 1.1
    else:
        fig, ax = _canvas(3.9)
        xs, ys = (1.35, 4.0, 6.65), (3.2, 1.95, 0.7)
        box, reach = 2.35, 1.2 * 0.98
    across = len(xs)

    def place(i: int) -> tuple[int, int]:
        """Row and column of stage i: a snake that follows the arrows."""
        row, col = divmod(i, across)
        return row, (col if row % 2 == 0 else across - 1 - col)

    for i, (name, shape) in enumerate(stages):
        row, col = place(i)
        x, y = xs[col], ys[row]
        colour = STAGE if i in (0, 1, 7) else LAYER  # CLS: a parameter
        _box(ax, x, y, box, 0.9, "", colour)
        ax.text(
            x,
            y + 0.17,
            name,
            ha="center",
            va="center",
            fontsize=SMALL,
            linespacing=1.0,
        )
        ax.text(
            x,
            y - 0.25,
            shape,
            ha="center",
            va="center",
            fontsize=10,
            fontweight="bold",
            family="monospace",
        )
        if i + 1 < len(stages):
            next_row, next_col = place(i + 1)
            if next_row == row:
                step = reach if next_col > col else -reach
                _arrow(ax, (x + step, y), (xs[next_col] - step, y))
            else:
                _arrow(ax, (x, y - 0.46), (x, ys[next_row] + 0.46))
    ax.text(
        0.15,
        6.25 if narrow else 3.78,
        "orange: learned parameters (the CLS token is one);"
        + ("\n" if narrow else "  ")
        + "blue: reshaping and selecting",
        fontsize=SMALL,
        color="#444444",
    )
    return fig


def encoder_block_figure(*, width: float = WIDTH) -> Figure:
    """One pre-norm encoder block, both residual connections, final LayerNorm.

    The ViT paper's equations 2-4 stand beside the drawing, or under it in
    a narrow figure (``width`` in inches, below
    :data:`~vitlesson.figures.plots.NARROW`).
    """
    width = _width(width)
    narrow = width < NARROW
    # Narrow: the notes go below the drawing, which keeps its coordinates.
    below = 4.05 if narrow else 0.0
    if narrow:
        fig, ax = _canvas(
            5.6 + below, xlim=(0, width), ylim=(-below, 5.6), width=width
        )
    else:
        fig, ax = _canvas(5.6)
    x = 2.2
    levels = {
        "in": 5.25,
        "ln1": 4.45,
        "msa": 3.7,
        "add1": 2.95,
        "ln2": 2.3,
        "mlp": 1.55,
        "add2": 0.8,
    }
    ax.text(
        x,
        levels["in"],
        "tokens  z  (B, N+1, D)",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
    )
    _box(ax, x, levels["ln1"], 2.4, 0.5, "LayerNorm", LAYER)
    _box(
        ax,
        x,
        levels["msa"],
        2.4,
        0.55,
        "multi-head self-attention",
        LAYER,
        size=SMALL,
    )
    _box(ax, x, levels["ln2"], 2.4, 0.5, "LayerNorm", LAYER)
    _box(
        ax,
        x,
        levels["mlp"],
        2.4,
        0.6,
        "MLP: D → 4D, GELU, 4D → D",
        LAYER,
        size=SMALL,
    )
    for level in ("add1", "add2"):
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.17, levels[level] - 0.17),
                0.34,
                0.34,
                boxstyle="circle,pad=0",
                facecolor="white",
                edgecolor=EDGE,
            )
        )
        ax.text(x, levels[level], "+", ha="center", va="center", fontsize=12)
    order = ["in", "ln1", "msa", "add1", "ln2", "mlp", "add2"]
    gaps = {
        "in": 0.15,
        "ln1": 0.25,
        "msa": 0.28,
        "add1": 0.17,
        "ln2": 0.25,
        "mlp": 0.3,
        "add2": 0.17,
    }
    for top, bottom in pairwise(order):
        _arrow(
            ax,
            (x, levels[top] - gaps[top]),
            (x, levels[bottom] + gaps[bottom]),
        )
    # Eq. 2's skip carries z (left); Eq. 3's starts at z' below the first
    # sum (right), so the two can never be read as one line.
    for start, end, sign in (("in", "add1", -1), ("add1", "add2", 1)):
        branch = levels[start] - 0.3
        side = x + sign * 1.55
        ax.plot(
            [x, side, side],
            [branch, branch, levels[end]],
            color=EDGE,
            linewidth=1.2,
        )
        _arrow(ax, (side, levels[end]), (x + sign * 0.17, levels[end]))
    ax.text(
        x - 1.65,
        (levels["in"] + levels["add1"]) / 2 - 0.1,
        "residual: z",
        rotation=90,
        ha="right",
        va="center",
        fontsize=SMALL,
    )
    ax.text(
        x + 1.65,
        (levels["add1"] + levels["add2"]) / 2 - 0.1,
        "residual: z\u2032",
        rotation=90,
        ha="left",
        va="center",
        fontsize=SMALL,
    )
    ax.plot([0.35, 0.35], [0.55, 4.85], color="#888888", linewidth=1)
    ax.text(
        0.2,
        2.7,
        "repeated L times",
        rotation=90,
        ha="center",
        va="center",
        fontsize=SMALL,
        color="#444444",
    )
    _arrow(ax, (x, levels["add2"] - 0.17), (x, 0.35))
    ax.text(
        x,
        0.18,
        "after the last block: a final LayerNorm",
        ha="center",
        va="center",
        fontsize=SMALL,
        fontweight="bold",
    )
    notes = [
        (4.7, "ViT paper, equations 2–4:", "bold"),
        (
            4.2,
            r"$z'_\ell = \mathrm{MSA}(\mathrm{LN}(z_{\ell-1}))"
            r" + z_{\ell-1}$",
            "normal",
        ),
        (
            3.7,
            r"$z_\ell = \mathrm{MLP}(\mathrm{LN}(z'_\ell)) + z'_\ell$",
            "normal",
        ),
        (3.2, r"$y = \mathrm{LN}(z_L^0)$  (token 0: CLS)", "normal"),
        (2.4, "Pre-norm: each branch reads a normalised", "normal"),
        (2.05, "copy; the sum z keeps its own scale.", "normal"),
        (1.45, "Shapes never change inside the stack:", "normal"),
        (1.1, "(B, N+1, D) in, (B, N+1, D) out.", "normal"),
    ]
    for y, text, weight in notes:
        ax.text(
            0.2 if narrow else 4.55,
            y - 4.95 if narrow else y,
            text,
            fontsize=11 if "$" in text else 10,
            fontweight=weight,
            va="center",
        )
    return fig


def patchify_axes_figure(
    patch_size: int = 2, *, width: float = WIDTH
) -> Figure:
    """How patchify's reshape and permute move the axes, and the order of the
    numbers inside one patch (channel, then row, then column). A narrow
    figure (``width`` in inches, below
    :data:`~vitlesson.figures.plots.NARROW`) puts each step's note under its
    shape and token 0 under the three channels."""
    width = _width(width)
    narrow = width < NARROW
    P = patch_size
    rows, cols = patch_config(2 * P, P)
    # A 3-channel image whose every number is its own index: the flattened
    # first patch then shows, in order, which pixel each entry came from.
    image = torch.arange(3 * 2 * P * 2 * P, dtype=torch.float32)
    image = image.reshape(1, 3, 2 * P, 2 * P)  # (1, C, H, W)
    first_patch = patchify(image, P)[0, 0]  # (C*P*P,)
    # Narrow: the steps stand 1 inch apart, the patch's part below them.
    lift = 0.8 if narrow else 0.0  # how far the patch's part sits higher
    if narrow:
        fig, ax = _canvas(
            7.35, xlim=(0, width), ylim=(-0.95, 6.4), width=width
        )
    else:
        fig, ax = _canvas(4.5)
    steps = [
        ("(B, C, H, W)", "the batch of images"),
        (
            "(B, C, H/P, P, W/P, P)",
            "reshape: split each side into\n(which patch, where inside it)",
        ),
        (
            "(B, H/P, W/P, C, P, P)",
            "permute(0, 2, 4, 1, 3, 5):\npatch indices to the front",
        ),
        (
            "(B, N, C·P·P)",
            "reshape: N = (H/P)(W/P) tokens,\nC·P·P numbers each",
        ),
    ]
    for i, (shape, note) in enumerate(steps):
        y = 6.15 - i * 1.0 if narrow else 4.2 - i * 0.62
        ax.text(
            0.2,
            y,
            shape,
            fontsize=11,
            fontweight="bold",
            family="monospace",
            va="center",
        )
        if narrow:
            ax.text(0.6, y - 0.4, note, fontsize=SMALL, va="center")
            if i:
                _arrow(ax, (0.35, y + 0.83), (0.35, y + 0.17))
        else:
            ax.text(4.3, y, note, fontsize=SMALL, va="center", linespacing=1.1)
            if i:
                _arrow(ax, (1.0, y + 0.47), (1.0, y + 0.17))
    ax.text(
        0.2,
        1.55 + lift,
        f"Inside the first patch (P = {P}, C = 3): each "
        + ("\n" if narrow else "")
        + "pixel holds its own index in the image",
        fontsize=10,
        fontweight="bold",
        va="top" if narrow else "baseline",
    )
    cell, pixels = 0.36, image[0]  # (C, H, W)
    for c in range(3):  # the first patch of each channel, as a P x P grid
        left = 0.3 + c * (P * cell + 0.25)
        for r in range(P):
            for q in range(P):
                x0, y0 = left + q * cell, 1.0 - r * cell + (lift - 0.3)
                if not narrow:
                    y0 = 1.0 - r * cell
                ax.add_patch(
                    FancyBboxPatch(
                        (x0, y0),
                        cell,
                        cell,
                        boxstyle="square,pad=0",
                        facecolor=CHANNELS[c],
                        alpha=0.35,
                        edgecolor="white",
                    )
                )
                ax.text(
                    x0 + cell / 2,
                    y0 + cell / 2,
                    str(int(pixels[c, r, q])),
                    ha="center",
                    va="center",
                    fontsize=SMALL,
                )
        ax.text(
            left + P * cell / 2,
            0.38 + (lift - 0.3 if narrow else 0.0),
            "RGB"[c],
            ha="center",
            fontsize=SMALL,
        )
    if narrow:  # token 0 in a row of its own, under the channels
        strip_x, strip_y, label_y = 0.3, 0.68 + lift - 1.75, 0.68 + lift - 1.3
        _arrow(ax, (1.5, 0.38 + lift - 0.4), (1.5, label_y + 0.2))
    else:
        strip_x, strip_y, label_y = 3.35, 0.68, 1.2
        _arrow(ax, (2.95, 0.85), (3.3, 0.85))
    ax.text(
        strip_x,
        label_y,
        "patchify(image, P)[0, 0]: token 0, in order",
        fontsize=SMALL,
    )
    for i, value in enumerate(first_patch.tolist()):
        c = i // (P * P)
        x0 = strip_x + i * cell
        ax.add_patch(
            FancyBboxPatch(
                (x0, strip_y),
                cell,
                cell,
                boxstyle="square,pad=0",
                facecolor=CHANNELS[c],
                alpha=0.35,
                edgecolor="white",
            )
        )
        ax.text(
            x0 + cell / 2,
            strip_y + cell / 2,
            str(int(value)),
            ha="center",
            va="center",
            fontsize=SMALL,
        )
    ax.text(
        0.3 if not narrow else 0.2,
        0.1 if not narrow else -0.42,
        "Read channel by channel, each channel row by row: "
        + ("\n" if narrow else "")
        + "the order of conv.weight.flatten(1)",
        fontsize=SMALL,
        va="top" if narrow else "baseline",
    )
    return fig


def attention_matrix_figure(
    grid: int = 3,
    dim: int = 8,
    seed: int = 0,
    configs=((224, 32), (224, 16), (384, 16), (224, 8)),
    *,
    width: float = WIDTH,
) -> Figure:
    """The (N+1) x (N+1) attention matrix of a tiny example, and its growth
    (side by side, or one above the other in a narrow figure: ``width`` in
    inches, below :data:`~vitlesson.figures.plots.NARROW`).

    Left: real weights from :func:`~vitlesson.vit.attention_weights` for
    ``grid * grid`` patch tokens plus CLS (random queries and keys, seeded):
    row i is how much token i takes from every token, and sums to 1. Right:
    the number of entries, (N+1)^2 per head and layer, for the lesson's
    configurations.
    """
    grid, dim, seed, configs = _check_matrix_figure(grid, dim, seed, configs)
    generator = torch.Generator().manual_seed(seed)
    tokens = grid * grid + 1
    q = torch.randn(tokens, dim, generator=generator)
    k = torch.randn(tokens, dim, generator=generator)
    weights = attention_weights(q, k).numpy()  # (T, T)
    width = _width(width)
    if width < NARROW:
        fig = Figure(figsize=(width, 7.0), layout="constrained")
        ax_matrix, ax_growth = fig.subplots(2, 1, height_ratios=[1.4, 1])
    else:
        fig = Figure(figsize=(width, 3.5), layout="constrained")
        ax_matrix, ax_growth = fig.subplots(1, 2, width_ratios=[1, 1.15])
    image = ax_matrix.imshow(weights, cmap="Blues", vmin=0)
    labels = ["CLS"] + [str(i) for i in range(1, tokens)]
    ax_matrix.set_xticks(range(tokens), labels, fontsize=SMALL, rotation=90)
    ax_matrix.set_yticks(range(tokens), labels, fontsize=SMALL)
    ax_matrix.set_xlabel("key token j (who is read)", fontsize=SMALL)
    ax_matrix.set_ylabel("query token i (who reads)", fontsize=SMALL)
    ax_matrix.set_title(
        f"{grid}×{grid} patches + CLS: {tokens}×{tokens} weights", fontsize=10
    )
    ax_matrix.add_patch(
        FancyBboxPatch(
            (-0.5, -0.5),
            tokens,
            1,
            boxstyle="square,pad=0",
            fill=False,
            edgecolor="#d81b60",
            linewidth=2,
        )
    )
    bar = fig.colorbar(image, ax=ax_matrix, shrink=0.8)
    bar.ax.tick_params(labelsize=SMALL)
    bar.set_label("weight (each row sums to 1)", fontsize=SMALL)
    names, entries = [], []
    for img_size, patch_size in configs:
        rows, cols = patch_config(img_size, patch_size)
        n = rows * cols + 1
        names.append(f"{img_size}/{patch_size}\nN+1 = {n}")
        entries.append(n * n)
    ax_growth.barh(np.arange(len(configs)), entries, color="#5c6bc0")
    ax_growth.set_xscale("log")
    ax_growth.set_yticks(np.arange(len(configs)), names, fontsize=SMALL)
    ax_growth.invert_yaxis()
    ax_growth.tick_params(axis="x", labelsize=SMALL)
    for i, value in enumerate(entries):
        ax_growth.text(
            value * 1.15, i, f"{value:,}", va="center", fontsize=SMALL
        )
    ax_growth.set_xlim(right=max(entries) * 12)
    ax_growth.set_xlabel(
        "(N+1)² weights per head and layer (log scale)", fontsize=SMALL
    )
    ax_growth.set_title(
        "Halving P: 4× the tokens, 16× the weights", fontsize=10
    )
    return fig


def dino_step_figure(
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
    momentum: float = 0.996,
    center_momentum: float = 0.9,
    *,
    width: float = WIDTH,
) -> Figure:
    """One training step of DINO: student and teacher, centering and
    sharpening, where the loss sits, what gradients reach, the EMA and the
    center's update.

    The numbers are DINO's defaults (``main_dino.py``); pass the
    miniature's to draw its step instead. A narrow figure (``width`` in
    inches, below :data:`~vitlesson.figures.plots.NARROW`) draws the
    student and the teacher as two columns above the loss, and writes the
    two update rules under the drawing.
    """
    for name, value in [
        ("student_temp", student_temp),
        ("teacher_temp", teacher_temp),
        ("momentum", momentum),
        ("center_momentum", center_momentum),
    ]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{name} must be a number, got {type(value).__name__}"
            )
        if not 0 < value <= 1:
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    width = _width(width)
    # What both layouts write in the networks' and the outputs' boxes.
    boxes = {
        "student": "student\nbackbone + head\nweights θs",
        "teacher": "teacher\nsame network\nweights θt",
        "student softmax": f"softmax(· / τs)\nτs = {student_temp:g}",
        "centering": "− c\ncentering",
        "sharpening": f"softmax(· / τt)\nτt = {teacher_temp:g}\nsharpening",
    }
    if width < NARROW:
        return _dino_step_narrow(width, boxes, momentum, center_momentum)
    fig, ax = _canvas(3.7)
    top, bottom, h = 2.65, 1.2, 0.78  # student row, teacher row, box height
    _box(
        ax,
        0.72,
        1.92,
        1.25,
        1.2,
        "views of\none image:\n2 global,\n8 local",
        size=SMALL,
    )
    _arrow(ax, (1.36, 2.3), (1.8, top))
    _arrow(ax, (1.36, 1.55), (1.8, bottom))
    ax.text(1.35, 2.62, "all", fontsize=SMALL, ha="right")
    ax.text(
        1.3,
        1.05,
        "global\nonly",
        fontsize=SMALL,
        ha="right",
        va="center",
        linespacing=1.0,
    )
    _box(
        ax,
        2.55,
        top,
        1.5,
        h,
        boxes["student"],
        LAYER,
        size=SMALL,
    )
    _box(
        ax,
        2.55,
        bottom,
        1.5,
        h,
        boxes["teacher"],
        LAYER,
        size=SMALL,
    )
    _box(
        ax,
        4.9,
        top,
        1.7,
        h,
        boxes["student softmax"],
        size=SMALL,
    )
    _box(ax, 4.0, bottom, 0.95, h, boxes["centering"], size=SMALL)
    _box(
        ax,
        5.38,
        bottom,
        1.3,
        h,
        boxes["sharpening"],
        size=SMALL,
    )
    _box(
        ax,
        7.15,
        1.92,
        1.55,
        1.35,
        "loss:\ncross-entropy\n−Σ Pt log Ps\nover pairs of\ndifferent views",
        "#fce4ec",
        size=SMALL,
    )
    _arrow(ax, (3.3, top), (4.05, top))
    _arrow(ax, (3.3, bottom), (3.52, bottom))
    _arrow(ax, (4.48, bottom), (4.67, bottom))
    _arrow(ax, (5.75, top), (6.37, 2.3))
    ax.text(6.05, top + 0.12, "Ps", fontsize=SMALL)
    _arrow(ax, (6.04, bottom), (6.37, 1.5))
    ax.text(6.08, 1.62, "Pt", fontsize=SMALL)
    # stop-gradient: two strokes across the teacher's arrow into the loss
    for dx in (0.0, 0.06):
        ax.plot(
            [6.13 + dx, 6.21 + dx],
            [1.22, 1.38],
            color="#d81b60",
            linewidth=1.5,
        )
    ax.text(6.3, 1.02, "stop-gradient", fontsize=SMALL, color="#d81b60")
    # gradients: from the loss back to the student only
    grad = "#d81b60"
    ax.plot(
        [7.15, 7.15, 2.55],
        [2.6, 3.45, 3.45],
        color=grad,
        linewidth=1.2,
        linestyle="--",
    )
    ax.add_patch(
        FancyArrowPatch(
            (2.55, 3.45),
            (2.55, top + h / 2 + 0.02),
            arrowstyle="-|>",
            mutation_scale=12,
            color=grad,
            linewidth=1.2,
            linestyle="--",
        )
    )
    ax.text(
        4.85,
        3.53,
        "gradients and the optimiser step: student only",
        ha="center",
        fontsize=SMALL,
        color=grad,
    )
    # EMA: the teacher follows the student after each step
    ax.add_patch(
        FancyArrowPatch(
            (2.55, top - h / 2),
            (2.55, bottom + h / 2),
            arrowstyle="-|>",
            mutation_scale=12,
            color=EDGE,
            linewidth=1.2,
            linestyle=":",
        )
    )
    ax.text(
        2.65,
        1.92,
        rf"EMA, $m = {momentum:g}$:"
        "\n"
        r"$\theta_t \leftarrow m\,\theta_t + (1-m)\,\theta_s$",
        fontsize=SMALL,
        va="center",
    )
    # the center: a running mean of the teacher's outputs
    ax.plot(
        [3.4, 3.4, 4.0],
        [bottom, 0.38, 0.38],
        color=EDGE,
        linewidth=1.2,
        linestyle=":",
    )
    _arrow(ax, (4.0, 0.38), (4.0, bottom - h / 2), linestyle=":")
    ax.text(
        4.15,
        0.32,
        rf"$c \leftarrow \lambda c + (1-\lambda)\,$"
        rf"batch mean of teacher outputs, $\lambda = "
        rf"{center_momentum:g}$",
        fontsize=SMALL,
        va="center",
    )
    ax.text(
        0.1,
        0.05,
        "pink: where the loss and its gradients act;  dotted:"
        " updates without gradients",
        fontsize=SMALL,
        color="#444444",
    )
    return fig


def _dino_step_narrow(
    width: float,
    boxes: dict[str, str],
    momentum: float,
    center_momentum: float,
) -> Figure:
    """The DINO step at a phone's width: the views on top, the student
    (left) and the teacher (right) as columns that meet in the loss, the
    EMA rule and the center's update written out under the drawing."""
    fig, ax = _canvas(7.3, xlim=(0, width), width=width)
    left, right, w = 1.3, 3.6, 1.75  # the columns' centres, box width
    grad = "#d81b60"
    _box(
        ax,
        width / 2,
        6.95,
        3.2,
        0.45,
        "views of one image: 2 global, 8 local",
        size=SMALL,
    )
    _arrow(ax, (left, 6.72), (left, 6.24))
    _arrow(ax, (right, 6.72), (right, 6.24))
    ax.text(left + 0.08, 6.44, "all", fontsize=SMALL, va="center")
    ax.text(right + 0.08, 6.44, "global only", fontsize=SMALL, va="center")
    row, h = 5.85, 0.78  # the networks' row, box height
    _box(ax, left, row, w, h, boxes["student"], LAYER, size=SMALL)
    _box(ax, right, row, w, h, boxes["teacher"], LAYER, size=SMALL)
    # EMA: the teacher follows the student after each step (rule below)
    _arrow(ax, (left + w / 2, row), (right - w / 2, row), linestyle=":")
    ax.text(width / 2, row + 0.07, "EMA", fontsize=SMALL, ha="center")
    _box(ax, left, 4.55, w, 0.6, boxes["student softmax"], size=SMALL)
    _box(ax, right, 4.55, w, 0.6, boxes["centering"], size=SMALL)
    _box(ax, right, 3.4, w, 0.78, boxes["sharpening"], size=SMALL)
    _arrow(ax, (left, row - h / 2), (left, 4.85))
    _arrow(ax, (right, row - h / 2), (right, 4.85))
    _arrow(ax, (right, 4.25), (right, 3.79))
    # the center: a running mean of the teacher's outputs (rule below)
    ax.plot(
        [right, 4.7, 4.7],
        [5.13, 5.13, 4.55],
        color=EDGE,
        linewidth=1.2,
        linestyle=":",
    )
    _arrow(ax, (4.7, 4.55), (right + w / 2, 4.55), linestyle=":")
    loss_top = 2.6
    _box(
        ax,
        width / 2,
        loss_top - 0.35,
        2.9,
        0.7,
        "loss: cross-entropy −Σ Pt log Ps\nover pairs of different views",
        "#fce4ec",
        size=SMALL,
    )
    _arrow(ax, (left, 4.25), (left, loss_top))
    ax.text(left + 0.08, 3.4, "Ps", fontsize=SMALL, va="center")
    _arrow(ax, (right, 3.01), (right, loss_top))
    ax.text(right - 0.2, 2.8, "Pt", fontsize=SMALL, ha="right", va="center")
    # stop-gradient: two strokes across the teacher's arrow into the loss
    for dy in (0.0, 0.07):
        ax.plot(
            [right - 0.09, right + 0.09],
            [2.73 + dy, 2.83 + dy],
            color=grad,
            linewidth=1.5,
        )
    ax.text(
        right + 0.15,
        2.8,
        "stop-gradient",
        fontsize=SMALL,
        color=grad,
        va="center",
    )
    # gradients: from the loss back to the student only
    ax.plot(
        [width / 2 - 1.45, 0.15, 0.15],
        [loss_top - 0.35, loss_top - 0.35, row],
        color=grad,
        linewidth=1.2,
        linestyle="--",
    )
    ax.add_patch(
        FancyArrowPatch(
            (0.15, row),
            (left - w / 2 - 0.02, row),
            arrowstyle="-|>",
            mutation_scale=12,
            color=grad,
            linewidth=1.2,
            linestyle="--",
        )
    )
    ax.text(
        width / 2,
        1.68,
        "gradients and the optimiser step: student only",
        ha="center",
        va="center",
        fontsize=SMALL,
        color=grad,
    )
    notes = [
        rf"EMA, $m = {momentum:g}$:  "
        r"$\theta_t \leftarrow m\,\theta_t + (1-m)\,\theta_s$",
        r"center: $c \leftarrow \lambda c + (1-\lambda)\,$"
        "batch mean of\nteacher outputs, "
        rf"$\lambda = {center_momentum:g}$",
        "pink: where the loss and its gradients act;\n"
        "dotted: updates without gradients",
    ]
    for y, note in zip((1.4, 1.07, 0.52), notes, strict=True):
        ax.text(
            0.1,
            y,
            note,
            fontsize=SMALL,
            va="top",
            color="#444444" if note.startswith("pink") else "black",
        )
    return fig


def _check_matrix_figure(grid, dim, seed, configs):
    """Check :func:`attention_matrix_figure`'s arguments; return them as
    Python numbers and a tuple of (img_size, patch_size) pairs. The
    (N+1) x (N+1) weights must fit in memory."""
    grid = check.positive_int(grid, "grid")
    dim = check.positive_int(dim, "dim")
    seed = check.non_negative_int(seed, "seed")
    if seed >= 2**64:
        raise ValueError(f"seed must be below 2**64, got {seed}")
    tokens = grid * grid + 1
    check.fits_in_memory(
        max(tokens * tokens, tokens * dim),
        f"An attention matrix of grid={grid} ({tokens:,} tokens)",
    )
    if isinstance(configs, (str, bytes)) or not hasattr(configs, "__iter__"):
        raise TypeError(
            "configs must be (img_size, patch_size) pairs, got "
            f"{type(configs).__name__} ({configs!r})"
        )
    configs = tuple(configs)
    if not configs or not all(
        isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in configs
    ):
        raise ValueError(
            "configs must be one or more (img_size, patch_size) pairs, got "
            f"{configs!r}"
        )
    return grid, dim, seed, configs
