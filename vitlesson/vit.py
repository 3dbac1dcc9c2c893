"""From tokens to a full Vision Transformer, in DINO's and timm's layout.

The model is the lesson's embedding followed by a stack of pre-norm
transformer blocks, a final LayerNorm and an optional linear head. Parameter
names and shapes follow DINO's ``vision_transformer.py`` and timm's
``VisionTransformer`` (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
``blocks.N.attn.qkv``, ...), so their checkpoints load with a strict
``load_state_dict``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check
from vitlesson.patching import PatchEmbedding
from vitlesson.position import resample_position_embedding


# --8<-- [start:attention_weights]
def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)): row i says how much token i takes from each.

    ``q`` and ``k`` are (..., T, d); the result is (..., T, T) and every row
    sums to 1.
    """
    _check_query_key(q, k)
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (..., T, T)
    return scores.softmax(dim=-1)


# --8<-- [end:attention_weights]


class Attention(nn.Module):
    """Multi-head self-attention: every token looks at every token.

    One linear layer ``qkv`` makes queries, keys and values for all heads;
    ``proj`` mixes the heads' outputs. The fast path calls PyTorch's fused
    ``scaled_dot_product_attention``; ``return_attention=True`` computes
    :func:`attention_weights` explicitly, so the weights can be looked at.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        dim, num_heads, attn_drop, proj_drop = _check_attention(
            dim, num_heads, qkv_bias, attn_drop, proj_drop
        )  # as Python numbers
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    # --8<-- [start:attention_forward]
    def forward(self, x: torch.Tensor, return_attention: bool = False):
        _check_tokens(self.qkv, x, return_attention=return_attention)
        B, T, D = x.shape  # batch, tokens, width
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, heads, T, d)
        if return_attention:
            attn = attention_weights(q, k)  # (B, heads, T, T)
            x = self.attn_drop(attn) @ v  # (B, heads, T, d)
        else:
            attn, p = None, self.attn_drop.p if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        x = x.transpose(1, 2).reshape(B, T, D)  # heads side by side
        return self.proj_drop(self.proj(x)), attn


# --8<-- [end:attention_forward]


# --8<-- [start:mlp]
class Mlp(nn.Module):
    """Widen each token (x4), apply GELU, narrow it back: token by token."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        dim, hidden_dim, drop = _check_mlp(dim, hidden_dim, drop)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tokens(self.fc1, x)
        hidden = self.act(self.fc1(x))  # (B, T, 4D): the widest activation
        return self.drop(self.fc2(self.drop(hidden)))  # (B, T, D)


# --8<-- [end:mlp]


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a residual branch for whole samples.

    Each sample keeps the branch with probability 1 - p, scaled by 1/(1 - p),
    as DINO and timm define it; in eval mode (or with p = 0) the identity.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = check.probability(p, "drop_path")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check.float_tensor(x, "x")
        if not self.training or self.p == 0.0:
            return x
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)  # one draw per sample
        keep = x.new_empty(shape).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


# --8<-- [start:block]
class Block(nn.Module):
    """Pre-norm encoder block: x + MSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        dim = check.positive_int(dim, "embed_dim")
        hidden = _mlp_hidden(dim, mlp_ratio)  # dim * mlp_ratio, whole
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path)  # stochastic depth (training)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden, drop)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        _check_tokens(self.attn.qkv, x, return_attention=return_attention)
        y, attn = self.attn(self.norm1(x), return_attention)
        # --8<-- [start:residual]
        x = x + self.drop_path(y)  # x + MSA(LN(x))
        x = x + self.drop_path(self.mlp(self.norm2(x)))  # x + MLP(LN(x))
        # --8<-- [end:residual]
        return (x, attn) if return_attention else x  # x: (B, T, D)


# --8<-- [end:block]


class VisionTransformer(nn.Module):
    """Images (B, C, H, W) -> CLS feature (B, D) or class scores.

    ``num_classes=0`` (the default) leaves out the head: the model returns
    the normalised CLS token, the image feature that DINO trains. With
    ``dynamic_img_size=True`` any image whose sides are multiples of the
    patch size is accepted and the position table is resampled to its grid
    (DINO's 96x96 local crops, 384x384 fine-tuning, non-square images).
    """

    def __init__(
        self,
        *,
        img_size=224,
        patch_size=16,
        in_channels=3,
        num_classes=0,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        dynamic_img_size=False,
    ):
        super().__init__()
        # The sizes of the patches, blocks and attention are checked by the
        # layers that use them; these settings are the model's own.
        # A NumPy or 0-d tensor setting is kept as the number it holds.
        depth = check.positive_int(depth, "depth")
        num_classes = check.non_negative_int(num_classes, "num_classes")
        drop_rate = check.probability(drop_rate, "drop_rate")
        attn_drop_rate = check.probability(attn_drop_rate, "attn_drop_rate")
        drop_path_rate = check.probability(drop_path_rate, "drop_path_rate")
        embed_dim = check.positive_int(embed_dim, "embed_dim")
        num_heads, mlp_ratio = map(check.plain_number, (num_heads, mlp_ratio))
        self.num_classes, self.depth = num_classes, depth
        self.embed_dim = self.num_features = embed_dim  # DINO's two names
        self.patch_embed = PatchEmbedding(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            dynamic_img_size=dynamic_img_size,
        )
        shape = (1, self.patch_embed.n_patches + 1, embed_dim)  # (1, N+1, D)
        check.fits_in_memory(shape, f"A position table of {shape}")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(shape))
        self.pos_drop = nn.Dropout(drop_rate)

        def block(drop_path: float) -> Block:
            return Block(
                embed_dim,
                num_heads,
                mlp_ratio,
                qkv_bias,
                drop_rate,
                attn_drop_rate,
                drop_path,
            )

        first = block(0.0)  # measured, so that depth copies are known to fit
        check.fits_in_memory(
            depth * sum(p.numel() for p in first.parameters()),
            f"{depth} blocks of width {embed_dim} (mlp_ratio={mlp_ratio})",
        )
        # Stochastic depth grows linearly with depth, from 0 to drop_path_rate.
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList([first, *map(block, rates[1:])])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        check.fits_in_memory(
            (num_classes, embed_dim),
            f"The head of num_classes={num_classes:,}",
        )
        self.head = (
            nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()
        )
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    @property
    def dynamic_img_size(self) -> bool:
        return self.patch_embed.dynamic_img_size

    # --8<-- [start:vit_forward]
    def prepare_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens, CLS in front, position vectors added."""
        patches = self.patch_embed(images)  # (B, N, D), checks the input
        pos_embed = self.pos_embed  # (1, N+1, D)
        if self.dynamic_img_size:  # resampled to this image's grid
            P = self.patch_embed.patch_size
            grid = (images.shape[-2] // P, images.shape[-1] // P)
            pos_embed = resample_position_embedding(
                pos_embed, grid, self.patch_embed.grid_size
            )
        cls = self.cls_token.expand(patches.shape[0], -1, -1)  # (B, 1, D)
        tokens = torch.cat([cls, patches], dim=1)  # (B, N+1, D)
        return self.pos_drop(tokens + pos_embed)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Every output token after the final LayerNorm: (B, N+1, D)."""
        x = self.prepare_tokens(images)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        cls = self.forward_features(images)[:, 0]  # (B, D)
        return self.head(cls)  # (B, D), or (B, num_classes) with a head

    # --8<-- [end:vit_forward]

    def get_last_selfattention(self, images: torch.Tensor) -> torch.Tensor:
        """Attention of the last block: (B, heads, N+1, N+1).

        Row 0 of each head is what the CLS token looks at.
        """
        x = self.prepare_tokens(images)
        for block in self.blocks[:-1]:
            x = block(x)
        return self.blocks[-1](x, return_attention=True)[1]

    def get_all_selfattention(self, images: torch.Tensor) -> torch.Tensor:
        """Attention of every block: (B, depth, heads, N+1, N+1)."""
        x, maps = self.prepare_tokens(images), []
        for block in self.blocks:
            x, attn = block(x, return_attention=True)
            maps.append(attn)
        return torch.stack(maps, dim=1)  # (B, depth, h, T, T)

    def get_intermediate_layers(
        self, images: torch.Tensor, n: int = 1
    ) -> list[torch.Tensor]:
        """Outputs of the last ``n`` blocks, each through the final norm.

        This is DINO's definition (timm's method of the same name differs).
        """
        n = check.positive_int(n, "n")
        if n > self.depth:
            raise ValueError(
                f"n must be at most depth ({self.depth}), got {n}"
            )
        x, outputs = self.prepare_tokens(images), []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i >= self.depth - n:
                outputs.append(self.norm(x))  # (B, N+1, D)
        return outputs


def attention_rollout(maps: torch.Tensor) -> torch.Tensor:
    """How much each token's final state draws on each input token.

    Abnar & Zuidema (2020): average the heads of each layer, add the residual
    connection as an identity (0.5 A + 0.5 I: its rows still sum to 1), and
    multiply the layers: (B, depth, heads, T, T) -> (B, T, T).
    """
    _check_maps(maps)
    eye = torch.eye(maps.shape[-1], dtype=maps.dtype, device=maps.device)
    rollout = eye.expand(maps.shape[0], -1, -1)  # (B, T, T)
    for layer in maps.unbind(dim=1):  # (B, h, T, T) each, first block first
        mixed = 0.5 * layer.mean(dim=1) + 0.5 * eye  # (B, T, T)
        rollout = mixed @ rollout
    return rollout


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# --8<-- [start:factories]
def vit_tiny(patch_size=16, num_classes=0, **kwargs) -> VisionTransformer:
    """ViT-Ti: width 192, 12 blocks, 3 heads (DeiT-Tiny)."""
    return _vit(
        192, 3, patch_size=patch_size, num_classes=num_classes, **kwargs
    )


def vit_small(patch_size=16, num_classes=0, **kwargs) -> VisionTransformer:
    """ViT-S: width 384, 12 blocks, 6 heads (DINO's dino_vits16/8)."""
    return _vit(
        384, 6, patch_size=patch_size, num_classes=num_classes, **kwargs
    )


def vit_base(patch_size=16, num_classes=0, **kwargs) -> VisionTransformer:
    """ViT-B: width 768, 12 blocks, 12 heads (DINO's dino_vitb16/8)."""
    return _vit(
        768, 12, patch_size=patch_size, num_classes=num_classes, **kwargs
    )


def _vit(embed_dim: int, num_heads: int, **kwargs) -> VisionTransformer:
    """Every size that shapes the weights is written here (as in DINO's
    factories), none left to VisionTransformer's defaults: a changed
    default cannot change these models or their checkpoints' shapes."""
    sizes = dict(
        img_size=224, in_channels=3, depth=12, mlp_ratio=4.0, qkv_bias=True
    )  # each can still be given, e.g. img_size=384
    return VisionTransformer(
        **{**sizes, **kwargs}, embed_dim=embed_dim, num_heads=num_heads
    )


# --8<-- [end:factories]


# --- checks of this module's arguments ---------------------------------------


def _check_maps(maps) -> None:
    """Attention weights (B, depth, heads, T, T) of at least one head, each
    row non-negative and summing to 1 (what a softmax gives), so that the
    rollout's rows are distributions too."""
    check.float_tensor(maps, "maps")
    if maps.dim() != 5 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(
            "maps must have shape (batch, depth, heads, tokens, "
            f"tokens), got {tuple(maps.shape)}"
        )
    if not maps.shape[2]:
        raise ValueError(
            "maps must hold at least one head to average, got shape "
            f"{tuple(maps.shape)}"
        )
    if not maps.numel() or maps.is_meta:  # no values to look at
        return
    totals = maps.sum(dim=-1, dtype=torch.float64).flatten()  # B*depth*h*T
    worst = totals[(totals - 1).abs().nan_to_num(math.inf).argmax()].item()
    lowest = maps.min().item()
    tolerance = max(1e-3, 4 * torch.finfo(maps.dtype).eps)
    if not abs(worst - 1) <= tolerance or lowest < 0:  # NaN fails `<=`
        found = (
            f"a weight of {lowest:.3g}"
            if lowest < 0
            else f"a row summing to {worst:.4g}"
        )
        raise ValueError(
            f"maps of shape {tuple(maps.shape)} must be attention weights "
            "(each row non-negative, summing to 1, as softmax gives), got "
            f"{found}: pass the model's get_all_selfattention(images)"
        )


def _check_query_key(q, k) -> None:
    """Check queries and keys (..., T, d) that can be multiplied."""
    check.float_tensor(q, "q")
    check.float_tensor(k, "k", dtype=q.dtype, device=q.device, against="q")
    if (
        q.dim() < 2
        or k.dim() != q.dim()
        or q.shape[:-2] != k.shape[:-2]
        or q.shape[-1] != k.shape[-1]
        or not k.shape[-2]
    ):
        raise ValueError(
            "q and k must have shapes (..., T, d) and (..., S, d), the same "
            "batch dimensions and d, at least one key, got "
            f"{tuple(q.shape)} and {tuple(k.shape)}"
        )
    if not q.shape[-1]:
        raise ValueError(
            "q and k must have d >= 1 numbers per token (the scale is "
            f"1/sqrt(d)), got shapes {tuple(q.shape)} and {tuple(k.shape)}"
        )


def _check_attention(dim, num_heads, qkv_bias, attn_drop, proj_drop):
    """Check the sizes and dropout rates of multi-head attention; return
    them (not ``qkv_bias``) as Python numbers.

    The qkv (3D x D) and output (D x D) projections must fit in memory.
    """
    dim = check.positive_int(dim, "embed_dim")
    num_heads = check.positive_int(num_heads, "num_heads")
    check.boolean(qkv_bias, "qkv_bias")
    attn_drop = check.probability(attn_drop, "attn_drop")
    proj_drop = check.probability(proj_drop, "proj_drop")
    if dim % num_heads:
        raise ValueError(
            f"embed_dim ({dim}) must be divisible by num_heads ({num_heads})"
        )
    check.fits_in_memory(
        4 * dim * dim, f"Attention of width embed_dim={dim:,}"
    )
    return dim, num_heads, attn_drop, proj_drop


def _mlp_hidden(dim, mlp_ratio) -> int:
    """The MLP's hidden width ``dim * mlp_ratio``: a whole number >= 1.

    A ratio whose width is not whole is refused rather than truncated: a
    loader reads the ratio back as fc1's width / dim, and 16 * 4.1 = 65.6
    would build a width of 65 that no ratio in a config names.
    """
    dim = check.positive_int(dim, "embed_dim")
    mlp_ratio = check.plain_number(mlp_ratio)
    check.finite_number(mlp_ratio, "mlp_ratio", low=0, low_open=True)
    width = dim * mlp_ratio
    if not math.isfinite(width) or round(width) < 1:
        raise ValueError(
            "mlp_ratio must give a hidden width of at least 1 (embed_dim * "
            f"mlp_ratio), got {dim} * {mlp_ratio} = {width}"
        )
    hidden = round(width)
    if abs(width - hidden) > 1e-6 * hidden:
        whole = max(int(width), 1)
        raise ValueError(
            f"mlp_ratio must give a whole hidden width, got {dim} * "
            f"{mlp_ratio} = {width:g}: int() would build a width of "
            f"{int(width)}; use mlp_ratio={whole / dim!r} for a width of "
            f"{whole}"
        )
    check.fits_in_memory(
        2 * dim * hidden,
        f"An MLP of width {dim} -> {hidden:,} (mlp_ratio={mlp_ratio})",
    )
    return hidden


def _check_mlp(dim, hidden_dim, drop) -> tuple[int, int, float]:
    """Check an MLP's widths and dropout (returned as Python numbers); fc1
    and fc2 must fit in memory."""
    dim = check.positive_int(dim, "dim")
    hidden_dim = check.positive_int(hidden_dim, "hidden_dim")
    drop = check.probability(drop, "drop")
    check.fits_in_memory(
        2 * dim * hidden_dim,
        f"An MLP of width dim={dim} -> hidden_dim={hidden_dim:,}",
    )
    return dim, hidden_dim, drop


def _check_tokens(layer: nn.Linear, x, **flags) -> None:
    """Check tokens (batch, tokens, D) for ``layer``, a Linear reading D.

    They must have the dtype and device of its weight; each keyword flag of
    the forward call must be a bool.
    """
    for name, value in flags.items():
        check.boolean(value, name)
    weight, dim = layer.weight, layer.in_features
    check.float_tensor(x, "tokens", dtype=weight.dtype, device=weight.device)
    if x.dim() != 3 or x.shape[-1] != dim:
        raise ValueError(
            f"tokens must have shape (batch, tokens, {dim}), "
            f"got {tuple(x.shape)}"
        )
