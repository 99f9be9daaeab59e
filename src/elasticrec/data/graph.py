"""The user-item bipartite graph as a normalised adjacency matrix (pure)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from elasticrec.data.interactions import Interactions


def normalized_adjacency(train: Interactions) -> sp.csr_matrix:
    """Symmetric ``D^-1/2 A D^-1/2`` over ``n_users + n_items`` nodes, as in LightGCN.

    Users are nodes ``0..n_users-1``, items follow. Duplicate events count once; there are no
    self-loops; isolated nodes get zero rows (their degree is regularised by 1e-9 as in the
    released LightGCN code). float32, sorted indices.
    """
    r = train.to_csr()
    n = train.n_users + train.n_items
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    adj.resize((n, n))
    degree = np.asarray(adj.sum(axis=1), dtype=np.float64).ravel()
    inv_sqrt = (1.0 / np.sqrt(degree + 1e-9)).astype(np.float32)
    inv_sqrt[degree == 0] = 0.0
    scaled = sp.diags(inv_sqrt) @ adj @ sp.diags(inv_sqrt)
    out = sp.csr_matrix(scaled, dtype=np.float32)
    out.sort_indices()
    return out
