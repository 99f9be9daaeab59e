"""Positional embedding blocks: scoring with a subset of blocks, and sampling subsets.

An item embedding of width D is cut into N positional blocks of width D/N (METHODS.md
decision 2). The user keeps all N blocks; an item that ships blocks S is scored by the dot
product over the positions of S, optionally rescaled by N/|S|, exactly as the device runtime
scores a blocks package.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

SubsetSizes = Literal["uniform", "bernoulli"]


def block_width(dim: int, n_blocks: int) -> int:
    if n_blocks < 1 or dim % n_blocks:
        raise ValueError(f"n_blocks={n_blocks} is not allowed: a divisor of the width {dim}")
    return dim // n_blocks


def masked_scores(user: torch.Tensor, item: torch.Tensor, block_mask: torch.Tensor, *,
                  rescale: bool = False) -> torch.Tensor:
    """Row-wise ``sum over b in S of <user_b, item_b>`` (× N/|S| when ``rescale``).

    ``user`` and ``item`` are (B, D); ``block_mask`` is (B, N) bool, row i the blocks item i
    ships.
    """
    b, n = block_mask.shape
    per_block = (user * item).view(b, n, -1).sum(-1)  # (B, N)
    scores = (per_block * block_mask).sum(-1)
    if rescale:
        scores = scores * (n / block_mask.sum(-1).clamp(min=1))
    return scores


def sample_block_masks(n_groups: int, n_blocks: int, generator: torch.Generator,
                       p_full: float = 0.0, sizes: SubsetSizes = "uniform") -> torch.Tensor:
    """One random non-empty block subset per item group, (G, N) bool.

    ``sizes="uniform"``: the subset size is uniform in ``[1, N]``, then the blocks are a
    uniformly random subset of that size, so the one- and two-block subsets that small budgets
    ship are trained as often as large ones. ``sizes="bernoulli"``: each block is kept with
    probability 1/2 (sizes concentrate around N/2; an empty row gets one random block). With
    probability ``p_full`` a group ships every block, so the full embedding keeps training too.
    """
    if sizes == "uniform":
        size = torch.randint(1, n_blocks + 1, (n_groups, 1), generator=generator)
        rank = torch.rand(n_groups, n_blocks, generator=generator).argsort(dim=1).argsort(dim=1)
        mask = rank < size
    elif sizes == "bernoulli":
        mask = torch.rand(n_groups, n_blocks, generator=generator) < 0.5
        empty = ~mask.any(dim=1)
        pick = torch.randint(n_blocks, (n_groups,), generator=generator)
        mask[empty, pick[empty]] = True
    else:
        raise ValueError(f"sizes={sizes!r} is not allowed: 'uniform' or 'bernoulli'")
    if p_full > 0:
        full = torch.rand(n_groups, generator=generator) < p_full
        mask[full] = True
    return mask


def item_masks(config: np.ndarray, item_group: np.ndarray, dim: int) -> np.ndarray:
    """(n_items, D) bool: the positions each item ships under ``config`` ((G, N) bool)."""
    _n_groups, n_blocks = config.shape
    width = block_width(dim, n_blocks)
    return np.repeat(config, width, axis=1)[item_group]
