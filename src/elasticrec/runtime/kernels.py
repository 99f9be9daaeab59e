"""Scoring kernels: every layout as a few dense segments, scored with one matmul each.

A segment is a set of items (``rows``, ascending; ``None`` for all items in order) that ship
the same user positions (``cols``, in the order of the stored value columns), their values
as stored (float32, float16 or int8), their int8 scales and a score factor. The dense layout
is one segment; the blocks layout one per item group (a zero-copy view of the flat values);
the ragged layout one per distinct width (values regrouped by width once, at load).

The score of an item is ``factor * sum_j u[cols[j]] * v[j]`` with ``v`` the decoded values
(float16 widened exactly; int8 times its row or block scale). Items in no segment, or in a
segment of width 0, score 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elasticrec.format.manifest import BlockLayout, DenseLayout, Manifest

CHUNK_ROWS = 16384  # rows decoded to float32 at a time for float16 / int8 values


@dataclass(frozen=True, eq=False)
class ScoreSegment:
    rows: np.ndarray | None
    cols: np.ndarray
    values: np.ndarray  # (n_rows, width) as stored
    row_scale: np.ndarray | None = None  # (n_rows,) int8 row scales
    block_scale: np.ndarray | None = None  # (n_rows, width // block) int8 block scales
    block: int = 0  # block width when block_scale is given
    factor: float = 1.0

    def scores(self, users: np.ndarray) -> np.ndarray:
        """``(B, n_rows)`` float32 scores of this segment's items for ``users`` ``(B, D)``."""
        u = users[:, self.cols]
        n, width = self.values.shape
        if width == 0:
            return np.zeros((len(users), n), dtype=np.float32)
        if self.block_scale is not None:
            out = np.empty((len(users), n), dtype=np.float32)
            k = width // self.block
            u3 = u.reshape(len(users), k, self.block)
            for lo in range(0, n, CHUNK_ROWS):
                v3 = self.values[lo:lo + CHUNK_ROWS].astype(np.float32).reshape(-1, k, self.block)
                per_block = np.einsum("nkb,ukb->unk", v3, u3)
                out[:, lo:lo + CHUNK_ROWS] = (per_block * self.block_scale[lo:lo + CHUNK_ROWS]
                                              ).sum(axis=2)
        elif len(users) == 1:
            # One user: NumPy's own single-threaded SIMD loop, decoding float16 / int8 in
            # buffered chunks (no full copy). BLAS is not used here: on a busy CPU a threaded
            # gemv/gemm waits milliseconds for its worker threads (measured on gowalla's shape:
            # 8 ms instead of 0.2-0.7 ms), and this row is memory-bound anyway.
            out = np.einsum("nk,k->n", self.values, u[0], dtype=np.float32)[None]
        elif self.values.dtype == np.float32:
            out = u @ self.values.T
        else:
            out = np.empty((len(users), n), dtype=np.float32)
            for lo in range(0, n, CHUNK_ROWS):
                out[:, lo:lo + CHUNK_ROWS] = u @ self.values[lo:lo + CHUNK_ROWS].astype(
                    np.float32).T
        if self.row_scale is not None:
            out *= self.row_scale
        if self.factor != 1.0:
            out *= np.float32(self.factor)
        return out

    def decoded(self, at: np.ndarray) -> np.ndarray:
        """float32 ``(len(at), width)`` decoded values of local rows ``at``, factor applied."""
        v = self.values[at].astype(np.float32)
        if self.block_scale is not None:
            v = (v.reshape(len(at), -1, self.block) * self.block_scale[at][:, :, None]).reshape(
                len(at), -1)
        if self.row_scale is not None:
            v *= self.row_scale[at][:, None]
        return v * np.float32(self.factor)


def build_segments(manifest: Manifest, tensors: dict[str, np.ndarray]) -> list[ScoreSegment]:
    layout = manifest.layout
    values = tensors["values"]
    scales = tensors.get("scales")
    row_scale = scales if manifest.scales == "row" else None
    if isinstance(layout, DenseLayout):
        return [ScoreSegment(None, np.arange(layout.width), values, row_scale)]
    if isinstance(layout, BlockLayout):
        return _block_segments(manifest, layout, tensors["item_group"], values, scales)
    return _ragged_segments(tensors["offsets"], values, row_scale)


def item_groups(item_group: np.ndarray, group_sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Each group's item rows, ascending (one stable sort, no pass per group)."""
    order = np.argsort(item_group, kind="stable")
    return np.split(order, np.cumsum(group_sizes)[:-1])


def _block_segments(manifest: Manifest, layout: BlockLayout, item_group: np.ndarray,
                    values: np.ndarray, scales: np.ndarray | None) -> list[ScoreSegment]:
    b = manifest.block_width
    segments, start = [], 0
    for rows, shipped in zip(item_groups(item_group, layout.group_sizes), layout.groups,
                             strict=True):
        k = len(shipped)
        n_vals = len(rows) * k * b
        cols = (np.asarray(shipped, dtype=np.int64)[:, None] * b + np.arange(b)).reshape(-1)
        vals = values[start:start + n_vals].reshape(len(rows), k * b)
        row_scale = block_scale = None
        if manifest.scales == "row":
            row_scale = scales[rows]
        elif manifest.scales == "block":
            block_scale = scales[start // b:(start + n_vals) // b].reshape(len(rows), k)
        factor = layout.n_blocks / k if layout.rescale and k else 1.0
        segments.append(ScoreSegment(rows, cols, vals, row_scale, block_scale, b, factor))
        start += n_vals
    return segments


def _ragged_segments(offsets: np.ndarray, values: np.ndarray,
                     row_scale: np.ndarray | None) -> list[ScoreSegment]:
    offsets = offsets.astype(np.int64)
    widths = np.diff(offsets)
    order = np.argsort(widths, kind="stable")
    distinct, counts = np.unique(widths, return_counts=True)
    segments = []
    for w, rows in zip(distinct, np.split(order, np.cumsum(counts)[:-1]), strict=True):
        if w == 0:
            continue
        vals = values[offsets[rows][:, None] + np.arange(w)]
        scale = row_scale[rows] if row_scale is not None else None
        segments.append(ScoreSegment(rows, np.arange(w), vals, scale))
    return segments
