"""DINO's projection head and its multi-crop wrapper (DINO's
``vision_transformer.py``: ``DINOHead``; ``utils.py``: ``MultiCropWrapper``)."""

from __future__ import annotations

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm

from vitlesson import _validation as check
from vitlesson.vit import VisionTransformer


def _sizes(in_dim, out_dim, hidden_dim, bottleneck_dim, nlayers) -> None:
    """Every width a positive int, and the head's weights fit in memory."""
    for name, value in [
        ("in_dim", in_dim),
        ("out_dim", out_dim),
        ("hidden_dim", hidden_dim),
        ("bottleneck_dim", bottleneck_dim),
        ("nlayers", nlayers),
    ]:
        check.positive_int(value, name)
    if nlayers == 1:  # DINO: one layer straight to the bottleneck
        mlp = (in_dim + 1) * bottleneck_dim
    else:
        mlp = (in_dim + 1 + (nlayers - 2) * (hidden_dim + 1)) * hidden_dim
        mlp += (hidden_dim + 1) * bottleneck_dim
    check.fits_in_memory(
        mlp + (bottleneck_dim + 1) * out_dim,  # the last layer: v and g
        f"A DINOHead({in_dim}, {out_dim}, hidden_dim={hidden_dim}, "
        f"bottleneck_dim={bottleneck_dim}, nlayers={nlayers})",
    )


def _tensor(x, name: str, like: torch.Tensor) -> None:
    """A dense float tensor with the dtype and on the device of ``like``
    (one of the module's parameters)."""
    check.float_tensor(x, name, dtype=like.dtype)
    if x.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense tensor, got layout {x.layout}: "
            f"call {name}.to_dense()"
        )
    if x.device != like.device:
        raise ValueError(
            f"{name} is on {x.device} but the module's parameters are on "
            f"{like.device}: call {name}.to({str(like.device)!r})"
        )


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
        _sizes(in_dim, out_dim, hidden_dim, bottleneck_dim, nlayers)
        check.boolean(norm_last_layer, "norm_last_layer")
        self.in_dim = in_dim
        widths = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), nn.GELU()]
        self.mlp = nn.Sequential(*layers[:-1])  # no GELU after the last
        self.apply(self._init_weights)
        # weight normalisation: row k of the weight is g_k · v_k / ‖v_k‖
        self.last_layer = weight_norm(
            nn.Linear(bottleneck_dim, out_dim, bias=False)
        )
        gain = self.last_layer.parametrizations.weight.original0  # g (K, 1)
        nn.init.ones_(gain)
        gain.requires_grad_(not norm_last_layer)  # frozen: cosines

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def __getstate__(self) -> dict:
        """What ``pickle`` and ``copy.deepcopy`` keep: torch refuses to
        pickle a parametrised layer, so the last layer travels as its two
        parameters, g and v, and :meth:`__setstate__` parametrises a new
        layer with them."""
        state = self.__dict__.copy()
        modules = dict(state["_modules"])
        weight = modules.pop("last_layer").parametrizations.weight
        state["_modules"] = modules
        state["_last_layer"] = (weight.original0, weight.original1)
        return state

    def __setstate__(self, state: dict) -> None:
        gain, direction = state.pop("_last_layer")  # g (K, 1), v (K, d)
        super().__setstate__(state)
        out_dim, bottleneck_dim = direction.shape
        layer = weight_norm(  # on the meta device: no random numbers drawn
            nn.Linear(bottleneck_dim, out_dim, bias=False, device="meta")
        )
        layer.parametrizations.weight.original0 = gain
        layer.parametrizations.weight.original1 = direction
        self.last_layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _features(x, self.in_dim, next(self.parameters()))
        x = F.normalize(self.mlp(x), dim=-1)  # (B, bottleneck), unit length
        return self.last_layer(x)  # (B, K)


# --8<-- [end:head]


def _features(x, in_dim: int, weight: torch.Tensor) -> None:
    """CLS features (batch, in_dim) of the head's dtype and device."""
    _tensor(x, "features", weight)
    if x.dim() != 2 or x.shape[-1] != in_dim:
        raise ValueError(
            f"features must have shape (batch, {in_dim}), got {tuple(x.shape)}"
        )


class MultiCropWrapper(nn.Module):
    """Backbone then head, for a list of crops of several sizes: crops of
    one size go through the backbone as one batch (DINO's wrapper)."""

    def __init__(self, backbone: VisionTransformer, head: DINOHead):
        super().__init__()
        _parts(backbone, head)
        self.backbone, self.head = backbone, head

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        _views(views, self.backbone)
        features = []
        for _, same_size in itertools.groupby(views, lambda v: v.shape[-2:]):
            batch = torch.cat(list(same_size))  # (k·B, 3, H, W)
            features.append(self.backbone(batch))  # CLS features (k·B, D)
        return self.head(torch.cat(features))  # (views·B, K)


def _parts(backbone, head) -> None:
    """A ViT without a classifier, and a head that reads its features."""
    if not isinstance(backbone, VisionTransformer):
        raise TypeError(
            f"backbone must be a VisionTransformer, got "
            f"{type(backbone).__name__}"
        )
    if not isinstance(head, DINOHead):
        raise TypeError(f"head must be a DINOHead, got {type(head).__name__}")
    if backbone.num_classes:
        raise ValueError(
            f"backbone must give CLS features, not class scores: build it "
            f"with num_classes=0, got num_classes={backbone.num_classes}"
        )
    if backbone.num_features != head.in_dim:
        raise ValueError(
            f"the head reads {head.in_dim} features but the "
            f"backbone gives {backbone.num_features}: build "
            f"DINOHead({backbone.num_features}, ...)"
        )


def _views(views, backbone: VisionTransformer) -> None:
    """A non-empty list of image batches of the backbone's dtype, channels
    and device, all with one batch size."""
    if not isinstance(views, (list, tuple)) or not views:
        raise TypeError(
            f"views must be a non-empty list of image batches, "
            f"got {type(views).__name__}"
            + (" (empty)" if isinstance(views, (list, tuple)) else "")
        )
    weight = backbone.patch_embed.proj.weight
    for i, view in enumerate(views):
        _tensor(view, f"views[{i}]", weight)
        if view.dim() != 4 or view.shape[1] != weight.shape[1]:
            raise ValueError(
                f"views[{i}] must have shape (batch, {weight.shape[1]}, "
                f"height, width), got {tuple(view.shape)}"
            )
        if len(view) != len(views[0]):
            raise ValueError(
                f"every view must hold the same images: views[{i}] has "
                f"{len(view)} (shape {tuple(view.shape)}), views[0] has "
                f"{len(views[0])} (shape {tuple(views[0].shape)})"
            )
