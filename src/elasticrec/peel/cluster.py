"""User groups for PEEL: k-means on pretrained user embeddings, and placing new users.

Pure NumPy, deterministic under a seed: k-means++ seeding, then Lloyd iterations until the
assignment stops changing. A user who was not in training is placed from an embedding folded
in from their history (ridge least squares against the pretrained item table, the same
fold-in the device runtime uses), then in the nearest group.
"""

from __future__ import annotations

import numpy as np

from elasticrec.runtime.foldin import ridge_fold_in


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator,
           max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (k, D), labels (n,)); ``k`` is capped at the number of distinct points."""
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} is not allowed: an integer in [1, {n}] (the number of users)")
    centroids = _plus_plus(x, k, rng)
    labels = np.full(n, -1)
    for _ in range(max_iter):
        new = nearest(x, centroids)
        if np.array_equal(new, labels):
            break
        labels = new
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=k)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():  # an emptied cluster restarts at the points farthest from theirs
            far = np.argsort(-_sq_dist(x, centroids)[np.arange(n), labels])[: empty.sum()]
            centroids[empty] = x[far]
    return centroids, labels


def nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.argmin(_sq_dist(np.asarray(points, dtype=np.float64), centroids), axis=1)


def fold_in(item_table: np.ndarray, history: np.ndarray, reg: float = 0.1) -> np.ndarray:
    """A user vector from item rows: ``argmin_u sum_i (1 - a_i.u)^2 + lam |u|^2`` with
    ``lam = reg * mean |a_i|^2``."""
    rows = np.unique(np.asarray(history, dtype=np.int64))
    if not len(rows):
        raise ValueError("fold-in needs at least one history item")
    return ridge_fold_in(np.asarray(item_table)[rows], reg)


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centroids = [x[rng.integers(len(x))]]
    d2 = _sq_dist(x, centroids[0][None])[:, 0]
    for _ in range(1, k):
        total = d2.clip(min=0).sum()
        i = rng.choice(len(x), p=d2.clip(min=0) / total) if total > 0 else rng.integers(len(x))
        centroids.append(x[i])
        d2 = np.minimum(d2, _sq_dist(x, x[i][None])[:, 0])
    return np.array(centroids)
