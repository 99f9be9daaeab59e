"""Item id maps: how a package names its item rows with the source data's ids (FORMAT.md 3.1).

Kinds: ``range`` (row ``i`` is ``start + i``), ``int32`` / ``int64`` (a tensor of the ids),
``delta`` (strictly increasing integers: the first in the manifest, then each gap minus one
as an unsigned LEB128 varint in a ``U8`` tensor), ``holes`` (increasing integers that fill a
range but for ``n_holes`` missing ones: the range's start in the manifest, the missing ids
delta-coded like ``delta``'s, the first relative to ``start``), ``front`` (front-coded
UTF-8 strings in row order: per label a varint of the bytes it shares with the previous
label, a varint of the remaining bytes' count, those bytes), ``labels`` (a JSON list in the
manifest) and ``catalogue`` (only a fingerprint of the labels: the device's own catalogue
names the rows).

``choose`` picks the smallest exact map; a catalogue reference only when asked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
ID_KINDS = ("range", "int32", "int64", "delta", "holes", "front", "labels", "catalogue")
V1_ID_KINDS = ("range", "int32", "int64", "labels")
TENSOR_KINDS = {"int32": "I32", "int64": "I64", "delta": "U8", "holes": "U8", "front": "U8"}
_TENSOR_ENTRY_BYTES = 64  # about what a tensor's entry adds to the header


@dataclass(frozen=True)
class ItemIds:
    """One id map; which fields matter depends on ``kind`` (see the module docstring)."""

    kind: str
    labels: tuple[str, ...] | None = None
    start: int = 0  # range, holes: the id of row 0
    first: int = 0  # delta: the id of row 0
    n_bytes: int = 0  # delta, holes, front: bytes of the item_ids tensor
    n_holes: int = 0  # holes: ids missing from [start, start + n_items + n_holes)
    fingerprint: str | None = None  # catalogue: catalogue_fingerprint(labels)

    def to_json(self, version: int = 2) -> dict:
        if self.kind == "labels":
            return {"kind": "labels", "labels": list(self.labels or ())}
        if self.kind == "range":
            return {"kind": "range"} if version == 1 else {"kind": "range", "start": self.start}
        if self.kind == "delta":
            return {"kind": "delta", "first": self.first, "n_bytes": self.n_bytes}
        if self.kind == "holes":
            return {"kind": "holes", "start": self.start, "n_holes": self.n_holes,
                    "n_bytes": self.n_bytes}
        if self.kind == "front":
            return {"kind": "front", "n_bytes": self.n_bytes}
        if self.kind == "catalogue":
            return {"kind": "catalogue", "fingerprint": self.fingerprint}
        return {"kind": self.kind}

    def tensor_shape(self, n_items: int) -> tuple[int, ...] | None:
        if self.kind in ("int32", "int64"):
            return (n_items,)
        if self.kind in ("delta", "holes", "front"):
            return (self.n_bytes,)
        return None


def catalogue_fingerprint(labels: Sequence[str]) -> str:
    """SHA-256 (hex) of the labels in row order as compact ASCII JSON: ``["a","b",...]``."""
    text = json.dumps([str(x) for x in labels], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def choose(labels: Sequence[str], *, catalogue: bool = False
           ) -> tuple[ItemIds, np.ndarray | None]:
    """The smallest exact id map of ``labels`` (row order) and its tensor (or None)."""
    labels = [str(x) for x in labels]
    if catalogue:
        return ItemIds("catalogue", fingerprint=catalogue_fingerprint(labels)), None
    if not labels:
        return ItemIds("range"), None
    ints = _canonical_ints(labels)
    candidates: list[tuple[ItemIds, np.ndarray | None]] = []
    if ints is not None:
        if len(set(ints)) != len(ints):
            raise ValueError("item labels repeat; a package needs one label per item")
        arr = np.array(ints, dtype=np.int64)
        gaps = np.diff(arr)
        if (gaps == 1).all():
            return ItemIds("range", start=ints[0]), None
        if arr.min() >= -INT32_MAX - 1 and arr.max() <= INT32_MAX:
            candidates.append((ItemIds("int32"), arr.astype(np.int32)))
        else:
            candidates.append((ItemIds("int64"), arr))
        if (gaps > 0).all():
            data = encode_varints((gaps - 1).astype(np.uint64))
            candidates.append((ItemIds("delta", first=ints[0], n_bytes=len(data)), data))
            missing = int(arr[-1] - arr[0]) + 1 - len(arr)
            if missing <= len(arr):  # else the holes cost more than the ids
                holes = np.setdiff1d(np.arange(arr[0], arr[-1] + 1), arr)
                gaps_h = np.diff(np.concatenate([[arr[0]], holes])) - 1
                data = encode_varints(gaps_h.astype(np.uint64))
                candidates.append((ItemIds("holes", start=ints[0], n_holes=missing,
                                           n_bytes=len(data)), data))
    if len(set(labels)) != len(labels):
        raise ValueError("item labels repeat; a package needs one label per item")
    if ints is None:
        data = front_encode(labels)
        candidates.append((ItemIds("front", n_bytes=len(data)), data))
    candidates.append((ItemIds("labels", tuple(labels)), None))
    return min(candidates, key=lambda c: cost(c[0], len(labels)))


def exact_maps(labels: Sequence[str]) -> dict[str, ItemIds]:
    """Every map kind that names ``labels`` (row order) exactly, by kind, with the sizes their
    tensors would take; ``choose`` picks one of these (or a catalogue reference). Kinds that
    cannot represent the labels are absent (``range`` needs consecutive integers, ``delta``
    increasing ones, ``holes`` a range at most half empty, ``front`` non-integer labels)."""
    labels = [str(x) for x in labels]
    if len(set(labels)) != len(labels):
        raise ValueError("item labels repeat; a package needs one label per item")
    out = {"labels": ItemIds("labels", tuple(labels)),
           "catalogue": ItemIds("catalogue", fingerprint=catalogue_fingerprint(labels))}
    ints = _canonical_ints(labels) if labels else None
    if ints is None:
        out["front"] = ItemIds("front", n_bytes=len(front_encode(labels)))
        return out
    arr = np.array(ints, dtype=np.int64)
    gaps = np.diff(arr)
    if (gaps == 1).all():
        out["range"] = ItemIds("range", start=ints[0])
    out["int64"] = ItemIds("int64")
    if arr.min() >= -INT32_MAX - 1 and arr.max() <= INT32_MAX:
        out["int32"] = ItemIds("int32")
    if (gaps > 0).all():
        out["delta"] = ItemIds("delta", first=ints[0],
                               n_bytes=len(encode_varints((gaps - 1).astype(np.uint64))))
        missing = int(arr[-1] - arr[0]) + 1 - len(arr)
        if 0 < missing <= len(arr):
            holes = np.setdiff1d(np.arange(arr[0], arr[-1] + 1), arr)
            gaps_h = np.diff(np.concatenate([[arr[0]], holes])) - 1
            out["holes"] = ItemIds("holes", start=ints[0], n_holes=missing,
                                   n_bytes=len(encode_varints(gaps_h.astype(np.uint64))))
    return out


def cost(ids: ItemIds, n_items: int) -> int:
    """About what the map adds to a package: its manifest entry and its tensor."""
    entry = len(json.dumps(json.dumps(ids.to_json(), ensure_ascii=True, separators=(",", ":"))))
    shape = ids.tensor_shape(n_items)
    if shape is None:
        return entry
    itemsize = {"I32": 4, "I64": 8, "U8": 1}[TENSOR_KINDS[ids.kind]]
    return entry + _TENSOR_ENTRY_BYTES + int(np.prod(shape)) * itemsize


def decode(ids: ItemIds, n_items: int, tensor: np.ndarray | None) -> tuple[str, ...]:
    """The labels of every row (a ``ValueError`` on a malformed tensor)."""
    if ids.kind == "labels":
        return ids.labels or ()
    if ids.kind == "range":
        return tuple(str(ids.start + i) for i in range(n_items))
    if ids.kind in ("int32", "int64"):
        return tuple(str(x) for x in np.asarray(tensor).tolist())
    if ids.kind == "delta":
        return tuple(str(x) for x in delta_decode(ids.first, tensor, n_items))
    if ids.kind == "holes":
        return tuple(str(x) for x in holes_decode(ids.start, ids.n_holes, tensor, n_items))
    if ids.kind == "front":
        return front_decode(tensor, n_items)
    raise ValueError(f"item ids of kind {ids.kind!r} name a catalogue; give the device's "
                     "catalogue to read them")


def _canonical_ints(labels: list[str]) -> list[int] | None:
    try:
        ints = [int(x) for x in labels]
    except ValueError:
        return None
    if any(str(v) != x for v, x in zip(ints, labels, strict=True)):
        return None
    if min(ints) < -INT64_MAX - 1 or max(ints) > INT64_MAX:
        return None
    return ints


def encode_varints(values: np.ndarray) -> np.ndarray:
    """Unsigned LEB128: 7 bits per byte, lowest first, high bit set on all but the last."""
    v = np.asarray(values, dtype=np.uint64)
    if not v.size:
        return np.zeros(0, dtype=np.uint8)
    n_bytes = np.ones(len(v), dtype=np.int64)
    for j in range(1, 10):
        n_bytes += v >= (np.uint64(1) << np.uint64(7 * j))
    width = int(n_bytes.max())
    shifts = (np.arange(width, dtype=np.uint64) * np.uint64(7))[None, :]
    groups = ((v[:, None] >> shifts) & np.uint64(127)).astype(np.uint8)
    more = np.arange(width)[None, :] < (n_bytes[:, None] - 1)
    groups |= (more * 128).astype(np.uint8)
    return groups[np.arange(width)[None, :] < n_bytes[:, None]]


def decode_varints(data: np.ndarray, count: int) -> np.ndarray:
    """``count`` LEB128 values from ``data`` (exactly; a ``ValueError`` otherwise)."""
    data = np.asarray(data, dtype=np.uint8)
    ends = np.flatnonzero(data < 128)
    if len(ends) != count or (count and ends[-1] != len(data) - 1) or (not count and data.size):
        raise ValueError(f"{len(data)} bytes do not hold exactly {count} varints")
    if not count:
        return np.zeros(0, dtype=np.uint64)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 10 or (lengths.max() == 10 and (data[ends[lengths == 10]] > 1).any()):
        raise ValueError("a varint exceeds 64 bits")
    position = np.arange(len(data)) - np.repeat(starts, lengths)
    parts = (data & 127).astype(np.uint64) << (position.astype(np.uint64) * np.uint64(7))
    return np.bitwise_or.reduceat(parts, starts)


def delta_decode(first: int, data: np.ndarray, n_items: int) -> list[int]:
    if not n_items:
        return []
    gaps = decode_varints(data, n_items - 1).astype(object) + 1
    ids = [first, *(first + np.cumsum(gaps)).tolist()]
    if ids[-1] > INT64_MAX:
        raise ValueError("delta-coded ids exceed int64")
    return ids


def holes_decode(start: int, n_holes: int, data: np.ndarray, n_items: int) -> list[int]:
    span = n_items + n_holes
    if start + span - 1 > INT64_MAX:
        raise ValueError("ids with holes exceed int64")
    holes = start + np.cumsum(decode_varints(data, n_holes).astype(np.int64) + 1)
    if n_holes and holes[-1] >= start + span - 1:
        raise ValueError("a hole lies at or past the range's last id")
    return [start + int(x) for x in np.setdiff1d(np.arange(span), holes - start)]


def front_encode(labels: Sequence[str]) -> np.ndarray:
    out = bytearray()
    prev = b""
    for label in labels:
        cur = label.encode("utf-8")
        shared = 0
        limit = min(len(prev), len(cur))
        while shared < limit and prev[shared] == cur[shared]:
            shared += 1
        out += _varint(shared) + _varint(len(cur) - shared) + cur[shared:]
        prev = cur
    return np.frombuffer(bytes(out), dtype=np.uint8).copy()


def front_decode(data: np.ndarray, n_items: int) -> tuple[str, ...]:
    buf = bytes(np.asarray(data, dtype=np.uint8))
    pos, prev, out = 0, b"", []
    for _ in range(n_items):
        shared, pos = _read_varint(buf, pos)
        rest, pos = _read_varint(buf, pos)
        if shared > len(prev) or pos + rest > len(buf):
            raise ValueError("front-coded ids run past their bytes")
        cur = prev[:shared] + buf[pos:pos + rest]
        pos += rest
        out.append(cur.decode("utf-8"))
        prev = cur
    if pos != len(buf):
        raise ValueError(f"{len(buf) - pos} bytes follow the last front-coded id")
    return tuple(out)


def _varint(x: int) -> bytes:
    out = bytearray()
    while True:
        byte, x = x & 127, x >> 7
        out.append(byte | (128 if x else 0))
        if not x:
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("a front-coded id's varint runs past its bytes")
        byte = buf[pos]
        pos += 1
        value |= (byte & 127) << shift
        shift += 7
        if byte < 128:
            return value, pos
