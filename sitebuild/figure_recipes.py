"""What each figure of the site shows: the package's plotting functions applied to the lesson's data.

Each recipe is registered under the figure's site path by ``@figure(...)``
right above it; the path's ending (.png or .webp) is its encoding. Imported
by sitebuild/figures.py only when a figure has to be drawn (a cache miss), so
that a warm build does not pay for importing torch and matplotlib; the build
reads the registrations from this file's source first, so that a mistake in
one stops it before anything is drawn.
"""

from __future__ import annotations

import inspect
import json
import posixpath
from collections.abc import Callable

import matplotlib
import matplotlib.figure

matplotlib.use("Agg")

import torch  # noqa: E402

from sitebuild import one_torch_thread  # noqa: E402
from vitlesson.data.images import normalize, sample_image  # noqa: E402
from vitlesson.data.multicrop import multi_crop  # noqa: E402
from vitlesson.data.objects import make_objects  # noqa: E402
from vitlesson.data.shapes import make_shapes, normalize_shapes  # noqa: E402
from vitlesson.figures import diagrams  # noqa: E402
from vitlesson.figures.plots import (  # noqa: E402
    WIDTH,
    attention_maps_figure,
    benchmark_figure,
    figure_bytes,
    multi_crop_figure,
    object_attention_figure,
    patch_sizes_figure,
    patches_figure,
    position_embedding_figure,
    smallest_font_size,
    training_curves_figure,
)
from vitlesson.lab import dino  # noqa: E402
from vitlesson.lab.probes import attention_iou, attention_masks  # noqa: E402
from vitlesson.lab.train import TEST_SEED, load_trained, tiny_vit  # noqa: E402
from vitlesson.position import (
    PositionalEmbedding,
    sincos_2d_position_embedding,
)  # noqa: E402
from vitlesson.tools.bench import RECORDED  # noqa: E402
from vitlesson.vit import vit_base, vit_small  # noqa: E402

DPI = 150
# site path -> recipe, filled by @figure in the order of this file.
FIGURES: dict[str, Callable[..., matplotlib.figure.Figure]] = {}


def figure(path: str):
    """Register the decorated recipe as the figure ``path`` of the site."""

    def register(recipe):
        FIGURES[path] = recipe
        return recipe

    return register


@figure("figures/patches.webp")
def patches(width: float = WIDTH):
    return patches_figure(sample_image(224), patch_size=16, width=width)


@figure("figures/patch-sizes.webp")
def patch_sizes(width: float = WIDTH):
    return patch_sizes_figure(width=width)


@figure("figures/position-embeddings.png")
def position_embeddings():
    torch.manual_seed(0)
    learnable = PositionalEmbedding(
        n_patches=196, embed_dim=768
    ).position_embeddings[0, 1:]  # drop CLS
    return position_embedding_figure(
        {
            "learnable, at initialisation": learnable,
            "fixed 2-D sin-cos": sincos_2d_position_embedding(14, 768),
        },
        grid_size=14,
    )


@figure("figures/attention-untrained.png")
def untrained_attention():
    torch.manual_seed(0)
    model = vit_small(patch_size=16).eval()
    photo = sample_image(224)
    with torch.no_grad():
        attention = model.get_last_selfattention(
            normalize(photo)[None]
        )  # (1, 6, 197, 197)
    return attention_maps_figure(
        photo,
        attention[0, :, 0, 1:],
        patch_size=16,
        title="CLS attention, last block of an untrained ViT-S/16",
    )


@figure("figures/position-embeddings-trained.png")
def trained_position_embeddings():
    torch.manual_seed(0)
    untrained, (trained, _) = tiny_vit(), load_trained()
    return position_embedding_figure(
        {
            "random init": untrained.pos_embed.detach()[0, 1:],
            "trained on shapes": trained.pos_embed.detach()[0, 1:],
            "fixed 2-D sin-cos": sincos_2d_position_embedding(8, 64),
        },
        grid_size=8,
    )


@figure("figures/attention-trained.png")
def trained_attention():
    model, _ = load_trained()
    images, labels = make_shapes(4, seed=TEST_SEED)
    with torch.no_grad():
        attention = model.get_last_selfattention(
            normalize_shapes(images)
        )  # (4, 4 heads, 65, 65)
        answers = model(normalize_shapes(images)).argmax(dim=1)
    names = ["square right", "square left"]
    return attention_maps_figure(
        images,
        attention[:, :, 0, 1:],
        patch_size=4,
        labels=[
            f"truth: {names[y].split()[1]}\nmodel: {names[a].split()[1]}"
            for y, a in zip(labels.tolist(), answers.tolist(), strict=True)
        ],
        title="CLS attention in the last block of the trained tiny ViT",
    )


@figure("figures/benchmarks.png")
def benchmarks(width: float = WIDTH):
    return benchmark_figure(
        json.loads(RECORDED.read_text(encoding="utf-8")), width=width
    )


@figure("figures/vit-pipeline.png")
def vit_pipeline(width: float = WIDTH):
    return diagrams.vit_pipeline_figure(vit_base(patch_size=16), width=width)


@figure("figures/encoder-block.png")
def encoder_block(width: float = WIDTH):
    return diagrams.encoder_block_figure(width=width)


@figure("figures/patchify-axes.png")
def patchify_axes(width: float = WIDTH):
    return diagrams.patchify_axes_figure(width=width)


@figure("figures/attention-matrix.png")
def attention_matrix(width: float = WIDTH):
    return diagrams.attention_matrix_figure(width=width)


@figure("figures/dino-step.png")
def dino_step(width: float = WIDTH):
    return diagrams.dino_step_figure(width=width)


@figure("figures/dino-views.png")
def dino_views(width: float = WIDTH):
    images, _, _ = make_objects(1, seed=dino.TEST_SEED)
    views = multi_crop(images, torch.Generator().manual_seed(0))
    return multi_crop_figure(images[0], [v[0] for v in views], width=width)


@figure("figures/dino-training.png")
def dino_training():
    record = dino.load_record()
    return training_curves_figure(
        {"DINO": record["history"]}, record["history"]["log_k"]
    )


@figure("figures/dino-ablation.png")
def dino_ablation():
    """The ablations beside their control: runs of the same length."""
    runs = json.loads(dino.ABLATIONS.read_text(encoding="utf-8"))
    control = runs.pop(dino.command.CONTROL)["history"]
    histories = {"shipped settings": control}
    histories |= {
        name.replace("no-", "no ").replace("-temp-", " temp "): run["history"]
        for name, run in runs.items()
    }
    return training_curves_figure(histories, control["log_k"], log_kl=True)


@figure("figures/dino-attention.png")
def dino_attention():
    """Held-out images: truth, then the best head of each model, thresholded as DINO does."""
    images, masks, _ = make_objects(5, seed=dino.TEST_SEED)
    columns = {}
    for name, model in [
        ("untrained", dino.random_backbone()),
        ("supervised", dino.load_backbone(dino.SUPERVISED_WEIGHTS)),
        ("DINO", dino.load_backbone(dino.DINO_WEIGHTS)),
    ]:
        test, test_masks, _ = make_objects(dino.TEST_SIZE, seed=dino.TEST_SEED)
        head = int(
            attention_iou(model, dino.normalize(test), test_masks).argmax()
        )
        with torch.no_grad():
            attention = model.get_last_selfattention(
                dino.normalize(images)
            )  # (5, h, 65, 65)
        kept = attention_masks(attention)  # (5, h, 64)
        columns[f"{name}, head {head}"] = (
            attention[:, head, 0, 1:],
            kept[:, head],
        )
    return object_attention_figure(images, masks, columns, patch_size=4)


@figure("figures/dino-heads.png")
def dino_heads():
    """Every head of the DINO teacher on the held-out images."""
    images, masks, _ = make_objects(4, seed=dino.TEST_SEED + 10)
    model = dino.load_backbone(dino.DINO_WEIGHTS)
    with torch.no_grad():
        attention = model.get_last_selfattention(dino.normalize(images))
    kept = attention_masks(attention)
    columns = {
        f"head {h}": (attention[:, h, 0, 1:], kept[:, h])
        for h in range(attention.shape[1])
    }
    return object_attention_figure(images, masks, columns, patch_size=4)


# A phone's column is 358 CSS px: a figure drawn this wide (inches) shows its
# 9-pt text at 9 / 72 x 358 / 4.9 = 9.1 CSS px there. These figures are also
# drawn at that width, the same drawing laid out again, and served to
# screens up to 600 px wide (sitebuild/figures.py writes the <picture>).
NARROW_WIDTH = 4.9
# A recipe that takes ``width`` draws its own narrow layout (more rows); the
# others are grids of panels that constrained layout reflows, drawn once and
# laid out again. Every diagram takes ``width``: its text sits in drawing
# coordinates and would overlap if only the figure were narrowed.
NARROW = {
    "figures/patches.webp",
    "figures/patch-sizes.webp",
    "figures/benchmarks.png",
    "figures/dino-views.png",
    "figures/vit-pipeline.png",
    "figures/attention-matrix.png",
    "figures/encoder-block.png",
    "figures/patchify-axes.png",
    "figures/position-embeddings.png",
    "figures/attention-untrained.png",
    "figures/position-embeddings-trained.png",
    "figures/attention-trained.png",
    "figures/dino-training.png",
    "figures/dino-ablation.png",
    "figures/dino-heads.png",
    "figures/dino-attention.png",
    "figures/dino-step.png",
}


def narrow_path(path: str) -> str:
    """Where the narrow drawing of the figure ``path`` is served."""
    stem, ending = posixpath.splitext(path)
    return f"{stem}-narrow{ending}"


def _measure(drawn: matplotlib.figure.Figure) -> dict:
    return {
        "width_in": drawn.get_figwidth(),
        "dpi": DPI,
        "smallest_text_pt": smallest_font_size(drawn),
    }


def _fit_titles(drawn: matplotlib.figure.Figure) -> None:
    """Break each panel title wider than its panel into two lines: after
    its first comma, else at the space nearest its middle."""
    drawn.draw_without_rendering()  # the layout the titles are measured in
    for ax in drawn.axes:
        title = ax.title
        text = title.get_text()
        if not text or "\n" in text or " " not in text:
            continue
        if title.get_window_extent().width <= ax.get_window_extent().width:
            continue
        if ", " in text:
            title.set_text(text.replace(", ", ",\n", 1))
            continue
        spaces = [i for i, character in enumerate(text) if character == " "]
        middle = min(spaces, key=lambda i: abs(i - len(text) / 2))
        title.set_text(text[:middle] + "\n" + text[middle + 1 :])


def render_variants(path: str) -> tuple[dict[str, bytes], dict]:
    """The figure ``path`` encoded as its name ends, and, for a figure of
    :data:`NARROW`, its :data:`NARROW_WIDTH`-inch drawing: drawn by a
    recipe that takes ``width``, else the same drawing laid out again, its
    panel titles broken where they no longer fit (site path -> bytes); and
    what a reader's eye needs to know about it: its width in inches,
    resolution and smallest text in points (under ``"narrow"``, the narrow
    drawing's). The recipes run on one torch thread, so the bytes are the
    same on any machine."""
    with one_torch_thread():
        drawn = FIGURES[path]()
    if not isinstance(drawn, matplotlib.figure.Figure):
        raise TypeError(
            f"expected the recipe to return a matplotlib Figure, got "
            f"{type(drawn).__name__}"
        )
    encoding = posixpath.splitext(path)[1].removeprefix(".")
    meta = _measure(drawn)
    contents = {path: figure_bytes(drawn, encoding, dpi=DPI)}
    if (
        path in NARROW
        and "width" in inspect.signature(FIGURES[path]).parameters
    ):
        with one_torch_thread():
            drawn = FIGURES[path](width=NARROW_WIDTH)
    elif path in NARROW:
        drawn.set_figwidth(NARROW_WIDTH)  # the height stays: rows keep room
        _fit_titles(drawn)
    if path in NARROW:
        narrow = narrow_path(path)
        contents[narrow] = figure_bytes(drawn, encoding, dpi=DPI)
        meta["narrow"] = {"src": narrow, **_measure(drawn)}
    return contents, meta


def render(path: str) -> tuple[bytes, dict]:
    """The figure ``path`` as the page shows it on a wide screen, and its
    measurements (:func:`render_variants`)."""
    contents, meta = render_variants(path)
    return contents[path], meta
