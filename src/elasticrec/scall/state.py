"""SCALL's policy state (METHODS.md 2.7): one vector of fixed length, whatever the numbers of
users and items, built by mean pooling. Pure NumPy.

Layout, ``4 + 2 * d_max + 2 * groups`` values (1028 with the released d_max = G = 256):

====================  =====  ====================================================================
pooled user counts    G      current-segment counts of the vocabulary's users, sorted descending,
                             min-max scaled to [0, 1], averaged over G equal windows of
                             ``ceil(n / G)`` entities (windows past the end, or all zero, are 0)
pooled item counts    G      the same for items
last reward           1      the raw ratio reward of the previous step (0.5 at first)
user share            1      ``n_users / (n_users + n_items)``
mean user embedding   d_max  the mean masked layer-0 row of the vocabulary's users
mean item embedding   d_max  the same for items
user size range       1      ``(max - min)`` of the users' sizes over ``d_max - d_min``
item size range       1      the same for items
====================  =====  ====================================================================
"""

from __future__ import annotations

import numpy as np

GROUPS = 256
FIRST_REWARD = 0.5  # the released initial "last reward"


def state_length(d_max: int, groups: int = GROUPS) -> int:
    return 4 + 2 * d_max + 2 * groups


def mean_pool(counts: np.ndarray, groups: int = GROUPS) -> np.ndarray:
    """(groups,) means of consecutive windows of the sorted, min-max scaled ``counts``."""
    out = np.zeros(groups)
    n = len(counts)
    if n == 0:
        return out
    x = -np.sort(-np.asarray(counts, dtype=np.float64))
    span = x[0] - x[-1]
    x = (x - x[-1]) / span if span > 0 else np.zeros(n)
    width = -(-n // groups)
    padded = np.zeros(width * groups)
    padded[:n] = x
    sums = padded.reshape(groups, width).sum(axis=1)
    sizes = np.clip(n - np.arange(groups) * width, 0, width)  # entities in each window
    np.divide(sums, sizes, out=out, where=sizes > 0)
    return out


def size_range(sizes: np.ndarray, d_min: int, d_max: int) -> float:
    return float(sizes.max() - sizes.min()) / max(d_max - d_min, 1) if len(sizes) else 0.0


def build_state(user_counts: np.ndarray, item_counts: np.ndarray, last_reward: float,
                mean_user: np.ndarray, mean_item: np.ndarray, user_range: float,
                item_range: float, groups: int = GROUPS) -> np.ndarray:
    """The state vector (float32) from the vocabulary's current counts, the last reward, the
    trained model's mean masked rows and the last sizes' ranges."""
    n_u, n_i = len(user_counts), len(item_counts)
    return np.concatenate([
        mean_pool(user_counts, groups), mean_pool(item_counts, groups),
        [last_reward, n_u / max(n_u + n_i, 1)],
        np.asarray(mean_user, dtype=np.float64), np.asarray(mean_item, dtype=np.float64),
        [user_range, item_range],
    ]).astype(np.float32)
