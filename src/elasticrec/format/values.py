"""Item value types: their stored bits, and the packing of int4 / int2 codes into bytes.

float32, float16 and int8 values are stored one per element of a tensor of that dtype. int4
and int2 values are *codes*, packed into a flat ``U8`` tensor (docs/FORMAT.md, section 5):
a value ``q`` in ``[-Q, Q]`` (``Q`` = 7 for int4, 1 for int2) is stored as the unsigned code
``c = q + 2**(bits - 1)`` (int4: 1..15; int2: 1..3; code 0 never occurs), and the ``k``-th
value of the layout's value order sits in byte ``k // per_byte`` at bit ``(k % per_byte) *
bits``, lowest bits first (int4: value ``2j`` in the low nibble of byte ``j``, value ``2j+1``
in the high nibble). The unused high bits of a last, partial byte are 0.
"""

from __future__ import annotations

import numpy as np

VALUE_DTYPES = {"float32": "F32", "float16": "F16", "int8": "I8", "int4": "U8", "int2": "U8"}
VALUE_BITS = {"float32": 32, "float16": 16, "int8": 8, "int4": 4, "int2": 2}
QMAX = {"int8": 127, "int4": 7, "int2": 1}  # symmetric integer range [-Q, Q]
QUANTIZED = tuple(QMAX)
PACKED = ("int4", "int2")
V1_VALUE_DTYPES = ("float32", "float16", "int8")


def value_bytes(n_values: int, value_dtype: str) -> int:
    """Bytes of ``n_values`` stored values of ``value_dtype`` (packed types round up)."""
    return -(-n_values * VALUE_BITS[value_dtype] // 8)


def code_offset(value_dtype: str) -> int:
    return 1 << (VALUE_BITS[value_dtype] - 1)


def pack(q: np.ndarray, value_dtype: str) -> np.ndarray:
    """Integer values ``q`` (any shape, in C order) in ``[-Q, Q]`` as packed ``uint8`` bytes."""
    bits = VALUE_BITS[value_dtype]
    per = 8 // bits
    codes = (np.asarray(q, dtype=np.int16).reshape(-1) + code_offset(value_dtype)).astype(
        np.uint8)
    padded = np.zeros(-(-codes.size // per) * per, dtype=np.uint8)
    padded[:codes.size] = codes
    planes = padded.reshape(-1, per)
    out = np.zeros(len(planes), dtype=np.uint8)
    for j in range(per):
        out |= planes[:, j] << np.uint8(j * bits)
    return out


def unpack_codes(data: np.ndarray, start: int, count: int, value_dtype: str) -> np.ndarray:
    """The ``uint8`` codes of values ``[start, start + count)`` of packed ``data``."""
    bits = VALUE_BITS[value_dtype]
    per = 8 // bits
    first, last = start // per, -(-(start + count) // per)
    raw = np.asarray(data[first:last])
    codes = np.empty((len(raw), per), dtype=np.uint8)
    mask = np.uint8((1 << bits) - 1)
    for j in range(per):
        np.bitwise_and(raw >> np.uint8(j * bits), mask, out=codes[:, j])
    skip = start - first * per
    return codes.reshape(-1)[skip:skip + count]


def unpack(data: np.ndarray, start: int, count: int, value_dtype: str) -> np.ndarray:
    """The ``int8`` values ``q`` of values ``[start, start + count)`` of packed ``data``."""
    codes = unpack_codes(data, start, count, value_dtype)
    return (codes.view(np.int8) - np.int8(code_offset(value_dtype))).astype(np.int8)


def first_bad_code(data: np.ndarray, n_values: int, value_dtype: str,
                   chunk: int = 1 << 20) -> str | None:
    """Why packed ``data`` of ``n_values`` values is invalid (a zero code, or set bits after
    the last value), or None; checked in chunks of ``chunk`` bytes."""
    bits = VALUE_BITS[value_dtype]
    per = 8 // bits
    mask = np.uint8((1 << bits) - 1)
    full = n_values // per
    for lo in range(0, full, chunk):
        raw = np.asarray(data[lo:min(full, lo + chunk)])
        for j in range(per):
            if not ((raw >> np.uint8(j * bits)) & mask).all():
                return "holds a zero code (int4 / int2 codes are 1 .. 2**bits - 1)"
    tail = n_values - full * per
    if tail:
        last = int(data[full])
        codes = [(last >> (j * bits)) & int(mask) for j in range(per)]
        if not all(codes[:tail]):
            return "holds a zero code (int4 / int2 codes are 1 .. 2**bits - 1)"
        if any(codes[tail:]):
            return "has bits set after its last value"
    return None
