"""Item values in float32, float16 or a symmetric integer type (int8, int4, int2) with float32
scales.

Integer values are ``q = clip(rint(x / s), -Q, Q)`` with ``s = max|x| / Q`` over the scale's
unit (``Q`` = 127 for int8, 7 for int4, 1 for int2), and decode to ``q * s``. The unit is the
item's whole trained row (``row`` scales), one positional block of it (``block`` scales) or
one position over every item (``column`` scales, format version 5: no bytes per item),
always over all trained positions and items, shipped or not: narrowing a row or dropping a
block then never changes the remaining values or scales, which is what makes shrinking on the device
agree byte for byte with building on the server. int4 / int2 values are then packed
(``elasticrec.format.values.pack``).
"""

from __future__ import annotations

import numpy as np

from elasticrec.errors import ElasticrecError
from elasticrec.format.values import QMAX

INT8_MAX = QMAX["int8"]


def row_scales(item: np.ndarray, value_dtype: str = "int8") -> np.ndarray:
    """float32 ``(n_items,)`` scales over each full row."""
    return (np.abs(item).max(axis=1, initial=0.0) / np.float32(QMAX[value_dtype])).astype(
        np.float32)


def block_scales(item: np.ndarray, n_blocks: int, value_dtype: str = "int8") -> np.ndarray:
    """float32 ``(n_items, n_blocks)`` scales over each positional block of each row."""
    n, dim = item.shape
    blocks = np.abs(item).reshape(n, n_blocks, dim // n_blocks)
    return (blocks.max(axis=2, initial=0.0) / np.float32(QMAX[value_dtype])).astype(np.float32)


def column_scales(item: np.ndarray, value_dtype: str = "int8") -> np.ndarray:
    """float32 ``(dim,)`` scales over each position of every item."""
    return (np.abs(item).max(axis=0, initial=0.0) / np.float32(QMAX[value_dtype])).astype(
        np.float32)


def quantize(x: np.ndarray, scales: np.ndarray, value_dtype: str = "int8") -> np.ndarray:
    """``x`` float32 over ``scales`` (broadcastable; a zero scale gives zeros) to ``int8``
    values in ``[-Q, Q]`` of ``value_dtype`` (not yet packed)."""
    x = np.asarray(x, dtype=np.float32)
    s = np.broadcast_to(scales, x.shape)
    q = np.zeros(x.shape, dtype=np.float32)
    np.divide(x, s, out=q, where=s > 0)
    top = QMAX[value_dtype]
    return np.clip(np.rint(q), -top, top).astype(np.int8)


def quantize_int8(x: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return quantize(x, scales, "int8")


def to_float16(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = np.asarray(x, dtype=np.float32).astype(np.float16)
    if not np.isfinite(out).all():
        raise ElasticrecError("item values exceed the float16 range (|x| > 65504); "
                              "use --dtype float32 or int8")
    return out
