"""Item values in float32, float16 or int8 (symmetric, with float32 scales).

int8 values are ``q = clip(rint(x / s), -127, 127)`` with ``s = max|x| / 127`` over the scale's
unit, and decode to ``q * s``. The unit is the item's whole trained row (``row`` scales) or one
positional block of it (``block`` scales), always over all trained positions, shipped or not:
narrowing a row or dropping a block then never changes the remaining values or scales, which
is what makes shrinking on the device agree byte for byte with building on the server.
"""

from __future__ import annotations

import numpy as np

from elasticrec.errors import ElasticrecError

INT8_MAX = 127


def row_scales(item: np.ndarray) -> np.ndarray:
    """float32 ``(n_items,)`` scales over each full row."""
    return (np.abs(item).max(axis=1, initial=0.0) / np.float32(INT8_MAX)).astype(np.float32)


def block_scales(item: np.ndarray, n_blocks: int) -> np.ndarray:
    """float32 ``(n_items, n_blocks)`` scales over each positional block of each row."""
    n, dim = item.shape
    blocks = np.abs(item).reshape(n, n_blocks, dim // n_blocks)
    return (blocks.max(axis=2, initial=0.0) / np.float32(INT8_MAX)).astype(np.float32)


def quantize_int8(x: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``x`` float32 over ``scales`` (broadcastable; a zero scale gives zeros) to int8."""
    x = np.asarray(x, dtype=np.float32)
    s = np.broadcast_to(scales, x.shape)
    q = np.zeros(x.shape, dtype=np.float32)
    np.divide(x, s, out=q, where=s > 0)
    return np.clip(np.rint(q), -INT8_MAX, INT8_MAX).astype(np.int8)


def to_float16(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = np.asarray(x, dtype=np.float32).astype(np.float16)
    if not np.isfinite(out).all():
        raise ElasticrecError("item values exceed the float16 range (|x| > 65504); "
                              "use --dtype float32 or int8")
    return out
