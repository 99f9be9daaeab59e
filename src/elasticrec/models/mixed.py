"""Mixed dimensions by popularity (Ginart et al., "Mixed Dimension Embeddings with Application
to Memory-Efficient Recommendation Systems", ISIT 2021): popular items get wider rows.

Items are sorted by training events (ties to the smaller row) and cut into equal-size
groups, the most popular first; group ``g``'s rows are trained at width ``widths[g]``. The
paper sizes block ``g`` as ``lambda * p_g ** alpha`` (``p_g``: the block's share of the
events per item, ``alpha`` a temperature: 0 is uniform, 1 proportional) and projects each
block to the base width with its own matrix. Here the rows are prefixes of one width (every
row ``r`` uses positions ``[0, w_r)``, the rest masked to zero, ``Recommender.set_row_sizes``),
which is the paper's model with one shared projection absorbed into the user table: each
group's subspace is a prefix of the wider groups' (docs/methods.md). It is what the
positional ragged layout ships, row by row at its trained width, with no projection to count.

Pure arithmetic on counts; ``models/factory.py`` applies the widths.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ALPHA = 0.3  # the temperature the paper recommends for collaborative filtering
N_GROUPS = 4


def popularity_groups(counts: np.ndarray, n_groups: int) -> np.ndarray:
    """Each item's group: ``n_groups`` near-equal groups by descending ``counts`` (ties to
    the smaller row), group 0 the most popular."""
    counts = np.asarray(counts)
    order = np.lexsort((np.arange(len(counts)), -counts))
    group = np.empty(len(counts), dtype=np.int64)
    for g, rows in enumerate(np.array_split(order, n_groups)):
        group[rows] = g
    return group


def item_widths(counts: np.ndarray, group_widths: tuple[int, ...]) -> np.ndarray:
    """Each item's width: its popularity group's entry of ``group_widths``."""
    return np.asarray(group_widths, dtype=np.int64)[
        popularity_groups(counts, len(group_widths))]


def ginart_widths(counts: np.ndarray, dim: int, fits: Callable[[tuple[int, ...]], bool], *,
                  n_groups: int = N_GROUPS, alpha: float = ALPHA) -> tuple[int, ...]:
    """The paper's widths ``min(dim, round(lambda * p_g ** alpha))`` for the largest
    ``lambda`` whose widths ``fits`` accepts (e.g. their package is within a budget), each
    at least 1; ``()`` when even widths of 1 do not fit. ``p_g``: group ``g``'s mean count
    per item (plus one, so that unseen items still get a share)."""
    counts = np.asarray(counts, dtype=np.float64)
    group = popularity_groups(counts, n_groups)
    share = np.array([counts[group == g].mean() + 1.0 for g in range(n_groups)])
    shape = (share / share.max()) ** alpha  # 1 for the most popular group

    def widths(scale: float) -> tuple[int, ...]:
        return tuple(int(w) for w in np.clip(np.rint(scale * shape), 1, dim))

    if not fits(widths(0.0)):
        return ()
    low, high = 0.0, float(dim) / shape.min()  # high: every group at full width
    if fits(widths(high)):
        return widths(high)
    for _ in range(40):  # widths change in whole steps: 40 halvings settle lambda
        mid = (low + high) / 2
        low, high = (mid, high) if fits(widths(mid)) else (low, mid)
    return widths(low)


def trained_widths(item: np.ndarray) -> np.ndarray:
    """Each row's width in a table of masked rows: one past its last nonzero position (a
    trailing zero scores nothing, so shipping the row narrower loses nothing)."""
    nonzero = np.asarray(item) != 0
    last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 0).astype(np.int64)
