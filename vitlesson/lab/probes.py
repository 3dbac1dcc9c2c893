"""What a backbone learned, measured without training anything on top.

Two probes from the DINO paper, both free of labels during training:

- **k-NN accuracy**: classify each held-out image by a vote of its k nearest
  labelled images in CLS-feature space (cosine similarity), as DINO's
  ``eval_knn.py`` does: k = 20 votes weighted by ``exp(similarity / 0.07)``.
- **Attention IoU**: keep, per head, the patches that hold 60% of the last
  block's CLS attention (the DINO paper's value: ``--threshold 0.6`` for
  its ``visualize_attention.py``, which has no threshold by default), and
  compare that mask with the object's true mask (intersection over union,
  the paper's Jaccard similarity).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from vitlesson import _validation as check
from vitlesson.vit import VisionTransformer


@contextlib.contextmanager
def _evaluating(model):
    """``model`` in eval mode inside the block, then as it was."""
    if not isinstance(model, VisionTransformer):
        raise TypeError(
            f"model must be a VisionTransformer, got {type(model).__name__}"
        )
    training = model.training
    try:
        yield model.eval()
    finally:
        model.train(training)


def _images(images, batch) -> None:
    """At least one image, and a positive number of images per batch."""
    check.image_batch(images)
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got 0")
    check.positive_int(batch, "batch")


@torch.no_grad()
def cls_features(
    model: VisionTransformer, images: torch.Tensor, batch: int = 500
) -> torch.Tensor:
    """Unit-length CLS features (N, D) of normalised images."""
    _images(images, batch)
    with _evaluating(model):
        features = [
            model.forward_features(images[i : i + batch])[:, 0]
            for i in range(0, len(images), batch)
        ]  # (b, D) each
    return F.normalize(torch.cat(features), dim=1)


def knn_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Fraction of test images whose weighted k-NN vote is right.

    Features must be ℓ2-normalised, so that a dot product is a cosine.
    """
    _knn_inputs(
        train_features,
        train_labels,
        test_features,
        test_labels,
        k,
        temperature,
    )
    similarity = test_features @ train_features.T  # (N_test, N_train)
    top, index = similarity.topk(k, dim=1)  # (N_test, k) each, best first
    # exp((s - s_best) / T): the weights of DINO's vote, each row divided by
    # its largest, so that no small temperature overflows
    weights = ((top - top[:, :1]) / temperature).exp()
    votes = torch.zeros(
        len(test_features),
        int(train_labels.max()) + 1,
        dtype=weights.dtype,
        device=weights.device,
    )
    train_labels = train_labels.to(votes.device, torch.long)
    votes.scatter_add_(1, train_labels[index], weights)
    right = votes.argmax(dim=1) == test_labels.to(votes.device)
    return right.float().mean().item()


def _knn_inputs(
    train_features, train_labels, test_features, test_labels, k, temperature
) -> None:
    """Features (N, D) of one dtype and device, unit rows, one label each."""
    check.float_tensor(train_features, "train_features")
    for name, x in [
        ("train_features", train_features),
        ("test_features", test_features),
    ]:
        check.float_tensor(
            x, name, dtype=train_features.dtype, against="train_features"
        )
        _values(x, name)
        if x.dim() != 2 or len(x) == 0 or x.shape[1] == 0:
            raise ValueError(
                f"{name} must have shape (images, width) with at least one "
                f"image and a positive width, got {tuple(x.shape)}"
            )
        if x.device != train_features.device:
            raise ValueError(
                f"{name} is on {x.device}, train_features on "
                f"{train_features.device}: put both on one device"
            )
        norms = x.norm(dim=1)
        if not ((norms - 1).abs() <= 1e-2).all():  # False for nan too
            raise ValueError(
                f"{name} must be finite and ℓ2-normalised (rows of norm "
                f"1), got norms from {norms.min().item():.3g} to "
                f"{norms.max().item():.3g}: pass F.normalize({name}, dim=1)"
            )
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(
            f"test_features have width {test_features.shape[1]} but "
            f"train_features {train_features.shape[1]}: features of one "
            f"backbone have one width"
        )
    for name, labels, features in [
        ("train_labels", train_labels, train_features),
        ("test_labels", test_labels, test_features),
    ]:
        _labels(labels, name, features)
    k = check.positive_int(k, "k")
    if k > len(train_features):
        raise ValueError(
            f"k must be at most the number of training "
            f"features ({len(train_features)}), got {k}"
        )
    check.finite_number(temperature, "temperature", low=0, low_open=True)
    check.fits_in_memory(
        len(test_features) * (int(train_labels.max()) + 1),
        f"Votes for classes 0 to {int(train_labels.max())}",
    )


def _labels(labels, name: str, features: torch.Tensor) -> None:
    """One class index (an int >= 0) per feature row."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(labels).__name__}"
        )
    if (
        labels.is_floating_point()
        or labels.is_complex()
        or (labels.dtype == torch.bool)
    ):
        raise TypeError(
            f"{name} must hold integer class indices, got dtype "
            f"{labels.dtype}: call {name}.long()"
        )
    _values(labels, name)
    if labels.shape != features.shape[:1]:
        raise ValueError(
            f"{name} must have shape ({len(features)},), one label per "
            f"feature row, got {tuple(labels.shape)}"
        )
    if labels.min() < 0:
        raise ValueError(
            f"{name} must be class indices 0, 1, ..., got "
            f"{labels.min().item()} (in {name} of shape "
            f"{tuple(labels.shape)})"
        )


def _values(x: torch.Tensor, name: str) -> None:
    """A dense tensor whose values can be read (not on the meta device)."""
    if x.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense tensor, got layout {x.layout}: "
            f"call {name}.to_dense()"
        )
    if x.device.type == "meta":
        raise ValueError(
            f"{name} must hold values, got a tensor on the meta device"
        )


def attention_masks(
    attention: torch.Tensor, mass: float = 0.6
) -> torch.Tensor:
    """DINO's threshold: per head, the smallest set of patches that holds
    ``mass`` of the CLS token's attention to the patches.

    ``attention`` is a last-block map (B, heads, N+1, N+1), or only its CLS
    rows (B, heads, 1, N+1); the result is a boolean (B, heads, N) mask over
    the patches in raster order.
    """
    _attention(attention, mass)
    cls = attention[:, :, 0, 1:]  # (B, h, N): CLS row, patches only
    cls = cls / cls.sum(dim=-1, keepdim=True)
    values, order = cls.sort(dim=-1)  # ascending
    keep_sorted = values.cumsum(dim=-1) > 1 - mass
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def _attention(attention, mass) -> None:
    """Attention maps (B, heads, N+1, N+1), or their CLS rows (B, heads, 1,
    N+1), that give the patches a positive, finite weight; a mass in
    (0, 1]."""
    check.float_tensor(attention, "attention")
    _values(attention, "attention")
    shape = tuple(attention.shape)
    if (
        attention.dim() != 4
        or shape[-2] not in (1, shape[-1])
        or shape[-1] < 2
    ):
        raise ValueError(
            f"attention must have shape (batch, heads, N+1, N+1) or its CLS "
            f"rows (batch, heads, 1, N+1), with at least one patch (N >= 1), "
            f"got {shape}"
        )
    cls = attention[:, :, 0, 1:]
    if not (cls.isfinite().all() and (cls >= 0).all()):
        raise ValueError(
            "attention must hold finite weights >= 0 (a softmax), got "
            f"values from {cls.min().item():.3g} to {cls.max().item():.3g} "
            f"(shape {shape})"
        )
    empty = int((cls.sum(dim=-1) <= 0).sum()) if cls.numel() else 0
    if empty:
        raise ValueError(
            f"attention gives the patches no weight in {empty} of its "
            f"{cls.shape[0] * cls.shape[1]} CLS rows (they sum to 0; shape "
            f"{shape}): there is no mass to threshold"
        )
    check.finite_number(mass, "mass", low=0, high=1, low_open=True)


def mask_iou(
    patch_masks: torch.Tensor,
    object_masks: torch.Tensor,
    grid: tuple[int, int],
) -> torch.Tensor:
    """IoU of patch masks (B, heads, N), blown up to pixels as DINO draws
    them (nearest neighbour), with the true masks (B, H, W): (B, heads)."""
    rows, cols = check.image_size_pair(grid, "grid")
    _boolean(patch_masks, "patch_masks", "(batch, heads, rows*cols)")
    if patch_masks.dim() != 3 or patch_masks.shape[-1] != rows * cols:
        raise ValueError(
            f"patch_masks must have shape (batch, heads, {rows * cols}) for "
            f"a {rows}x{cols} grid, got {tuple(patch_masks.shape)}"
        )
    _object_masks(object_masks, len(patch_masks), (rows, cols))
    if object_masks.device != patch_masks.device:
        raise ValueError(
            f"object_masks is on {object_masks.device}, patch_masks on "
            f"{patch_masks.device}: put both on one device"
        )
    height, width = object_masks.shape[-2:]
    pixels = patch_masks.reshape(*patch_masks.shape[:2], rows, cols)
    pixels = pixels.repeat_interleave(height // rows, dim=2).repeat_interleave(
        width // cols, dim=3
    )  # (B,h,H,W)
    truth = object_masks[:, None]  # (B, 1, H, W)
    intersection = (pixels & truth).sum(dim=(2, 3)).float()
    union = (pixels | truth).sum(dim=(2, 3)).float()
    return intersection / union


def _boolean(x, name: str, shape: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.bool:
        got = (
            f"dtype {x.dtype}"
            if isinstance(x, torch.Tensor)
            else type(x).__name__
        )
        raise TypeError(f"{name} must be a boolean tensor {shape}, got {got}")
    _values(x, name)


def _object_masks(object_masks, images: int, grid: tuple[int, int]) -> None:
    """One boolean mask (H, W) per image, that ``grid`` tiles, none
    empty."""
    _boolean(object_masks, "object_masks", "(batch, height, width)")
    rows, cols = grid
    shape = tuple(object_masks.shape)
    if (
        object_masks.dim() != 3
        or shape[0] != images
        or shape[1] % rows
        or shape[2] % cols
        or shape[1] < rows
        or shape[2] < cols
    ):
        raise ValueError(
            f"object_masks must have shape ({images}, height, width), one "
            f"mask per image, with height a multiple of {rows} and width "
            f"of {cols} (the {rows}x{cols} patch grid), got {shape}"
        )
    empty = (~object_masks.flatten(1).any(dim=1)).nonzero()
    if len(empty):
        raise ValueError(
            f"object_masks[{empty[0].item()}] is empty: the IoU with no "
            "object is undefined"
        )


@torch.no_grad()
def attention_iou(
    model: VisionTransformer,
    images: torch.Tensor,
    object_masks: torch.Tensor,
    mass: float = 0.6,
    batch: int = 500,
) -> torch.Tensor:
    """Mean IoU per head of the thresholded last-block attention: (heads,)."""
    _images(images, batch)
    check.finite_number(mass, "mass", low=0, high=1, low_open=True)
    with _evaluating(model):
        patch = model.patch_embed.patch_size
        grid = (images.shape[-2] // patch, images.shape[-1] // patch)
        _object_masks(object_masks, len(images), grid)
        if object_masks.shape[-2:] != images.shape[-2:]:
            raise ValueError(
                f"object_masks must have the images' size "
                f"{tuple(images.shape[-2:])}, got "
                f"{tuple(object_masks.shape[-2:])}"
            )
        ious = []
        for i in range(0, len(images), batch):
            attention = model.get_last_selfattention(images[i : i + batch])
            masks = attention_masks(attention, mass)
            ious.append(
                mask_iou(
                    masks, object_masks[i : i + batch].to(masks.device), grid
                )
            )
    return torch.cat(ious).mean(dim=0)


# --8<-- [start:mean_attention_distance]
def mean_attention_distance(
    attention: torch.Tensor, grid: tuple[int, int], patch_size: int
) -> torch.Tensor:
    """How far, in pixels, each head looks: ViT's "attention distance"
    (Dosovitskiy et al., 2021, Fig. 7 right and Appendix D.7).

    For every patch query, the distance from its patch centre to every
    patch key's centre, weighted by the attention weight, then averaged
    over the queries. The CLS row and column are left out and each row's
    patch weights are renormalised to sum to 1. ``attention`` is
    (..., N+1, N+1), e.g. (B, heads, N+1, N+1) or (B, depth, heads, N+1,
    N+1); the result drops the last two dimensions: (...).
    """
    rows, cols = _distance_inputs(attention, grid, patch_size)
    r, c = torch.meshgrid(
        torch.arange(rows), torch.arange(cols), indexing="ij"
    )  # (rows, cols) each
    centres = torch.stack([r, c], dim=-1).flatten(0, 1)  # (N, 2), raster
    pixels = patch_size * torch.cdist(centres.double(), centres.double())
    weights = attention[..., 1:, 1:]  # (..., N, N): patches to patches
    weights = weights / weights.sum(dim=-1, keepdim=True)
    distance = pixels.to(weights.device, weights.dtype)  # (N, N)
    return (weights * distance).sum(dim=-1).mean(dim=-1)  # (...)


# --8<-- [end:mean_attention_distance]


def _distance_inputs(attention, grid, patch_size) -> tuple[int, int]:
    """Attention (..., N+1, N+1) over a rows x cols grid plus one CLS
    token, with finite weights >= 0 and some weight on the patches."""
    rows, cols = check.image_size_pair(grid, "grid")
    check.positive_int(patch_size, "patch_size")
    check.float_tensor(attention, "attention")
    _values(attention, "attention")
    tokens = rows * cols + 1
    shape = tuple(attention.shape)
    if attention.dim() < 2 or shape[-2:] != (tokens, tokens):
        raise ValueError(
            f"attention must have shape (..., {tokens}, {tokens}): the CLS "
            f"token and the {rows}x{cols} patches of grid {grid}, got {shape}"
        )
    patches = attention[..., 1:, 1:]
    if not (patches.isfinite().all() and (patches >= 0).all()):
        raise ValueError(
            "attention must hold finite weights >= 0 (a softmax), got "
            f"values from {patches.min().item():.3g} to "
            f"{patches.max().item():.3g}"
        )
    if patches.numel() and not (patches.sum(dim=-1) > 0).all():
        raise ValueError(
            "attention gives the patches no weight in some rows (they sum "
            "to 0 over the patch keys): there is no distance to average"
        )
    return rows, cols
