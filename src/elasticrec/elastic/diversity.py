"""The diversity-driven regulariser that keeps every embedding block expressive (RULE, PEEL).

The released code's form (METHODS.md 3.2) *maximises* the squared distance between
consecutive blocks of the batch's positive items: ``-sum_b ||E^(b) - E^(b+1)||^2 / B``. The
paper's exact formula is unknown; ``cosine`` is the alternative offered here: the mean
squared cosine similarity between every pair of an item's blocks (bounded, scale-free).
``mean_block_similarity`` measures what either form claims to reduce.
"""

from __future__ import annotations

from typing import Literal

import torch

DiversityForm = Literal["consecutive", "cosine"]


def diversity_penalty(items: torch.Tensor, n_blocks: int,
                      form: DiversityForm = "consecutive") -> torch.Tensor:
    """A value to *add* to the loss (smaller = more diverse blocks); ``items`` is (B, D)."""
    b = items.shape[0]
    blocks = items.view(b, n_blocks, -1)
    if form == "consecutive":
        return -(blocks[:, 1:] - blocks[:, :-1]).pow(2).sum() / max(b, 1)
    if form == "cosine":
        return pairwise_cosine(blocks).pow(2).mean()
    raise ValueError(f"diversity form {form!r} is not allowed: 'consecutive' or 'cosine'")


def pairwise_cosine(blocks: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of distinct blocks of every item, (B, N(N-1)/2)."""
    unit = torch.nn.functional.normalize(blocks, dim=-1)
    sim = unit @ unit.transpose(1, 2)
    i, j = torch.triu_indices(blocks.shape[1], blocks.shape[1], offset=1)
    return sim[:, i, j]


@torch.no_grad()
def mean_block_similarity(items: torch.Tensor, n_blocks: int) -> float:
    """Mean |cosine| between distinct blocks of the same item, over all items."""
    return float(pairwise_cosine(items.view(items.shape[0], n_blocks, -1)).abs().mean())
