"""Folding a user in from an item history: ridge least squares on item vectors (NumPy only)."""

from __future__ import annotations

import numpy as np


def ridge_fold_in(vectors: np.ndarray, reg: float = 0.1) -> np.ndarray:
    """``argmin_u sum_i (1 - a_i . u)^2 + lam |u|^2`` over the rows ``a_i`` of ``vectors``
    (at least one), with ``lam = reg * mean_i |a_i|^2``; float64."""
    a = np.asarray(vectors, dtype=np.float64)
    lam = reg * float((a * a).sum(axis=1).mean()) + 1e-12
    return np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.sum(axis=0))
