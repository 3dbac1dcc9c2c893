"""DINO's projection head and its multi-crop wrapper (DINO's
``vision_transformer.py``: ``DINOHead``; ``utils.py``: ``MultiCropWrapper``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check
from vitlesson.vit import VisionTransformer


def _head_config(
    in_dim, out_dim, hidden_dim, bottleneck_dim, nlayers, norm_last_layer
) -> None:
    """Every width a positive int, ``norm_last_layer`` a bool."""
    for name, value in [
        ("in_dim", in_dim),
        ("out_dim", out_dim),
        ("hidden_dim", hidden_dim),
        ("bottleneck_dim", bottleneck_dim),
        ("nlayers", nlayers),
    ]:
        check.positive_int(value, name)
    check.boolean(norm_last_layer, "norm_last_layer")


# --8<-- [start:head]
class DINOHead(nn.Module):
    """DINO's projection head: an MLP to a bottleneck, ℓ2-normalisation,
    then a weight-normalised linear layer with ``out_dim`` (K) outputs.

    With ``norm_last_layer`` the last layer's gain is frozen at 1: every
    output is the cosine between the bottleneck vector and one of K learned
    directions: DINO's default, which the help of DINO's ``main_dino.py``
    says makes training more stable.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        nlayers: int = 3,
        norm_last_layer: bool = True,
    ):
        super().__init__()
        _head_config(
            in_dim,
            out_dim,
            hidden_dim,
            bottleneck_dim,
            nlayers,
            norm_last_layer,
        )
        self.in_dim = in_dim
        widths = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.GELU()]
        self.mlp = nn.Sequential(*layers[:-1])  # no GELU after the last
        self.apply(self._init_weights)
        self.last_layer = nn.utils.parametrizations.weight_norm(
            nn.Linear(bottleneck_dim, out_dim, bias=False)
        )
        self.last_layer.parametrizations.weight.original0.data.fill_(1)
        if norm_last_layer:  # the gain stays 1: outputs are cosines
            self.last_layer.parametrizations.weight.original0.requires_grad_(
                False
            )

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check.float_tensor(x, "features", dtype=self.mlp[0].weight.dtype)
        if x.dim() != 2 or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"features must have shape (batch, "
                f"{self.in_dim}), got {tuple(x.shape)}"
            )
        x = F.normalize(self.mlp(x), dim=-1)  # (B, bottleneck), unit length
        return self.last_layer(x)  # (B, K)


# --8<-- [end:head]


class MultiCropWrapper(nn.Module):
    """Backbone then head, for a list of crops of several sizes: crops of
    one size go through the backbone as one batch (DINO's wrapper)."""

    def __init__(self, backbone: VisionTransformer, head: DINOHead):
        super().__init__()
        if not isinstance(backbone, VisionTransformer):
            raise TypeError(
                f"backbone must be a VisionTransformer, got "
                f"{type(backbone).__name__}"
            )
        if not isinstance(head, DINOHead):
            raise TypeError(
                f"head must be a DINOHead, got {type(head).__name__}"
            )
        if backbone.num_features != head.in_dim:
            raise ValueError(
                f"the head reads {head.in_dim} features but the "
                f"backbone gives {backbone.num_features}: build "
                f"DINOHead({backbone.num_features}, ...)"
            )
        self.backbone, self.head = backbone, head

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        _views(views)
        features, start = [], 0
        while start < len(views):  # consecutive views of the same size
            end = start
            while (
                end < len(views)
                and views[end].shape[-1] == views[start].shape[-1]
            ):
                end += 1
            batch = torch.cat(views[start:end])  # (k·B, 3, S, S)
            features.append(self.backbone(batch))  # CLS features (k·B, D)
            start = end
        return self.head(torch.cat(features))  # (views·B, K)


def _views(views) -> None:
    """A non-empty list of image batches, all with one batch size."""
    if not isinstance(views, (list, tuple)) or not views:
        raise TypeError(
            f"views must be a non-empty list of image batches, "
            f"got {type(views).__name__}"
            + (" (empty)" if isinstance(views, (list, tuple)) else "")
        )
    for i, view in enumerate(views):
        check.image_batch(view)
        if len(view) != len(views[0]):
            raise ValueError(
                f"every view must hold the same images: view "
                f"{i} has {len(view)}, view 0 has "
                f"{len(views[0])}"
            )
