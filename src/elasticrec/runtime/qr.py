"""Scoring a compositional (quotient-remainder) item table without composing it.

A qr package (docs/FORMAT.md, section 4) holds a quotient table ``Q`` (``ceil(n / m)`` rows)
and a remainder table ``R`` (``m`` rows), both of width ``D``; item ``i = q * m + r`` is
``Q[q] * R[r]`` element-wise. Its score for a user ``u`` is

    score_{q*m+r} = sum_d u_d Q[q, d] R[r, d] = ((Q * u) @ R.T)[q, r],

so the scores of every item are the ``ceil(n / m) x m`` matrix ``(Q * u) @ R.T`` read row by
row (its last row cut to the ``n`` items). That product is taken a few whole quotient rows
at a time, so that the scaled rows ``Q * u`` of all the users scored together are at most
``CHUNK_ROWS`` rows: besides the package the scorer holds the float32 tables (widened once
at load when they are float16), those scaled rows and the float32 scores, never the
``4 n D`` bytes of the composed table.
"""

from __future__ import annotations

import numpy as np

CHUNK_ROWS = 16384  # scaled quotient rows (over every user scored at once) per product


class QRSegment:
    """Every item of a qr package, as one scoring segment (``rows`` None: all items; ``cols``
    every position), with the interface of ``kernels.ScoreSegment`` that the package uses."""

    rows = None

    def __init__(self, quotient: np.ndarray, remainder: np.ndarray, n_items: int) -> None:
        self.quotient = np.asarray(quotient, dtype=np.float32)  # (ceil(n / m), D)
        self.remainder = np.asarray(remainder, dtype=np.float32)  # (m, D)
        self.m, self.n_items = len(self.remainder), n_items
        self.cols = np.arange(self.remainder.shape[1])

    def scores(self, users: np.ndarray) -> np.ndarray:
        """``(B, n)`` float32 scores of every item for ``users`` ``(B, D)``."""
        u = np.asarray(users, dtype=np.float32)
        n, m = self.n_items, self.m
        # quotient rows per product: the scaled rows of every user, at most CHUNK_ROWS of them
        step = max(1, CHUNK_ROWS // (m * max(len(u), 1)))
        out = np.empty((len(u), n), dtype=np.float32)
        for lo in range(0, len(self.quotient), step):
            scaled = u[:, None, :] * self.quotient[lo:lo + step][None]  # (B, c, D)
            part = (scaled @ self.remainder.T).reshape(len(u), -1)  # items lo*m, lo*m + 1...
            out[:, lo * m:lo * m + part.shape[1]] = part[:, :n - lo * m]
        return out

    def decoded(self, at: np.ndarray) -> np.ndarray:
        """float32 ``(len(at), D)`` composed vectors of items ``at``."""
        at = np.asarray(at, dtype=np.int64)
        return self.quotient[at // self.m] * self.remainder[at % self.m]
