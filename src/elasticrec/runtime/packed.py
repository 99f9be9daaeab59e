"""int4 / int2 item values kept packed in memory, scored without widening the table.

``PackedRows`` holds ``n`` rows of ``width`` values as codes (``elasticrec.format.values``),
each row starting on a byte: ``data`` is ``(n, row_bytes)`` ``uint8``, a zero-copy view of the
package when its rows are byte-aligned there (dense int4 of even width, blocks of even width),
else a row-aligned copy made once at load (the same size as the packed values, plus at most
one byte per row).

Scoring one user never decodes the table: with ``c`` a code and ``q = c - o`` its value, a
row's score is ``sum_j u_j q_j = sum_p (plane_p . u_p) - o * sum_j u_j``, where plane ``p``
holds the codes at bit offset ``p * bits`` of every byte (int4: the low and high nibbles) and
``u_p`` the user's values at those positions. Each plane is cut from ``CHUNK_ROWS`` rows at a
time, so besides the package the scorer holds at most ``CHUNK_ROWS * row_bytes`` bytes of one
plane and the float32 scores.
"""

from __future__ import annotations

import numpy as np

from elasticrec.format.values import VALUE_BITS, code_offset, pack, unpack_codes

CHUNK_ROWS = 8192


class PackedRows:
    """Row-aligned packed codes of one segment (see the module docstring)."""

    def __init__(self, data: np.ndarray, width: int, value_dtype: str) -> None:
        self.data = data
        self.width = width
        self.value_dtype = value_dtype
        self.bits = VALUE_BITS[value_dtype]
        self.per_byte = 8 // self.bits
        self.offset = code_offset(value_dtype)
        self.shape = (len(data), width)
        self.dtype = np.dtype(np.int8)  # what ``rows`` decodes to

    @classmethod
    def from_flat(cls, flat: np.ndarray, start: int, n_rows: int, width: int,
                  value_dtype: str) -> PackedRows:
        """Rows ``[start + i * width, start + (i + 1) * width)`` of the packed value order of
        ``flat``: a view when every row starts on a byte, else a row-aligned copy."""
        per = 8 // VALUE_BITS[value_dtype]
        if width % per == 0 and start % per == 0:
            first = start // per
            data = flat[first:first + n_rows * width // per].reshape(n_rows, width // per)
            return cls(data, width, value_dtype)
        codes = unpack_codes(flat, start, n_rows * width, value_dtype).reshape(n_rows, width)
        return cls.from_codes(codes, value_dtype)

    @classmethod
    def from_codes(cls, codes: np.ndarray, value_dtype: str) -> PackedRows:
        """Codes ``(n, width)`` packed row by row (rows padded with the code of 0)."""
        n, width = codes.shape
        per = 8 // VALUE_BITS[value_dtype]
        row_bytes = -(-width // per)
        padded = np.full((n, row_bytes * per), code_offset(value_dtype), dtype=np.uint8)
        padded[:, :width] = codes
        q = padded.astype(np.int16) - code_offset(value_dtype)
        return cls(pack(q, value_dtype).reshape(n, row_bytes), width, value_dtype)

    def _plane(self, raw: np.ndarray, p: int) -> np.ndarray:
        shifted = raw >> np.uint8(p * self.bits) if p else raw
        return shifted if p == self.per_byte - 1 else shifted & np.uint8((1 << self.bits) - 1)

    def dot(self, u: np.ndarray) -> np.ndarray:
        """float32 ``(n,)``: ``sum_j u[j] * q[i, j]`` for every row ``i`` (``u``: ``width``)."""
        u = np.asarray(u, dtype=np.float32)
        row_bytes = self.data.shape[1]
        if len(u) < row_bytes * self.per_byte:
            u = np.concatenate([u, np.zeros(row_bytes * self.per_byte - len(u), np.float32)])
        parts = [np.ascontiguousarray(u[p::self.per_byte]) for p in range(self.per_byte)]
        n = len(self.data)
        out = np.empty(n, dtype=np.float32) if n > CHUNK_ROWS else None
        for lo in range(0, n, CHUNK_ROWS):
            raw = self.data[lo:lo + CHUNK_ROWS]
            acc = np.einsum("nk,k->n", self._plane(raw, 0), parts[0], dtype=np.float32)
            for p in range(1, self.per_byte):
                acc += np.einsum("nk,k->n", self._plane(raw, p), parts[p], dtype=np.float32)
            if out is None:
                out = acc
            else:
                out[lo:lo + CHUNK_ROWS] = acc
        if out is None:
            return np.zeros(0, dtype=np.float32)
        out -= np.float32(self.offset * float(u.sum(dtype=np.float64)))
        return out

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """``int8`` values ``(hi - lo, width)`` of rows ``[lo, hi)``."""
        return self.take(np.arange(lo, min(hi, len(self.data))))

    def take(self, at: np.ndarray) -> np.ndarray:
        """``int8`` values ``(len(at), width)`` of rows ``at``."""
        raw = self.data[at]
        codes = np.empty((len(raw), raw.shape[1], self.per_byte), dtype=np.uint8)
        for p in range(self.per_byte):
            codes[:, :, p] = self._plane(raw, p)
        q = codes.reshape(len(raw), -1)[:, :self.width].view(np.int8) - np.int8(self.offset)
        return q.astype(np.int8)

    def __getitem__(self, at) -> np.ndarray:
        if isinstance(at, slice):
            return self.rows(*at.indices(len(self.data))[:2])
        return self.take(np.asarray(at))
