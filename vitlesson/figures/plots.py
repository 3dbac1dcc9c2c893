"""The lesson's figures, as functions that return matplotlib Figures.

The site build calls them (sitebuild/figure_recipes.py) and so can a learner in a
notebook; nothing here opens a window or writes files. Each function draws
from the package's own computations, so a figure cannot disagree with the
code. Figures are at most 8 inches wide with text of at least 9 points: shown
in the site's 688-pixel column, the smallest text is still 10.7 pixels.
"""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import torch
from matplotlib.figure import Figure

from vitlesson import _validation as check
from vitlesson.data.images import load_photo, square_crop_resize
from vitlesson.patching import patchify
from vitlesson.position import (
    cosine_similarity_maps,
    principal_component_maps,
)

GRID_COLOUR = "#ffd54f"
HIGHLIGHT_COLOUR = "#ff5252"
WIDTH = 8.0  # inches: the site's column is 688 CSS px, so 1 pt = 1.19 px
SMALL = 9  # points: the smallest text of any figure
# Below this width (inches) a figure that takes ``width`` lays its panels out
# in more rows, so that its text stays large beside the panels: the site
# draws such figures 4.9 inches wide again for phones.
NARROW = 6.0


def _width(width) -> float:
    """A figure's width in inches: from 2 to :data:`WIDTH`."""
    return check.finite_number(width, "width", low=2.0, high=WIDTH)


def _to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) for imshow."""
    check.float_tensor(image, "image")
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(
            f"image must have shape (3, height, width) with values in [0, 1], got {tuple(image.shape)}"
        )
    return (
        image.detach().permute(1, 2, 0).clamp(0, 1).numpy()
    )  # (3, H, W) -> (H, W, 3)


def _draw_grid(
    ax, height: int, width: int, patch_size: int, linewidth: float = 0.8
) -> None:
    for y in range(0, height + 1, patch_size):
        ax.axhline(y - 0.5, color=GRID_COLOUR, linewidth=linewidth)
    for x in range(0, width + 1, patch_size):
        ax.axvline(x - 0.5, color=GRID_COLOUR, linewidth=linewidth)


def patch_mosaic(
    image: torch.Tensor, patch_size: int, gap: int = 2
) -> np.ndarray:
    """The image's patches laid out on their grid with ``gap`` white pixels between them."""
    pixels = _to_numpy_image(image)
    patch_size = check.positive_int(patch_size, "patch_size")
    gap = check.non_negative_int(gap, "gap")
    rows, cols = check.patch_grid(pixels.shape[:2], patch_size)
    step = patch_size + gap
    mosaic = np.ones((rows * step - gap, cols * step - gap, 3))
    for r in range(rows):
        for c in range(cols):
            patch = pixels[
                r * patch_size : (r + 1) * patch_size,
                c * patch_size : (c + 1) * patch_size,
            ]
            mosaic[
                r * step : r * step + patch_size,
                c * step : c * step + patch_size,
            ] = patch
    return mosaic


def smallest_font_size(fig: Figure) -> float:
    """The smallest font size (points) of any visible text in ``fig``."""
    from matplotlib.text import Text

    fig.canvas.draw()  # lays out tick labels, so that they exist as Text
    sizes = [
        float(text.get_fontsize())
        for text in fig.findobj(Text)
        if text.get_visible() and text.get_text().strip()
    ]
    return min(sizes)


def patches_figure(
    image: torch.Tensor,
    patch_size: int = 16,
    n_tokens: int = 14,
    *,
    width: float = WIDTH,
) -> Figure:
    """The image, its patch grid, the patches apart, and the first tokens
    (``width`` in inches; a narrow figure breaks its captions into more
    lines)."""
    width = _width(width)
    narrow = width < NARROW
    pixels = _to_numpy_image(image)
    height, image_width = pixels.shape[:2]
    P = check.positive_int(patch_size, "patch_size")
    rows, cols = check.patch_grid((height, image_width), P)
    n_tokens = min(check.positive_int(n_tokens, "n_tokens"), rows * cols)
    tokens = patchify(image[None].float(), P)[0]  # (N, 3*P*P), raster order

    fig = Figure(figsize=(width, 3.6 if narrow else 4.3), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.1, 1])  # type: ignore[misc]  # an array of two
    ax_image, ax_grid, ax_mosaic = top.subplots(1, 3)
    ax_image.imshow(pixels)
    title = {"fontsize": SMALL + 1} if narrow else {}  # wide: 12 pt
    ax_image.set_title(f"The image:\n{height}×{image_width}×3 pixels", **title)
    ax_grid.imshow(pixels)
    _draw_grid(ax_grid, height, image_width, P)
    for index in (0, cols - 1, (rows - 1) * cols, rows * cols - 1):
        r, c = divmod(index, cols)
        ax_grid.text(
            c * P + P / 2,
            r * P + P / 2,
            str(index),
            ha="center",
            va="center",
            fontsize=SMALL,
            color="white",
            bbox={
                "boxstyle": "round,pad=0.1",
                "facecolor": "black",
                "alpha": 0.7,
                "linewidth": 0,
            },
        )
    ax_grid.add_patch(_rectangle(0, 0, P * min(n_tokens, cols), P))
    ax_grid.set_title(
        f"{P}×{P} patches:\n{rows}×{cols} = {rows * cols} tokens",
        **title,
    )
    ax_mosaic.imshow(patch_mosaic(image, P))
    ax_mosaic.set_title(
        "Pulled apart:\neach patch is\none token"
        if narrow
        else "Pulled apart:\neach patch is one token",
        **title,
    )
    for ax in (ax_image, ax_grid, ax_mosaic):
        ax.set_axis_off()

    strip = bottom.subplots(1, n_tokens)
    bottom.suptitle(
        f"…read in raster order: tokens 0–{n_tokens - 1} of {rows * cols},"
        + ("\n" if narrow else " ")
        + f"each {tokens.shape[1]} numbers (3·{P}·{P})",
        fontsize=10,
    )
    for index, ax in enumerate(np.atleast_1d(strip)):
        r, c = divmod(index, cols)
        ax.imshow(pixels[r * P : (r + 1) * P, c * P : (c + 1) * P])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(str(index), fontsize=SMALL)
        for spine in ax.spines.values():
            spine.set_edgecolor(HIGHLIGHT_COLOUR)
    return fig


def _rectangle(x: float, y: float, width: float, height: float):
    from matplotlib.patches import Rectangle

    return Rectangle(
        (x - 0.5, y - 0.5),
        width,
        height,
        fill=False,
        edgecolor=HIGHLIGHT_COLOUR,
        linewidth=2,
    )


def patch_sizes_figure(
    configs=((224, 8), (224, 16), (224, 32), (384, 16)),
    photo: torch.Tensor | None = None,
    *,
    width: float = WIDTH,
) -> Figure:
    """One photograph cut with several (image size, patch size) pairs, in
    one row (``width`` in inches; a narrow figure uses two rows)."""
    width = _width(width)
    photo = load_photo() if photo is None else photo
    columns = len(configs) if width >= NARROW else (len(configs) + 1) // 2
    rows_of_panels = -(-len(configs) // columns)  # ceil
    fig = Figure(
        figsize=(width, 2.75 * rows_of_panels * (width / WIDTH) ** 0.5),
        layout="constrained",
    )
    axes = np.atleast_1d(fig.subplots(rows_of_panels, columns)).ravel()
    for ax in axes[len(configs) :]:
        ax.set_axis_off()
    for ax, (img_size, patch_size) in zip(
        axes[: len(configs)], configs, strict=True
    ):
        image = square_crop_resize(photo, img_size)
        rows, cols = check.patch_grid(
            (image.shape[1], image.shape[2]), patch_size
        )
        ax.imshow(_to_numpy_image(image))
        _draw_grid(
            ax, image.shape[1], image.shape[2], patch_size, linewidth=0.5
        )
        ax.set_title(
            f"{img_size} px, P = {patch_size}\n"
            f"{rows}×{cols} = {rows * cols} tokens",
            fontsize=10,
        )
        ax.set_axis_off()
    return fig


def position_embedding_figure(
    embeddings: dict[str, torch.Tensor], grid_size, references=None
) -> Figure:
    """Similarity maps and principal components of position tables.

    ``embeddings`` maps a row label to an (N, D) table of patch position
    vectors (CLS removed). The similarity maps show, for three reference
    positions, how close every other position's vector is, all on one colour
    scale from -1 to 1 so that the rows can be compared; the component maps
    show the main directions of variation across the grid.
    """
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    references = references or [
        (0, 0),
        (rows // 2, cols // 2),
        (rows - 1, cols - 1),
    ]
    n_maps = len(references) + 3
    fig = Figure(
        figsize=(WIDTH, 1.45 * len(embeddings) + 0.5), layout="constrained"
    )
    axes = np.atleast_2d(fig.subplots(len(embeddings), n_maps))
    for row_axes, (label, embedding) in zip(
        axes, embeddings.items(), strict=True
    ):
        similarity = cosine_similarity_maps(embedding, (rows, cols))
        components, variance = principal_component_maps(
            embedding, (rows, cols), k=3
        )
        for ax, (r, c) in zip(
            row_axes[: len(references)], references, strict=True
        ):
            sim_image = ax.imshow(
                similarity[r, c].numpy(), cmap="RdBu_r", vmin=-1, vmax=1
            )
            ax.plot(
                c,
                r,
                marker="x",
                color="black",
                markersize=7,
                markeredgewidth=2,
            )
            ax.set_title(f"vs ({r}, {c})", fontsize=SMALL)
        for i, ax in enumerate(row_axes[len(references) :]):
            limit = float(components[i].abs().max())
            ax.imshow(
                components[i].numpy(), cmap="PuOr_r", vmin=-limit, vmax=limit
            )
            ax.set_title(f"PC {i + 1}: {variance[i]:.0%}", fontsize=SMALL)
        row_axes[0].set_ylabel(label.replace(", ", ",\n"), fontsize=SMALL)
        for ax in row_axes:
            ax.set_xticks([])
            ax.set_yticks([])
    bar = fig.colorbar(
        sim_image,
        ax=axes[:, : len(references)],
        location="bottom",
        shrink=0.8,
        aspect=30,
    )
    bar.set_label("cosine similarity, one scale for every row", fontsize=SMALL)
    bar.ax.tick_params(labelsize=SMALL)
    return fig


def figure_bytes(fig: Figure, format: str = "png", dpi: int = 150) -> bytes:
    """Encode a figure reproducibly: the same figure gives the same bytes on every build.

    PNG is written without the "Software" tag; photographs are re-encoded as lossy
    WebP (about a fifth of the PNG's size), which carries no metadata at all.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    if format == "png":
        return buffer.getvalue()
    if format != "webp":
        raise ValueError(f"format must be 'png' or 'webp', got {format!r}")
    buffer.seek(0)
    webp = io.BytesIO()
    PIL.Image.open(buffer).convert("RGB").save(
        webp, format="webp", quality=88, method=6
    )
    return webp.getvalue()


def attention_maps_figure(
    image: torch.Tensor,
    cls_attention: torch.Tensor,
    patch_size: int,
    title: str = "",
    labels: list[str] | None = None,
) -> Figure:
    """Each image next to one map per head of how much the CLS token attends to each patch.

    ``image`` is one (3, H, W) image or a batch (B, 3, H, W); ``cls_attention`` is row 0
    of the last block's attention without its CLS column: (heads, N) or (B, heads, N).
    """
    images = image[None] if image.dim() == 3 else image
    attention = (
        cls_attention[None] if cls_attention.dim() == 2 else cls_attention
    )
    pixels = [_to_numpy_image(im) for im in images]
    rows, cols = check.patch_grid(
        pixels[0].shape[:2], check.positive_int(patch_size, "patch_size")
    )
    check.float_tensor(attention, "cls_attention")
    if (
        attention.dim() != 3
        or attention.shape[0] != len(pixels)
        or attention.shape[2] != rows * cols
    ):
        raise ValueError(
            f"cls_attention must have shape ({len(pixels)}, heads, {rows * cols}) for these images, "
            f"got {tuple(cls_attention.shape)}"
        )
    heads = attention.shape[1]
    maps = attention.detach().reshape(
        len(pixels), heads, rows, cols
    )  # (B, heads, N) -> (B, heads, rows, cols)
    fig = Figure(
        figsize=(min(WIDTH, 1.3 * (heads + 1)), 1.45 * len(pixels) + 0.4),
        layout="constrained",
    )
    axes = np.atleast_2d(fig.subplots(len(pixels), heads + 1))
    for b, row_axes in enumerate(axes):
        row_axes[0].imshow(pixels[b])
        row_axes[0].set_title(labels[b] if labels else "input", fontsize=SMALL)
        for head, ax in enumerate(row_axes[1:]):
            ax.imshow(maps[b, head].numpy(), cmap="inferno")
            ax.set_title(f"head {head}", fontsize=SMALL)
        for ax in row_axes:
            ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def benchmark_figure(results: dict, *, width: float = WIDTH) -> Figure:
    """Achieved GFLOP/s of each patch-embedding form against its matmul roof,
    and attention cost (``width`` in inches; a narrow figure turns the
    configurations' names and puts the legend under the bars)."""
    width = _width(width)
    narrow = width < NARROW
    machine = results["machine"]
    rows = results["patch_embedding"]
    forms = ["conv", "reshape + linear", "vitlesson default", "matmul roof"]
    fig = Figure(figsize=(width, 7.2 if narrow else 6.4), layout="constrained")
    ax_gemm, ax_time, ax_memory = fig.subplot_mosaic(
        [["gemm", "gemm"], ["time", "memory"]]
    ).values()
    bar = 0.8 / len(forms)
    positions = np.arange(len(rows))
    for i, form in enumerate(forms):
        ax_gemm.bar(
            positions + (i - 1.5) * bar,
            [row["gflops_per_s"][form] for row in rows],
            bar,
            label=form,
        )
    ax_gemm.set_xticks(
        positions,
        [
            f"{row['config']}"
            + (" " if narrow else "\n")
            + f"batch {row['batch']}"
            for row in rows
        ],
        fontsize=SMALL,
        rotation=35 if narrow else 0,
        ha="right" if narrow else "center",
        rotation_mode="anchor",
    )
    ax_gemm.set_ylabel("GFLOP/s (higher is better)")
    ax_gemm.set_title("Patch embedding, D = 768")
    if narrow:
        ax_gemm.legend(
            fontsize=SMALL,
            ncols=2,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.42),
        )
    else:
        ax_gemm.legend(fontsize=SMALL, ncols=2, loc="lower right")
    attention = results["attention"]
    tokens = [row["tokens"] for row in attention]
    for name, style in [("sdpa", "o-"), ("explicit", "s--")]:
        ax_time.plot(
            tokens, [row["ms"][name] for row in attention], style, label=name
        )
    ax_time.set_xlabel("tokens N + 1")
    ax_time.set_ylabel("ms (1 image, 6 heads)")
    ax_time.set_title("Attention time")
    ax_time.legend(fontsize=SMALL)
    ax_memory.plot(
        tokens,
        [row["attention_matrix_mb"] for row in attention],
        "o-",
        color="C3",
    )
    ax_memory.set_xlabel("tokens N + 1")
    ax_memory.set_ylabel("MiB")
    ax_memory.set_title(
        "One layer's\nattention matrices"
        if narrow
        else "One layer's attention matrices"
    )
    fig.suptitle(
        f"{machine['cpu']}, {machine['threads']} threads,\n"
        f"torch {machine['torch']}, {results['date']} ({results['mode']} run)",
        fontsize=SMALL,
    )
    return fig


def multi_crop_figure(
    image: torch.Tensor, views: list[torch.Tensor], *, width: float = WIDTH
) -> Figure:
    """One image and the views DINO makes of it: 2 global crops, then the
    local ones, each (3, S, S) in [0, 1] and drawn at the same scale, in
    one row (``width`` in inches; a narrow figure puts the local crops in a
    second row)."""
    width = _width(width)
    sizes = [image.shape[-1]] + [v.shape[-1] for v in views]
    if width >= NARROW:
        fig = Figure(figsize=(width, 1.9), layout="constrained")
        axes = fig.subplots(1, len(views) + 1, width_ratios=sizes)
    else:
        fig = Figure(figsize=(width, 3.0), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.4, 1])  # type: ignore[misc]  # an array of two
        axes = [
            *top.subplots(1, 3, width_ratios=sizes[:3]),
            *np.atleast_1d(bottom.subplots(1, len(views) - 2)),
        ]
    axes[0].imshow(_to_numpy_image(image))
    axes[0].set_title("image", fontsize=SMALL)
    for i, (ax, view) in enumerate(zip(axes[1:], views, strict=True)):
        ax.imshow(_to_numpy_image(view))
        ax.set_title(
            f"global {i + 1}" if i < 2 else f"local {i - 1}", fontsize=SMALL
        )
    for ax in axes:
        ax.set_axis_off()
    return fig


def object_attention_figure(
    images: torch.Tensor,
    masks: torch.Tensor,
    models: dict[str, tuple[torch.Tensor, torch.Tensor]],
    patch_size: int,
) -> Figure:
    """Held-out images, their true object masks, and one column per map:
    CLS attention with the patches that hold 60% of it outlined.

    ``models`` maps a column title to ``(cls_attention, kept)``: one head's
    attention to the N patches (B, N) and its thresholded mask (B, N).
    """
    names = list(models)
    fig = Figure(
        figsize=(WIDTH, 1.2 * len(images) + 0.5), layout="constrained"
    )
    axes = np.atleast_2d(fig.subplots(len(images), len(names) + 2))
    rows = cols = images.shape[-1] // patch_size
    for b, row in enumerate(axes):
        row[0].imshow(_to_numpy_image(images[b]))
        row[1].imshow(masks[b].numpy(), cmap="gray", vmin=0, vmax=1)
        for ax, name in zip(row[2:], names, strict=True):
            attention, kept = models[name]
            ax.imshow(attention[b].reshape(rows, cols).numpy(), cmap="inferno")
            fine = np.kron(
                kept[b].reshape(rows, cols).float().numpy(), np.ones((8, 8))
            )  # square outlines around patches
            ax.contour(
                np.arange(8 * cols) / 8 - 0.4375,
                np.arange(8 * rows) / 8 - 0.4375,
                fine,
                levels=[0.5],
                colors=[GRID_COLOUR],
                linewidths=1.2,
            )
        if b == 0:
            for ax, title in zip(
                row, ["image", "true mask", *names], strict=True
            ):
                ax.set_title(title, fontsize=SMALL)
        for ax in row:
            ax.set_axis_off()
    return fig


def training_curves_figure(
    runs: dict[str, dict], log_k: float, *, log_kl: bool = False
) -> Figure:
    """Teacher entropy (against its ceiling ln K) and teacher–student KL
    over the training steps of one or more runs' histories.

    ``log_kl=True`` draws the KL on a log scale above 0.001 (linear below,
    so a KL of 0, a collapse, still has a place): a run that keeps a small
    KL then stands apart from runs whose KL fell to 0.
    """
    fig = Figure(figsize=(WIDTH, 2.8), layout="constrained")
    entropy_ax, kl_ax = fig.subplots(1, 2)
    for name, history in runs.items():
        entropy_ax.plot(
            history["step"], history["teacher_entropy"], label=name
        )
        kl_ax.plot(history["step"], history["kl"], label=name)
    entropy_ax.axhline(log_k, color="grey", linestyle="--", linewidth=1)
    entropy_ax.text(
        0, log_k, f"ln K = {log_k:.2f}", fontsize=SMALL, va="bottom"
    )
    entropy_ax.set_ylim(0, log_k * 1.12)
    entropy_ax.set_title("teacher entropy (nats)", fontsize=SMALL + 1)
    kl_ax.set_title("KL(teacher ‖ student) (nats)", fontsize=SMALL + 1)
    if log_kl:
        kl_ax.set_yscale("symlog", linthresh=1e-3)
    for ax in (entropy_ax, kl_ax):
        ax.set_xlabel("step", fontsize=SMALL)
        ax.tick_params(labelsize=SMALL)
    if len(runs) > 1:  # where the entropy curves leave room
        entropy_ax.legend(fontsize=SMALL, loc="center right")
    return fig
