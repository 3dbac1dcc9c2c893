"""Component 2: telling the transformer where each patch came from.

Self-attention treats its input as a set: shuffle the tokens and every
output is shuffled the same way, nothing else changes. Adding a different
vector to each position breaks that symmetry, so "top-left patch" and
"bottom-right patch" look different to the model even when their pixels
are equal.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import _validation as check


# --8<-- [start:positional_embedding]
class PositionalEmbedding(nn.Module):
    """One learnable vector per token, added to it: (B, N+1, D) -> same.

    Row 0 of ``position_embeddings`` (1, N+1, D) belongs to the CLS token,
    rows 1..N to the patches in raster order. It starts as noise (normal,
    std 0.02) and gets its structure only from training.
    """

    def __init__(self, n_patches, embed_dim, dropout=0.1):
        super().__init__()
        n_patches, embed_dim, dropout = _check_config(
            n_patches, embed_dim, dropout
        )  # as Python numbers
        self.n_patches, self.embed_dim = n_patches, embed_dim
        shape = (1, n_patches + 1, embed_dim)  # (1, N+1, D): CLS + N patches
        check.fits_in_memory(shape, f"A position table of {shape}")
        self.position_embeddings = nn.Parameter(torch.zeros(shape))
        nn.init.normal_(self.position_embeddings, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _check_tokens(tokens, self.position_embeddings)
        return self.dropout(tokens + self.position_embeddings)  # (B, N+1, D)


# --8<-- [end:positional_embedding]


# --8<-- [start:sincos]
def sincos_2d_position_embedding(
    grid_size, embed_dim: int, temperature: float = 10000.0
):
    """A fixed (rows*cols, D) table: first half rows, second half columns.

    Each half is the 1-D sinusoid of the original Transformer, with
    wavelengths from 2*pi up to ``2*pi * temperature**((D/4 - 1) / (D/4))``
    (just short of ``temperature * 2*pi``). Nothing is learned.
    """
    rows, cols, embed_dim, temperature = _checked_sincos_grid(
        grid_size, embed_dim, temperature
    )  # checked, as Python numbers
    quarter = embed_dim // 4  # sin and cos, for rows and for columns
    i = torch.arange(quarter, dtype=torch.float64)  # (D/4,)
    frequencies = temperature ** (-i / quarter)  # (D/4,)
    row, col = torch.meshgrid(
        torch.arange(rows, dtype=torch.float64),
        torch.arange(cols, dtype=torch.float64),
        indexing="ij",
    )  # (rows, cols) each
    row_angles = row.reshape(-1, 1) * frequencies  # (rows*cols, D/4)
    col_angles = col.reshape(-1, 1) * frequencies  # (rows*cols, D/4)
    table = torch.cat(
        [
            row_angles.sin(),
            row_angles.cos(),
            col_angles.sin(),
            col_angles.cos(),
        ],
        dim=1,
    )
    return table.float()  # (rows*cols, D)


# --8<-- [end:sincos]


def _patch_embeddings(embedding: torch.Tensor, grid_size):
    """Check an (N, D) table of patch positions against its grid."""
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    if check.float_tensor(embedding, "embedding").is_meta:
        raise ValueError(
            "embedding is on the meta device (a shape without numbers): "
            "pass a tensor with values, e.g. on 'cpu'"
        )
    if (
        embedding.dim() != 2
        or embedding.shape[0] != rows * cols
        or not embedding.shape[1]
    ):
        raise ValueError(
            f"embedding must have shape ({rows * cols}, D) for a "
            f"{rows}x{cols} grid (patch tokens only, CLS removed), "
            f"got {tuple(embedding.shape)}"
        )
    table = embedding.detach().cpu().double()  # (N, D)
    if not table.isfinite().all():
        raise ValueError(
            f"embedding of shape {tuple(embedding.shape)} holds NaN or "
            "infinite values: nothing to compare"
        )
    return table, rows, cols


# --8<-- [start:analysis]
def cosine_similarity_maps(embedding: torch.Tensor, grid_size):
    """(N, D) table -> (rows, cols, rows, cols) cosine similarities.

    ``maps[i, j]`` is an image of the grid: how similar each position's
    vector is to the vector of position (i, j).
    """
    table, rows, cols = _patch_embeddings(embedding, grid_size)
    _check_directions(table, embedding)
    unit = F.normalize(table, dim=1)  # (N, D), rows of length 1
    similarity = unit @ unit.T  # (N, N)
    return similarity.reshape(rows, cols, rows, cols).float()


# --8<-- [end:analysis]


def principal_component_maps(embedding: torch.Tensor, grid_size, k: int = 3):
    """The ``k`` main directions of variation across positions, on the grid.

    Returns the maps (k, rows, cols) and the fraction of the variance each
    explains. A smooth map (a gradient across the grid) means that nearby
    positions got similar vectors: the embedding knows the 2-D layout.
    """
    table, rows, cols = _patch_embeddings(embedding, grid_size)
    k = check.positive_int(k, "k")
    if k > min(table.shape):
        raise ValueError(
            f"k must be at most min(positions, width) = {min(table.shape)} "
            f"for a {tuple(table.shape)} table, got {k}"
        )
    centred = table - table.mean(dim=0)  # (N, D)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)  # u: (N, r)
    _check_variation(s, table, embedding)
    variance = s**2 / (s**2).sum()
    maps = (u[:, :k] * s[:k]).T  # (N, k) -> (k, N)
    return maps.reshape(k, rows, cols).float(), variance[:k].float()


def neighbour_similarity(
    embedding: torch.Tensor, grid_size, far: float = 4.0
) -> tuple[float, float]:
    """Mean cosine similarity with direct neighbours, and with far cells.

    The second number averages over the positions at least ``far`` cells
    away. Random vectors give about 0 for both; an embedding that knows the
    grid gives clearly more to neighbours than to distant positions.
    """
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    far = check.plain_number(far)  # as the number given: 4, not 4.0
    check.finite_number(far, "far", low=1)
    maps = cosine_similarity_maps(embedding, (rows, cols))
    similarity = maps.reshape(rows * cols, rows * cols)  # (N, N)
    r, c = torch.meshgrid(
        torch.arange(rows), torch.arange(cols), indexing="ij"
    )
    coords = torch.stack([r.flatten(), c.flatten()], dim=1).float()  # (N, 2)
    distance = torch.cdist(coords, coords)  # (N, N)
    near, distant = distance == 1, distance >= far
    if not near.any():
        raise ValueError(
            f"grid_size must have two or more cells, got {rows}x{cols}: "
            "a single position has no neighbours"
        )
    if not distant.any():
        raise ValueError(
            f"no two positions of a {rows}x{cols} grid are {far} cells "
            "apart: use a smaller far"
        )
    return similarity[near].mean().item(), similarity[distant].mean().item()


# --8<-- [start:resample]
def resample_position_embedding(
    pos_embed: torch.Tensor,
    new_grid,
    old_grid=None,
    num_prefix_tokens: int = 1,
    antialias: bool = False,
) -> torch.Tensor:
    """Resize a (1, prefix + rows*cols, D) position table to another grid.

    The prefix rows (CLS) are kept; the patch rows are laid out on their
    grid and resized like an image with D channels: bicubic, to an explicit
    size, ``align_corners=False``, no antialiasing (Hugging Face's choice).
    """
    (old_rows, old_cols), (rows, cols) = _checked_grids(
        pos_embed, new_grid, old_grid, num_prefix_tokens, antialias
    )
    prefix = pos_embed[:, :num_prefix_tokens]  # (1, prefix, D)
    patches = pos_embed[:, num_prefix_tokens:]  # (1, N, D)
    D = patches.shape[-1]
    grid = patches.reshape(1, old_rows, old_cols, D).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid,
        size=(rows, cols),
        mode="bicubic",
        align_corners=False,
        antialias=antialias,
    )
    patches = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, D)
    return torch.cat([prefix, patches], dim=1)  # (1, prefix + N', D)


# --8<-- [end:resample]


# --- checks of this module's arguments ---------------------------------------


def _check_directions(table, embedding) -> None:
    """Every position's vector has a direction: ``F.normalize`` divides
    by at least 1e-12, so a shorter vector would not become a unit one."""
    lengths = table.norm(dim=1)  # (N,)
    row = int(lengths.argmin())
    if lengths[row] < 1e-12:
        raise ValueError(
            f"embedding of shape {tuple(embedding.shape)} has a vector of "
            f"length {lengths[row].item():.3g} at position {row}: a cosine "
            "similarity needs vectors of length 1e-12 or more"
        )


def _check_variation(singular_values, table, embedding) -> None:
    """The positions differ: a table with the same vector everywhere (all
    zeros, or constant) has no direction of variation, and no fractions of
    a variance of 0."""
    scale = table.abs().max().clamp(min=1e-300)
    if singular_values.max() <= 1e-9 * scale * max(table.shape) ** 0.5:
        raise ValueError(
            f"embedding of shape {tuple(embedding.shape)} has the same "
            "vector at every position (a variance of 0): there are no "
            "components to show"
        )


def _check_config(n_patches, embed_dim, dropout) -> tuple[int, int, float]:
    """Check a PositionalEmbedding's sizes and dropout rate; return them as
    Python numbers."""
    return (
        check.positive_int(n_patches, "n_patches"),
        check.positive_int(embed_dim, "embed_dim"),
        check.probability(dropout, "dropout"),
    )


def _check_tokens(tokens, table) -> None:
    """Check tokens (B, N+1, D) against a (1, N+1, D) position table."""
    check.float_tensor(
        tokens, "tokens", dtype=table.dtype, device=table.device
    )
    expected = tuple(table.shape[1:])
    if tokens.dim() != 3 or tuple(tokens.shape[1:]) != expected:
        raise ValueError(
            f"tokens must have shape (batch, {expected[0]}, {expected[1]}) "
            f"(CLS + {expected[0] - 1} patches), got {tuple(tokens.shape)}"
        )


def _checked_sincos_grid(grid_size, embed_dim, temperature):
    """Check a 2-D sin-cos table's arguments; return its rows, columns,
    width and temperature as Python numbers."""
    rows, cols = check.image_size_pair(grid_size, "grid_size")
    embed_dim = check.positive_int(embed_dim, "embed_dim")
    temperature = check.finite_number(
        temperature, "temperature", low=1.0, low_open=True
    )
    check.fits_in_memory(
        (rows * cols, embed_dim),
        f"A {rows}x{cols} sin-cos table",
        bytes_per_number=8,
    )
    if embed_dim % 4:
        raise ValueError(
            "embed_dim must be divisible by 4 for a 2-D sin-cos embedding, "
            f"got {embed_dim}"
        )
    return rows, cols, embed_dim, temperature


def _checked_grids(
    pos_embed, new_grid, old_grid, num_prefix_tokens, antialias
):
    """Check resampling arguments; return the (old, new) grids."""
    check.float_tensor(pos_embed, "pos_embed")
    prefix = check.non_negative_int(num_prefix_tokens, "num_prefix_tokens")
    check.boolean(antialias, "antialias")
    shape = tuple(pos_embed.shape)
    if (
        pos_embed.dim() != 3
        or shape[0] != 1
        or shape[1] <= prefix
        or not shape[2]
    ):
        raise ValueError(
            f"pos_embed must have shape (1, {prefix} + rows*cols, D), "
            f"got {shape}"
        )
    n_patches = shape[1] - prefix
    if old_grid is None:
        side = math.isqrt(n_patches)
        if side * side != n_patches:
            raise ValueError(
                f"{n_patches} patch positions (after num_prefix_tokens="
                f"{prefix}) are not a square grid: pass old_grid=(rows, cols)"
            )
        old_grid = (side, side)
    old = check.image_size_pair(old_grid, "old_grid")
    new = check.image_size_pair(new_grid, "new_grid")
    check.fits_in_memory(
        (prefix + new[0] * new[1], shape[2]),
        f"A position table resampled to {new[0]}x{new[1]}",
    )
    if old[0] * old[1] != n_patches:
        raise ValueError(
            f"old_grid {old[0]}x{old[1]} has {old[0] * old[1]} positions, "
            f"pos_embed has {n_patches}"
        )
    return old, new
