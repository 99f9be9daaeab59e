"""Scoring a product-quantised item table from its codes, never widening the table.

A pq package (docs/FORMAT.md, section 4) holds ``m`` codebooks of ``K`` centroids of width
``w = D / m`` and, per item, ``m`` uint8 codes. Item ``i`` stands for the concatenation of
centroid ``codes[i, j]`` of codebook ``j`` over ``j``, so its score for a user ``u`` (cut into
sub-vectors ``u_j`` of width ``w``) is

    score_i = sum_j u_j . codebooks[j, codes[i, j]] = sum_j LUT[j, codes[i, j]],

with the lookup table ``LUT[j, c] = u_j . codebooks[j, c]`` (``m x K`` float32, one per user)
computed once per call. Scoring is then ``m`` gathers over the code matrix, ``CHUNK_ROWS``
rows at a time: besides the package the scorer holds the float32 codebooks (``4 K D`` bytes,
widened once at load when they are float16), the lookup tables and the float32 scores, never
the ``4 n D`` bytes of a decoded table.
"""

from __future__ import annotations

import numpy as np

CHUNK_ROWS = 16384  # code rows gathered at a time


class PQSegment:
    """Every item of a pq package, as one scoring segment (``rows`` None: all items; ``cols``
    every position), with the interface of ``kernels.ScoreSegment`` that the package uses."""

    rows = None

    def __init__(self, codebooks: np.ndarray, codes: np.ndarray) -> None:
        m, _, width = codebooks.shape
        self.codebooks = np.asarray(codebooks, dtype=np.float32)  # (m, K, w)
        self.codes = codes  # (n, m) uint8, a view of the package
        self.m, self.width = m, width
        self.cols = np.arange(m * width)

    def lookup_tables(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(B, m, K)``: ``LUT[b, j, c] = users[b, j*w:(j+1)*w] . codebooks[j, c]``."""
        u = np.asarray(users, dtype=np.float32).reshape(len(users), self.m, self.width)
        return np.einsum("bjw,jkw->bjk", u, self.codebooks, dtype=np.float32)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """``(B, n)`` float32 scores of every item for ``users`` ``(B, D)``."""
        lut = self.lookup_tables(users)
        n = len(self.codes)
        out = np.zeros((len(users), n), dtype=np.float32)
        for lo in range(0, n, CHUNK_ROWS):
            codes = self.codes[lo:lo + CHUNK_ROWS]
            part = out[:, lo:lo + CHUNK_ROWS]
            for j in range(self.m):
                part += lut[:, j].take(codes[:, j], axis=1)
        return out

    def decoded(self, at: np.ndarray) -> np.ndarray:
        """float32 ``(len(at), D)`` reconstructed vectors of items ``at``: each sub-vector
        the centroid its code names."""
        picked = self.codebooks[np.arange(self.m), self.codes[np.asarray(at)]]  # (len, m, w)
        return picked.reshape(len(picked), self.m * self.width)
