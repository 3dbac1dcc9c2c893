"""Component 2: telling the transformer where each patch came from.

Self-attention treats its input as a set: shuffle the tokens and every output is
shuffled the same way, nothing else changes. Adding a different vector to each
position breaks that symmetry, so "top-left patch" and "bottom-right patch" look
different to the model even when their pixels are equal.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check


# --8<-- [start:positional_embedding]
class PositionalEmbedding(nn.Module):
    """Learnable position embeddings: one trainable vector per token, CLS included.

    ``position_embeddings`` has shape (1, N + 1, D); row 0 belongs to the CLS token,
    rows 1..N to the patches in raster order. It starts as small random noise
    (normal, std 0.02) and gets its structure only from training.
    """

    def __init__(self, n_patches, embed_dim, dropout=0.1):
        super().__init__()
        self.n_patches = check.positive_int(n_patches, "n_patches")
        self.embed_dim = check.positive_int(embed_dim, "embed_dim")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.position_embeddings = nn.Parameter(torch.zeros(1, n_patches + 1, embed_dim))
        nn.init.normal_(self.position_embeddings, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check.float_tensor(tokens, "tokens")
        expected = tuple(self.position_embeddings.shape[1:])
        if tokens.dim() != 3 or tuple(tokens.shape[1:]) != expected:
            raise ValueError(
                f"tokens must have shape (batch, {expected[0]}, {expected[1]}) (CLS + {self.n_patches} patches), "
                f"got {tuple(tokens.shape)}"
            )
        return self.dropout(tokens + self.position_embeddings)  # (B, N+1, D)
# --8<-- [end:positional_embedding]


# --8<-- [start:sincos]
def sincos_2d_position_embedding(grid_size, embed_dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """A fixed 2-D sine-cosine embedding of shape (rows * cols, D), in raster order.

    Half of the channels encode the row, half the column; each half is the 1-D
    sinusoid of the original Transformer, with wavelengths growing geometrically
    from 2*pi to ``temperature * 2*pi``. Nothing is learned, so the 2-D structure
    is there from the start.
    """
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    embed_dim = check.positive_int(embed_dim, "embed_dim")
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be divisible by 4 for a 2-D sin-cos embedding, got {embed_dim}")
    quarter = embed_dim // 4
    frequencies = temperature ** (-torch.arange(quarter, dtype=torch.float64) / quarter)  # (D/4,)
    row_index, col_index = torch.meshgrid(
        torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij"
    )  # (rows, cols) each
    row_angles = row_index.reshape(-1, 1) * frequencies  # (rows*cols, D/4)
    col_angles = col_index.reshape(-1, 1) * frequencies  # (rows*cols, D/4)
    embedding = torch.cat([row_angles.sin(), row_angles.cos(), col_angles.sin(), col_angles.cos()], dim=1)
    return embedding.float()  # (rows*cols, D)
# --8<-- [end:sincos]


# --8<-- [start:analysis]
def _patch_embeddings(embedding: torch.Tensor, grid_size) -> tuple[torch.Tensor, int, int]:
    """Check an (N, D) table of patch position embeddings against its (rows, cols) grid."""
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    check.float_tensor(embedding, "embedding")
    if embedding.dim() != 2 or embedding.shape[0] != rows * cols:
        raise ValueError(
            f"embedding must have shape ({rows * cols}, D) for a {rows}x{cols} grid (patch tokens only, "
            f"CLS removed), got {tuple(embedding.shape)}"
        )
    return embedding.detach().double(), rows, cols


def cosine_similarity_maps(embedding: torch.Tensor, grid_size) -> torch.Tensor:
    """How similar each position's vector is to every other: (rows, cols, rows, cols).

    ``maps[i, j]`` is an image of the grid showing the cosine similarity between
    position (i, j) and every position.
    """
    table, rows, cols = _patch_embeddings(embedding, grid_size)
    unit = F.normalize(table, dim=1)  # (N, D), rows of length 1
    return (unit @ unit.T).reshape(rows, cols, rows, cols).float()  # (N, N) -> (rows, cols, rows, cols)


def principal_component_maps(embedding: torch.Tensor, grid_size, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` main directions of variation across positions, drawn on the grid.

    Returns the maps (k, rows, cols) and the fraction of the variance each explains.
    A smooth map (a gradient left to right, top to bottom) means nearby positions
    got similar vectors: the embedding knows the 2-D layout.
    """
    table, rows, cols = _patch_embeddings(embedding, grid_size)
    k = check.positive_int(k, "k")
    centred = table - table.mean(dim=0)  # (N, D)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)  # u: (N, r), s: (r,)
    variance = s**2 / (s**2).sum()
    maps = (u[:, :k] * s[:k]).T.reshape(k, rows, cols)  # (N, k) -> (k, rows, cols)
    return maps.float(), variance[:k].float()


def neighbour_similarity(embedding: torch.Tensor, grid_size, far: float = 4.0) -> tuple[float, float]:
    """Two numbers that summarise the maps: mean cosine similarity of each position with its
    (up to 4) direct neighbours, and with the positions at least ``far`` cells away.

    Random vectors give about 0 for both; an embedding that knows the grid gives clearly
    more to neighbours than to distant positions.
    """
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    similarity = cosine_similarity_maps(embedding, (rows, cols)).reshape(rows * cols, rows * cols)  # (N, N)
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    coords = torch.stack([r.flatten(), c.flatten()], dim=1).float()  # (N, 2): (row, col) of each position
    distance = torch.cdist(coords, coords)  # (N, N)
    near, distant = distance == 1, distance >= far
    if not distant.any():
        raise ValueError(f"no two positions of a {rows}x{cols} grid are {far} cells apart: use a smaller far")
    return similarity[near].mean().item(), similarity[distant].mean().item()
# --8<-- [end:analysis]


# --8<-- [start:resample]
def resample_position_embedding(
    pos_embed: torch.Tensor,
    new_grid,
    old_grid=None,
    num_prefix_tokens: int = 1,
    antialias: bool = False,
) -> torch.Tensor:
    """Resize a (1, prefix + rows*cols, D) position table to another patch grid.

    The prefix tokens (the CLS token) keep their vectors; the patch vectors are laid
    out on their grid and resized as an image with D channels. The convention is
    bicubic interpolation to an explicit output ``size``, ``align_corners=False``,
    no antialiasing: equal to Hugging Face's ``interpolate_pos_encoding`` and to
    timm's ``resample_abs_pos_embed(..., antialias=False)``.
    """
    check.float_tensor(pos_embed, "pos_embed")
    num_prefix_tokens = int(num_prefix_tokens)
    if pos_embed.dim() != 3 or pos_embed.shape[0] != 1 or pos_embed.shape[1] <= num_prefix_tokens or not pos_embed.shape[2]:
        raise ValueError(
            f"pos_embed must have shape (1, {num_prefix_tokens} + rows*cols, D), got {tuple(pos_embed.shape)}"
        )
    n_patches = pos_embed.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = round(n_patches**0.5)
        if side * side != n_patches:
            raise ValueError(f"{n_patches} patch positions are not a square grid: pass old_grid=(rows, cols)")
        old_grid = (side, side)
    old_rows, old_cols = check.image_size_pair(old_grid, "old_grid")
    new_rows, new_cols = check.image_size_pair(new_grid, "new_grid")
    if old_rows * old_cols != n_patches:
        raise ValueError(f"old_grid {old_rows}x{old_cols} has {old_rows * old_cols} positions, pos_embed has {n_patches}")
    if (new_rows, new_cols) == (old_rows, old_cols):
        return pos_embed
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = patches.shape[-1]
    grid = patches.reshape(1, old_rows, old_cols, dim).permute(0, 3, 1, 2)  # (1, N, D) -> (1, D, rows, cols)
    grid = F.interpolate(grid, size=(new_rows, new_cols), mode="bicubic", align_corners=False, antialias=antialias)
    patches = grid.permute(0, 2, 3, 1).reshape(1, new_rows * new_cols, dim)  # (1, D, rows', cols') -> (1, N', D)
    return torch.cat([prefix, patches], dim=1)  # (1, prefix + N', D)
# --8<-- [end:resample]
