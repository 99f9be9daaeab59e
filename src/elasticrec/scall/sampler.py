"""SCALL's budget-guaranteed embedding sizes (METHODS.md 2.6), with the total never over budget.

An action ``(w, a_u, a_i)`` in [0, 1]^3 gives users the share ``w`` of the parameter budget and
items the rest; each side's sizes follow the *expected sorted profile* of ``n`` power-law
draws (pdf ``alpha x^(alpha-1)`` on [0, 1], ``alpha`` rescaled from ``a`` into
[alpha_min, alpha_max]): small alpha is skewed, large alpha near uniform. The profile is
scaled to the side's budget, clipped to [d_min, d_max] with the clipped mass redistributed
(solved exactly by bisection on the scale, where the released code iterates for up to a
second), and rounded to integers by largest remainders so that the total never exceeds the
budget (the released code rounds each size and can overshoot by O(n)). Sizes, sorted
descending, go to entities by current frequency (``assign_by_frequency``). Pure NumPy.
"""

from __future__ import annotations

import numpy as np

ALPHA_MIN, ALPHA_MAX = 0.1, 30.0  # the released power-law range
D_MIN, D_MAX = 1, 256


class BudgetTooSmall(ValueError):
    """Fewer parameters than ``n * d_min``: not every entity can get its minimum size."""


def expected_sorted_profile(alpha: float, n: int, rng: np.random.Generator,
                            draws: int = 100) -> np.ndarray:
    """(n,) non-increasing shares summing to 1: the mean over ``draws`` of sorted,
    sum-normalised power-law samples (inverse CDF: ``U ** (1 / alpha)``)."""
    if n == 0:
        return np.zeros(0)
    samples = rng.random((draws, n)) ** (1.0 / alpha)
    samples = -np.sort(-samples, axis=1)
    samples /= samples.sum(axis=1, keepdims=True)
    profile = samples.mean(axis=0)
    return profile / profile.sum()


def fit_to_budget(profile: np.ndarray, budget: int, d_min: int = D_MIN,
                  d_max: int = D_MAX) -> np.ndarray:
    """Integer sizes in [d_min, d_max] proportional to ``profile`` up to clipping, with total
    ``min(budget, n * d_max)``; ``BudgetTooSmall`` if ``budget < n * d_min``."""
    n = len(profile)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if budget < n * d_min:
        raise BudgetTooSmall(f"a budget of {budget:,} parameters cannot give {n:,} entities "
                             f"{d_min} each")
    target = min(budget, n * d_max)
    real = _water_fill(np.asarray(profile, dtype=np.float64), target, d_min, d_max)
    # floor(real) lies in [d_min, d_max] and sums to at most the target (an integer); the
    # units left go to the largest remainders among sizes that may still grow
    sizes = np.floor(real).astype(np.int64)
    left = int(target - sizes.sum())
    frac = np.where(sizes < d_max, real - sizes, -np.inf)
    sizes[np.argsort(-frac, kind="stable")[:max(left, 0)]] += 1
    return sizes


def _water_fill(p: np.ndarray, target: float, d_min: float, d_max: float) -> np.ndarray:
    """``clip(s * p, d_min, d_max)`` with the scale ``s`` for which the sum is ``target``."""
    lo, hi = 0.0, 1.0
    while np.clip(hi * p, d_min, d_max).sum() < target:
        hi *= 2.0
        if hi > 1e300:
            break
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.clip(mid * p, d_min, d_max).sum() < target:
            lo = mid
        else:
            hi = mid
    return np.clip(hi * p, d_min, d_max)


def sizes_from_action(action: np.ndarray, n_users: int, n_items: int, total_params: int,
                      rng: np.random.Generator, *, d_min: int = D_MIN, d_max: int = D_MAX,
                      alpha_range: tuple[float, float] = (ALPHA_MIN, ALPHA_MAX),
                      draws: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(user sizes, item sizes), each sorted descending, totalling at most ``total_params``."""
    w, a_u, a_i = (float(x) for x in np.asarray(action, dtype=np.float64).reshape(3))
    w = float(np.clip(w, 1e-5, 1 - 1e-5))
    if total_params < (n_users + n_items) * d_min:
        raise BudgetTooSmall(f"a budget of {total_params:,} parameters cannot give "
                             f"{n_users + n_items:,} entities {d_min} each")
    # each side keeps at least its minimum sizes, whatever the share; what one side cannot
    # use (every entity at d_max) goes to the other
    user_budget = int(np.clip(np.floor(w * total_params), n_users * d_min,
                              total_params - n_items * d_min))
    user_budget = min(user_budget, n_users * d_max)
    item_budget = min(total_params - user_budget, n_items * d_max)
    user_budget = min(total_params - item_budget, n_users * d_max)
    out = []
    for a, n, budget in ((a_u, n_users, user_budget), (a_i, n_items, item_budget)):
        alpha = float(np.clip(a, 0, 1)) * (alpha_range[1] - alpha_range[0]) + alpha_range[0]
        out.append(fit_to_budget(expected_sorted_profile(alpha, n, rng, draws), budget,
                                 d_min, d_max))
    return out[0], out[1]


def assign_by_frequency(sorted_sizes: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Per-entity sizes: the k-th largest size to the k-th most frequent entity (ties: the
    larger id first, as the released code sorts (frequency, id) descending)."""
    ids = np.arange(len(frequency))
    order = np.lexsort((-ids, -np.asarray(frequency)))
    out = np.empty(len(frequency), dtype=np.int64)
    out[order] = np.asarray(sorted_sizes, dtype=np.int64)
    return out


def total_params(budget: str, n_users: int, n_items: int) -> int:
    """The parameter budget from the paper's units: ``"c=16"`` (mean size per entity) or
    ``"B=10"`` (MB of float32 parameters, 1 MB = 10^6 bytes)."""
    kind, _, value = budget.partition("=")
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if kind == "c" and x > 0:
        return int(x * (n_users + n_items))
    if kind == "B" and x > 0:
        return int(x * 8e6 / 32)
    raise ValueError(f"budget={budget!r} is not allowed: 'c=<mean size>' or 'B=<MB>'")
