"""Sparse graph propagation ``A @ X`` as autograd functions, for a symmetric ``A``.

PyTorch's own sparse matmul backward is several times slower on CPU than the forward, so the
backward here uses the symmetry of the normalised adjacency (``A^T = A``): the gradient of
``A @ X`` is ``A @ G``. SciPy's CSR kernel does the work, split into row blocks run on a small
thread pool (the kernel releases the GIL), which keeps both cores of a small machine busy.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch


class Propagator:
    """Multiplies a fixed symmetric CSR matrix with dense float32 matrices."""

    def __init__(self, adjacency: sp.csr_matrix, n_threads: int | None = None) -> None:
        if adjacency.shape[0] != adjacency.shape[1]:
            raise ValueError(f"adjacency must be square, got {adjacency.shape}")
        self.adjacency = sp.csr_matrix(adjacency, dtype=np.float32)
        n_threads = max(1, n_threads or os.cpu_count() or 1)
        bounds = _balanced_row_bounds(self.adjacency.indptr, n_threads)
        self._parts = [self.adjacency[a:b] for a, b in itertools.pairwise(bounds)]
        self._bounds = bounds
        self._pool = ThreadPoolExecutor(len(self._parts)) if len(self._parts) > 1 else None

    @property
    def n_nodes(self) -> int:
        return self.adjacency.shape[0]

    def matmul(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._pool is None:
            return np.asarray(self.adjacency @ x, dtype=np.float32)
        out = np.empty((self.n_nodes, x.shape[1]), dtype=np.float32)

        def work(i: int) -> None:
            out[self._bounds[i] : self._bounds[i + 1]] = self._parts[i] @ x

        list(self._pool.map(work, range(len(self._parts))))
        return out

    def rows(self, nodes: np.ndarray) -> sp.csr_matrix:
        """The rows of the adjacency for ``nodes`` (a small CSR matrix)."""
        return self.adjacency[nodes]


def _balanced_row_bounds(indptr: np.ndarray, parts: int) -> list[int]:
    """Row boundaries that split the non-zeros into ``parts`` nearly equal shares."""
    n = len(indptr) - 1
    targets = np.linspace(0, indptr[-1], parts + 1)[1:-1]
    cuts = np.searchsorted(indptr, targets).tolist()
    return sorted({0, n, *[min(max(c, 0), n) for c in cuts]})


class _Propagate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, prop: Propagator) -> torch.Tensor:  # type: ignore[override]
        ctx.prop = prop
        return torch.from_numpy(prop.matmul(x.detach().numpy()))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return torch.from_numpy(ctx.prop.matmul(grad.contiguous().numpy())), None


class _PropagateRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, rows: sp.csr_matrix) -> torch.Tensor:  # type: ignore[override]
        ctx.rows = rows
        return torch.from_numpy(np.asarray(rows @ x.detach().numpy(), dtype=np.float32))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        g = ctx.rows.T @ grad.contiguous().numpy()
        return torch.from_numpy(np.ascontiguousarray(g, dtype=np.float32)), None


def propagate(x: torch.Tensor, prop: Propagator) -> torch.Tensor:
    """``A @ x`` for the propagator's symmetric ``A``, differentiable in ``x``."""
    return _Propagate.apply(x, prop)


def propagate_rows(x: torch.Tensor, rows: sp.csr_matrix) -> torch.Tensor:
    """``A[nodes] @ x`` for a row subset ``rows = A[nodes]``, differentiable in ``x``."""
    return _PropagateRows.apply(x, rows)
