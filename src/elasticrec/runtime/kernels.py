"""Scoring kernels: every layout as a few dense segments, scored with one matmul each.

A segment is a set of items (``rows``, ascending; ``None`` for all items in order) that ship
the same user positions (``cols``, in the order of the stored value columns), their values
as stored (float32, float16 or int8 arrays; int4 / int2 as ``PackedRows``, which stay packed),
their scales and a score factor. The dense layout
is one segment; the blocks layout one per item group (a zero-copy view of the flat values);
the ragged layout one per distinct width (values regrouped by width once, at load); the pq
layout one ``PQSegment`` (``runtime/pq.py``: scored from its codes through lookup tables);
the qr layout one ``QRSegment`` (``runtime/qr.py``: scored from its two tables).

The score of an item is ``factor * sum_j u[cols[j]] * v[j]`` with ``v`` the decoded values
(float16 widened exactly; integers times their row, block or column scale: a column scale
multiplies the user's position instead, once per segment). Items in no segment, or in a
segment of width 0, score 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from elasticrec.format.manifest import BlockLayout, DenseLayout, Manifest, PQLayout, QRLayout
from elasticrec.format.values import PACKED, VALUE_BITS, code_offset
from elasticrec.runtime.packed import PackedRows
from elasticrec.runtime.pq import PQSegment
from elasticrec.runtime.qr import QRSegment

CHUNK_ROWS = 16384  # rows decoded to float32 at a time for float16 / integer values
PACK_BUCKET = 8  # ragged int4 / int2 rows are scored in buckets of this many widths


@dataclass(frozen=True, eq=False)
class ScoreSegment:
    rows: np.ndarray | None
    cols: np.ndarray
    values: np.ndarray | PackedRows  # (n_rows, width) as stored, or packed int4 / int2
    row_scale: np.ndarray | None = None  # (n_rows,) row scales
    block_scale: np.ndarray | None = None  # (n_rows, width // block) block scales
    block: int = 0  # block width when block_scale is given
    factor: float = 1.0
    col_scale: np.ndarray | None = None  # (width,) one scale per stored column

    def scores(self, users: np.ndarray) -> np.ndarray:
        """``(B, n_rows)`` float32 scores of this segment's items for ``users`` ``(B, D)``."""
        u = users[:, self.cols]
        if self.col_scale is not None:  # sum_j u_j (q_ij s_j) = sum_j (u_j s_j) q_ij
            u = (u * self.col_scale).astype(np.float32)
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
        elif len(users) == 1 and isinstance(self.values, PackedRows):
            out = self.values.dot(u[0])[None]
        elif len(users) == 1 and self.values.dtype == np.float16:
            # einsum's own float16 cast is slow (about 10x int8's); widen a chunk at a time.
            out = np.empty((1, n), dtype=np.float32)
            for lo in range(0, n, CHUNK_ROWS):
                out[0, lo:lo + CHUNK_ROWS] = np.einsum(
                    "nk,k->n", self.values[lo:lo + CHUNK_ROWS].astype(np.float32), u[0])
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
        if self.col_scale is not None:
            v *= self.col_scale
        if self.block_scale is not None:
            v = (v.reshape(len(at), -1, self.block) * self.block_scale[at][:, :, None]).reshape(
                len(at), -1)
        if self.row_scale is not None:
            v *= self.row_scale[at][:, None]
        return v * np.float32(self.factor)


def build_segments(manifest: Manifest, tensors: dict[str, np.ndarray]
                   ) -> list[ScoreSegment | PQSegment | QRSegment]:
    layout = manifest.layout
    if isinstance(layout, PQLayout):
        return [PQSegment(tensors["codebooks"], tensors["codes"])]
    if isinstance(layout, QRLayout):
        return [QRSegment(tensors["quotient"], tensors["remainder"], manifest.n_items)]
    values = tensors["values"]
    scales = tensors.get("scales")
    row_scale = scales if manifest.scales == "row" else None
    packed = manifest.value_dtype if manifest.value_dtype in PACKED else None
    if isinstance(layout, DenseLayout):
        if packed:
            values = PackedRows.from_flat(values, 0, manifest.n_items, layout.width, packed)
        segments = [ScoreSegment(None, np.arange(layout.width), values, row_scale)]
    elif isinstance(layout, BlockLayout):
        segments = _block_segments(manifest, layout, tensors["item_group"], values, scales,
                                   packed)
    else:
        segments = _ragged_segments(tensors["offsets"], values, row_scale, packed)
    if manifest.scales == "column":
        segments = [replace(s, col_scale=scales[s.cols]) for s in segments]
    return segments


def item_groups(item_group: np.ndarray, group_sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Each group's item rows, ascending (one stable sort, no pass per group)."""
    order = np.argsort(item_group, kind="stable")
    return np.split(order, np.cumsum(group_sizes)[:-1])


def _block_segments(manifest: Manifest, layout: BlockLayout, item_group: np.ndarray,
                    values: np.ndarray, scales: np.ndarray | None,
                    packed: str | None) -> list[ScoreSegment]:
    b = manifest.block_width
    segments, start = [], 0
    for rows, shipped in zip(item_groups(item_group, layout.group_sizes), layout.groups,
                             strict=True):
        k = len(shipped)
        n_vals = len(rows) * k * b
        cols = (np.asarray(shipped, dtype=np.int64)[:, None] * b + np.arange(b)).reshape(-1)
        if packed:
            vals = PackedRows.from_flat(values, start, len(rows), k * b, packed)
        else:
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


def _ragged_segments(offsets: np.ndarray, values: np.ndarray, row_scale: np.ndarray | None,
                     packed: str | None) -> list[ScoreSegment]:
    """One segment per distinct width; packed values per bucket of widths (``PACK_BUCKET``
    positions, rows padded with zero values): fewer, larger segments to score."""
    offsets = offsets.astype(np.int64)
    widths = np.diff(offsets)
    keys = -(-widths // PACK_BUCKET) if packed else widths
    order = np.argsort(keys, kind="stable")
    distinct, counts = np.unique(keys, return_counts=True)
    segments = []
    for key, rows in zip(distinct, np.split(order, np.cumsum(counts)[:-1]), strict=True):
        if key == 0:
            continue
        scale = row_scale[rows] if row_scale is not None else None
        if packed:
            w = int(widths[rows].max())
            pad = np.arange(w)[None, :] >= widths[rows][:, None]
            at = np.minimum(offsets[rows][:, None] + np.arange(w), offsets[-1] - 1)
            codes = _codes_at(values, at, packed)
            codes[pad] = code_offset(packed)  # zero values past each row's own width
            segments.append(ScoreSegment(rows, np.arange(w),
                                         PackedRows.from_codes(codes, packed), scale))
        else:
            at = offsets[rows][:, None] + np.arange(int(key))
            segments.append(ScoreSegment(rows, np.arange(int(key)), values[at], scale))
    return segments


def _codes_at(data: np.ndarray, at: np.ndarray, value_dtype: str) -> np.ndarray:
    """The codes of packed values at logical indices ``at`` (any shape)."""
    bits = VALUE_BITS[value_dtype]
    per = 8 // bits
    shift = ((at % per) * bits).astype(np.uint8)
    return (data[at // per] >> shift) & np.uint8((1 << bits) - 1)
