"""Top-K ranking metrics per user, from ranked item lists and held-out test items (NumPy only).

For a user ``u`` with test items ``T_u`` and ranked list ``r_1, r_2, ...`` (``-1`` entries are
padding and never hit), let ``hit_i = 1[r_i in T_u]`` and ``hits@K = sum_{i<=K} hit_i``:

- ``recall@K    = hits@K / |T_u|``
- ``precision@K = hits@K / K`` (K even when fewer than K items were ranked)
- ``hitrate@K   = 1[hits@K > 0]``
- ``ndcg@K      = DCG@K / IDCG@K`` with ``DCG@K = sum_{i<=K} hit_i / log2(i + 1)`` and
  ``IDCG@K = sum_{i<=min(|T_u|, K)} 1 / log2(i + 1)``, the DCG of a list that ranks the user's
  test items first.

Only this standard NDCG is implemented. The NGCF/LightGCN reference code computes a variant
that differs when a user has fewer than K test items; results quoted from those papers may
therefore not match ``ndcg@K`` here exactly.

Users with no test items have no defined recall or NDCG; they are not evaluated, and asking for
them is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["METRIC_NAMES", "hit_matrix", "metric_key", "ranking_metrics"]

METRIC_NAMES = ("recall", "ndcg", "precision", "hitrate")


def metric_key(name: str, k: int) -> str:
    """The dictionary key of a metric at a cut-off, e.g. ``"recall@20"``."""
    return f"{name}@{k}"


def hit_matrix(
    top_items: np.ndarray, test_indptr: np.ndarray, test_indices: np.ndarray
) -> np.ndarray:
    """``hits[u, i]`` is True when ``top_items[u, i]`` is one of row ``u``'s test items.

    ``top_items`` is an integer ``(U, L)`` array of ranked item ids (``-1`` is padding); row
    ``u``'s test items are ``test_indices[test_indptr[u]:test_indptr[u + 1]]``.
    """
    top_items = np.asarray(top_items)
    test_indptr, test_indices = np.asarray(test_indptr), np.asarray(test_indices)
    if top_items.ndim != 2 or not np.issubdtype(top_items.dtype, np.integer):
        raise ValueError(f"top_items must be a 2-d integer array, got shape {top_items.shape}")
    n_users = len(top_items)
    if test_indptr.shape != (n_users + 1,) or test_indptr[-1] != len(test_indices):
        raise ValueError(
            f"test_indptr must have {n_users + 1} entries ending at len(test_indices)="
            f"{len(test_indices)}, got shape {test_indptr.shape}"
        )
    if len(test_indices) and test_indices.min() < 0:
        raise ValueError(f"test_indices must be >= 0, got {test_indices.min()}")
    # Pair keys (row, item) -> row * width + item; width exceeds every item id, so keys of
    # different rows never collide, and padding (-1) maps to a key no test item has.
    width = 1 + max(int(top_items.max(initial=-1)), int(test_indices.max(initial=-1)))
    test_rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(test_indptr))
    test_keys = np.sort(test_rows * width + test_indices)
    top_keys = np.arange(n_users, dtype=np.int64)[:, None] * width + top_items
    if not test_keys.size:
        return np.zeros(top_items.shape, dtype=bool)
    at = np.minimum(np.searchsorted(test_keys, top_keys), len(test_keys) - 1)
    return (test_keys[at] == top_keys) & (top_items >= 0)


def ranking_metrics(
    hits: np.ndarray, n_test: np.ndarray, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Per-user Recall, NDCG, Precision and HitRate at every K, as float64 ``(U,)`` arrays.

    ``hits`` is the boolean ``(U, L)`` output of ``hit_matrix`` with ``L >= max(ks)``;
    ``n_test[u] >= 1`` is the number of (distinct) test items of user ``u``. Keys are
    ``metric_key(name, K)`` for each name in ``METRIC_NAMES`` and each K in ``ks``.
    """
    hits = np.asarray(hits)
    n_test = np.asarray(n_test)
    if hits.ndim != 2 or hits.dtype != np.bool_:
        raise ValueError(f"hits must be a 2-d boolean array, got shape {hits.shape}")
    if n_test.shape != (len(hits),):
        raise ValueError(f"n_test has shape {n_test.shape}, expected ({len(hits)},)")
    if n_test.size and n_test.min() < 1:
        raise ValueError("every evaluated user needs at least one test item (n_test >= 1)")
    length = hits.shape[1]
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= length:
            raise ValueError(f"ks contains {k!r}; allowed: ints in [1, {length}]")
    discount = 1.0 / np.log2(np.arange(2, length + 2, dtype=np.float64))
    hits_at = np.cumsum(hits, axis=1, dtype=np.int64)
    dcg_at = np.cumsum(hits * discount, axis=1)
    ideal_at = np.cumsum(discount)
    values: dict[tuple[str, int], np.ndarray] = {}
    for k in map(int, ks):
        h = hits_at[:, k - 1]
        values["recall", k] = h / n_test
        values["ndcg", k] = dcg_at[:, k - 1] / ideal_at[np.minimum(n_test, k) - 1]
        values["precision", k] = h / k
        values["hitrate", k] = (h > 0).astype(np.float64)
    return {metric_key(name, k): values[name, k] for name in METRIC_NAMES for k in map(int, ks)}
