"""Item groups for elastic embeddings: blocks are selected per group, not per item.

METHODS.md decision 4: G groups (default 20); grouping by popularity is the default, the
released code's contiguous id ranges stay available for reproduction. Pure functions.
"""

from __future__ import annotations

import numpy as np


def popularity_groups(item_counts: np.ndarray, n_groups: int) -> np.ndarray:
    """Group id per item: items ranked by training count (most popular first, ties by id),
    cut into ``n_groups`` groups of as equal a number of items as possible; group 0 holds the
    most popular items."""
    counts = np.asarray(item_counts)
    _check(len(counts), n_groups)
    rank = np.empty(len(counts), dtype=np.int64)
    rank[np.lexsort((np.arange(len(counts)), -counts))] = np.arange(len(counts))
    return (rank * n_groups // len(counts)).astype(np.int64)


def id_range_groups(n_items: int, n_groups: int) -> np.ndarray:
    """Contiguous id ranges of ``n_items // n_groups + 1`` items, as the released RULE/PEEL
    code splits the item table (``torch.split(item_emb, n_items // G + 1)``)."""
    _check(n_items, n_groups)
    return (np.arange(n_items, dtype=np.int64) // (n_items // n_groups + 1)).astype(np.int64)


def _check(n_items: int, n_groups: int) -> None:
    if not 1 <= n_groups <= max(n_items, 1):
        raise ValueError(f"n_groups={n_groups} is not allowed: an int in [1, n_items={n_items}]")
