"""What a backbone learned, measured without training anything on top.

Two probes from the DINO paper, both free of labels during training:

- **k-NN accuracy**: classify each held-out image by a vote of its k nearest
  labelled images in CLS-feature space (cosine similarity), as DINO's
  ``eval_knn.py`` does: k = 20 votes weighted by ``exp(similarity / 0.07)``.
- **Attention IoU**: keep, per head, the patches that hold 60% of the last
  block's CLS attention (DINO's ``visualize_attention.py`` threshold), and
  compare that mask with the object's true mask (intersection over union,
  the paper's Jaccard similarity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitlesson import _validation as check
from vitlesson.vit import VisionTransformer


@torch.no_grad()
def cls_features(
    model: VisionTransformer, images: torch.Tensor, batch: int = 500
) -> torch.Tensor:
    """Unit-length CLS features (N, D) of normalised images."""
    model.eval()
    features = [
        model.forward_features(images[i : i + batch])[:, 0]
        for i in range(0, len(images), batch)
    ]  # (b, D) each
    return F.normalize(torch.cat(features), dim=1)


# --8<-- [start:knn]
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
    k = check.positive_int(k, "k")
    if k > len(train_features):
        raise ValueError(
            f"k must be at most the number of training "
            f"features ({len(train_features)}), got {k}"
        )
    similarity = test_features @ train_features.T  # (N_test, N_train)
    top, index = similarity.topk(k, dim=1)  # (N_test, k) each
    votes = torch.zeros(
        len(test_features),
        int(train_labels.max()) + 1,
        device=test_features.device,
    )
    train_labels = train_labels.to(test_features.device)
    votes.scatter_add_(1, train_labels[index], (top / temperature).exp())
    return (votes.argmax(dim=1) == test_labels).float().mean().item()


# --8<-- [end:knn]


# --8<-- [start:attention_mask]
def attention_masks(
    attention: torch.Tensor, mass: float = 0.6
) -> torch.Tensor:
    """DINO's threshold: per head, the smallest set of patches that holds
    ``mass`` of the CLS token's attention to the patches.

    ``attention`` is a last-block map (B, heads, N+1, N+1); the result is a
    boolean (B, heads, N) mask over the patches in raster order.
    """
    check.finite_number(mass, "mass", low=0, high=1, low_open=True)
    cls = attention[:, :, 0, 1:]  # (B, h, N): CLS row, patches only
    cls = cls / cls.sum(dim=-1, keepdim=True)
    values, order = cls.sort(dim=-1)  # ascending
    keep_sorted = values.cumsum(dim=-1) > 1 - mass
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


# --8<-- [end:attention_mask]


def mask_iou(
    patch_masks: torch.Tensor,
    object_masks: torch.Tensor,
    grid: tuple[int, int],
) -> torch.Tensor:
    """IoU of patch masks (B, heads, N), blown up to pixels as DINO draws
    them (nearest neighbour), with the true masks (B, H, W): (B, heads)."""
    rows, cols = grid
    height, width = object_masks.shape[-2:]
    pixels = patch_masks.reshape(*patch_masks.shape[:2], rows, cols)
    pixels = pixels.repeat_interleave(height // rows, dim=2).repeat_interleave(
        width // cols, dim=3
    )  # (B,h,H,W)
    truth = object_masks[:, None]  # (B, 1, H, W)
    intersection = (pixels & truth).sum(dim=(2, 3)).float()
    union = (pixels | truth).sum(dim=(2, 3)).float()
    return intersection / union


@torch.no_grad()
def attention_iou(
    model: VisionTransformer,
    images: torch.Tensor,
    object_masks: torch.Tensor,
    mass: float = 0.6,
    batch: int = 500,
) -> torch.Tensor:
    """Mean IoU per head of the thresholded last-block attention: (heads,)."""
    model.eval()
    ious = []
    for i in range(0, len(images), batch):
        attention = model.get_last_selfattention(images[i : i + batch])
        masks = attention_masks(attention, mass)
        ious.append(
            mask_iou(
                masks,
                object_masks[i : i + batch].to(masks.device),
                model.patch_embed.grid_size,
            )
        )
    return torch.cat(ious).mean(dim=0)
