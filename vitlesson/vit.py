"""From embeddings to a full Vision Transformer, in the layout of DINO and timm checkpoints.

The model below is the embedding of the lesson followed by a stack of pre-norm
transformer blocks, a final LayerNorm and an optional linear head. Parameter names
and shapes follow DINO's ``vision_transformer.py`` and timm's ``VisionTransformer``
exactly (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.N.attn.qkv``,
...), so their checkpoints load with a strict ``load_state_dict``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check
from vitlesson.patching import PatchEmbedding
from vitlesson.position import resample_position_embedding


# --8<-- [start:attention]
class Attention(nn.Module):
    """Multi-head self-attention: every token looks at every token, in ``num_heads`` subspaces.

    One linear layer ``qkv`` produces queries, keys and values for all heads at
    once; ``proj`` mixes the heads' outputs back together. The fast path uses
    PyTorch's fused ``scaled_dot_product_attention``; ``return_attention=True``
    computes softmax(QKᵀ/√d) explicitly so the weights can be looked at.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        check.positive_int(dim, "embed_dim")
        check.positive_int(num_heads, "num_heads")
        if dim % num_heads:
            raise ValueError(f"embed_dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        check.float_tensor(x, "tokens", dtype=self.qkv.weight.dtype)
        if x.dim() != 3 or x.shape[-1] != self.proj.in_features:
            raise ValueError(f"tokens must have shape (batch, tokens, {self.proj.in_features}), got {tuple(x.shape)}")
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)  # (B, T, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, T, hd)
        if return_attention:
            attn = (q * self.scale) @ k.transpose(-2, -1)  # (B, h, T, T)
            attn = attn.softmax(dim=-1)
            x = self.attn_drop(attn) @ v  # (B, h, T, hd)
        else:
            attn = None
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        x = x.transpose(1, 2).reshape(batch, tokens, dim)  # (B, h, T, hd) -> (B, T, h*hd)
        return self.proj_drop(self.proj(x)), attn
# --8<-- [end:attention]


# --8<-- [start:block]
class Mlp(nn.Module):
    """The feed-forward part of a block: widen (×4), GELU, narrow back, applied to each token alone."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x)  # (B, T, hidden_dim): the widest activation of the whole model
        if torch.is_grad_enabled():
            hidden = self.act(hidden)  # training: backward needs the pre-activation, keep it
        else:
            # Inference: nothing needs the pre-activation, so GELU overwrites it instead of
            # allocating a second (B, T, hidden_dim) tensor (see the Performance page).
            torch.ops.aten.gelu_(hidden, approximate=self.act.approximate)
        return self.drop(self.fc2(self.drop(hidden)))


class Block(nn.Module):
    """A pre-norm transformer block: x + Attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop: float = 0.0, attn_drop: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        # x + Attention(LN(x)), then x + MLP(LN(x)). Each sum is written into the branch's
        # own fresh output (add_), which nothing else needs, rather than into a new tensor.
        y, attn = self.attn(self.norm1(x), return_attention)
        x = y.add_(x)  # (B, T, D): the residual stream keeps its shape through every block
        x = self.mlp(self.norm2(x)).add_(x)
        return (x, attn) if return_attention else x
# --8<-- [end:block]


# --8<-- [start:vision_transformer]
class VisionTransformer(nn.Module):
    """Images (B, C, H, W) -> CLS feature (B, D), or class scores (B, num_classes).

    ``num_classes=0`` (the default) leaves out the head: the model returns the
    normalised CLS token, the image feature that DINO trains. With
    ``dynamic_img_size=True`` any image whose sides are multiples of the patch size
    is accepted and the position table is resampled to its grid (DINO's 96×96 local
    crops, 384×384 fine-tuning, non-square inputs); without it a wrong size is an error.
    """

    def __init__(self, *, img_size=224, patch_size=16, in_channels=3, num_classes=0, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, qkv_bias=True, drop_rate=0.0, attn_drop_rate=0.0,
                 dynamic_img_size=False):
        super().__init__()
        self.num_classes = check.non_negative_int(num_classes, "num_classes")
        self.depth = check.positive_int(depth, "depth")
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbedding(img_size, patch_size, in_channels, embed_dim, dynamic_img_size=dynamic_img_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.n_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    @property
    def dynamic_img_size(self) -> bool:
        return self.patch_embed.dynamic_img_size

    def prepare_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens, CLS in front, position vectors added (resampled to the input's grid)."""
        patches = self.patch_embed(images)  # (B, N, D), checks the input
        grid = (images.shape[-2] // self.patch_embed.patch_size, images.shape[-1] // self.patch_embed.patch_size)
        pos_embed = resample_position_embedding(self.pos_embed, grid, self.patch_embed.grid_size)
        tokens = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)  # (B, N+1, D)
        return self.pos_drop(tokens + pos_embed)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """All output tokens after the final LayerNorm: (B, N+1, D), CLS first."""
        x = self.prepare_tokens(images)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images)[:, 0])  # (B, D) or (B, num_classes)

    def get_last_selfattention(self, images: torch.Tensor) -> torch.Tensor:
        """Attention weights of the last block: (B, heads, N+1, N+1); row 0 is what CLS looks at."""
        x = self.prepare_tokens(images)
        for block in self.blocks[:-1]:
            x = block(x)
        return self.blocks[-1](x, return_attention=True)[1]

    def get_intermediate_layers(self, images: torch.Tensor, n: int = 1) -> list[torch.Tensor]:
        """The outputs of the last ``n`` blocks, each passed through the final norm (as DINO defines it)."""
        n = check.positive_int(n, "n")
        if n > self.depth:
            raise ValueError(f"n must be at most depth ({self.depth}), got {n}")
        x, outputs = self.prepare_tokens(images), []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i >= self.depth - n:
                outputs.append(self.norm(x))  # (B, N+1, D)
        return outputs


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
# --8<-- [end:vision_transformer]


# --8<-- [start:factories]
def vit_tiny(patch_size: int = 16, num_classes: int = 0, **kwargs) -> VisionTransformer:
    """ViT-Ti: 192 dimensions, 12 blocks, 3 heads (DeiT-Tiny)."""
    return VisionTransformer(patch_size=patch_size, num_classes=num_classes, embed_dim=192, depth=12, num_heads=3, **kwargs)


def vit_small(patch_size: int = 16, num_classes: int = 0, **kwargs) -> VisionTransformer:
    """ViT-S: 384 dimensions, 12 blocks, 6 heads: DINO's ``dino_vits16`` / ``dino_vits8``."""
    return VisionTransformer(patch_size=patch_size, num_classes=num_classes, embed_dim=384, depth=12, num_heads=6, **kwargs)


def vit_base(patch_size: int = 16, num_classes: int = 0, **kwargs) -> VisionTransformer:
    """ViT-B: 768 dimensions, 12 blocks, 12 heads: DINO's ``dino_vitb16`` / ``dino_vitb8``."""
    return VisionTransformer(patch_size=patch_size, num_classes=num_classes, embed_dim=768, depth=12, num_heads=12, **kwargs)
# --8<-- [end:factories]
