"""A score-preserving basis: the same scores, with the score energy in the leading positions.

A trained model scores user ``u`` and item ``i`` by ``U[u] . V[i]``. Any ``d x d`` pair ``A``,
``B`` with ``A B^T = I`` gives the same scores, ``(U A)(V B)^T = U V^T``, while moving what
each position carries. ``score_basis`` takes the pair from the singular value decomposition of
the score matrix ``U V^T``, computed through thin QR factors of the two tables (never the
``n_users x n_items`` matrix)::

    U = Q_u R_u,  V = Q_v R_v,  R_u R_v^T = P S W^T
    A = R_v^T W S^(-1/2),  B = R_u^T P S^(-1/2)
    U A = Q_u P S^(1/2),   V B = Q_v W S^(1/2)

so the first ``k`` positions of the rotated tables score with the best rank-``k``
approximation of the score matrix (Eckart-Young): truncating a dense package to a prefix
loses the least score energy there is to lose, ``sum_{j >= k} S_j^2``. The singular values
are split evenly between the user and the item side. Directions of (numerically) zero
singular value carry no score; they map to zero columns.

A device receives the rotated item table and the user vector in the same basis (``U A``); a
user vector folded in later from the rotated items is in that basis too. The basis is a
property of a run's full tables: compute it once from every training user and item, then
rotate what ships (``rotate``), including a new user's vector (``user @ A``).

Pure NumPy; float64 inside, float32 out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError

BASES = ("trained", "svd")
RANK_TOLERANCE = 1e-10  # singular values below this share of the largest are treated as zero


@dataclass(frozen=True, eq=False)
class Basis:
    """``user_map`` A and ``item_map`` B (d x d, float64) and the score matrix's singular
    values, largest first (``energy = singular ** 2``: what each position carries)."""

    user_map: np.ndarray
    item_map: np.ndarray
    singular: np.ndarray

    @property
    def energy_share(self) -> np.ndarray:
        """Cumulative share of the score matrix's squared Frobenius norm kept by each prefix
        width 1..d."""
        energy = self.singular ** 2
        total = float(energy.sum())
        return np.cumsum(energy) / total if total > 0 else np.ones_like(energy)


def score_basis(user: np.ndarray, item: np.ndarray) -> Basis:
    """The SVD basis of ``user @ item.T`` (see the module docstring)."""
    u = np.asarray(user, dtype=np.float64)
    v = np.asarray(item, dtype=np.float64)
    if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[1]:
        raise ElasticrecError(f"score_basis: user {u.shape} and item {v.shape} tables must be "
                              "2-d with the same width")
    if not (np.isfinite(u).all() and np.isfinite(v).all()):
        raise ElasticrecError("score_basis: the embeddings hold NaN or infinite values")
    dim = u.shape[1]
    r_u = _r_factor(u, dim)
    r_v = _r_factor(v, dim)
    p, s, wt = np.linalg.svd(r_u @ r_v.T)
    inv_sqrt = np.zeros_like(s)
    kept = s > RANK_TOLERANCE * (s[0] if len(s) else 0.0)
    inv_sqrt[kept] = 1.0 / np.sqrt(s[kept])
    s = np.where(kept, s, 0.0)
    a = r_v.T @ wt.T * inv_sqrt
    b = r_u.T @ p * inv_sqrt
    signs = _signs(v @ b)
    return Basis(user_map=a * signs, item_map=b * signs, singular=s)


def rotate_tables(user: np.ndarray, item: np.ndarray, basis: Basis
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``U A`` and ``V B`` (float32): the same scores in ``basis``."""
    return ((np.asarray(user, np.float64) @ basis.user_map).astype(np.float32),
            (np.asarray(item, np.float64) @ basis.item_map).astype(np.float32))


def rotate(emb: RunEmbeddings, basis: Basis) -> RunEmbeddings:
    """``emb`` with its user table ``U A`` and item table ``V B`` (float32): the same scores."""
    user, item = rotate_tables(emb.user, emb.item, basis)
    return replace(emb, user=user, item=item)


def in_basis(emb: RunEmbeddings, basis: str) -> RunEmbeddings:
    """``emb`` as trained (``"trained"``) or rotated by the SVD basis of its own tables
    (``"svd"``); ``emb`` must hold every training user then, not only those that ship."""
    if basis == "trained":
        return emb
    if basis == "svd":
        return rotate(emb, score_basis(emb.user, emb.item))
    raise ElasticrecError(f"basis {basis!r} is not one of {BASES}")


def _r_factor(x: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim x dim`` R of a thin QR of ``x`` (zero rows padded when ``x`` is shorter)."""
    r = np.linalg.qr(x, mode="r")
    if r.shape[0] < dim:
        r = np.vstack([r, np.zeros((dim - r.shape[0], dim))])
    return r


def _signs(rotated_item: np.ndarray) -> np.ndarray:
    """+-1 per column so that each column's sum over items is >= 0: the SVD's arbitrary
    signs, fixed, so that the same tables always give the same package bytes."""
    sums = rotated_item.sum(axis=0)
    return np.where(sums < 0, -1.0, 1.0)
