"""The package manifest: a frozen, validated description from which every tensor's spec follows.

The manifest is stored as compact ASCII JSON in the safetensors metadata (docs/FORMAT.md).
Everything needed to know each tensor's name, dtype and shape is in it, so the exact package
size is a function of the manifest alone (``elasticrec.format.sizes``), and a loader can say
precisely which tensor is missing, extra or of the wrong dtype or shape.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from elasticrec.checks import check
from elasticrec.format.container import ZERO_DIGEST, TensorSpec
from elasticrec.format.errors import PackageError
from elasticrec.format.ids import ID_KINDS, INT32_MAX, TENSOR_KINDS, V1_ID_KINDS, ItemIds
from elasticrec.format.values import (
    PACKED,
    QUANTIZED,
    V1_VALUE_DTYPES,
    VALUE_BITS,
    VALUE_DTYPES,
    value_bytes,
)

FORMAT_NAME = "elasticrec-package"
FORMAT_VERSION = 2  # what the writer writes for the dense, blocks and ragged layouts
PQ_VERSION = 3  # what it writes for the pq layout, which version 3 adds (and nothing else)
QR_VERSION = 4  # what it writes for the qr layout, which version 4 adds (and nothing else)
# what it writes for integer values with one scale per position (``column`` scales), which
# version 5 adds (and nothing else), in the dense, blocks and ragged layouts
COLUMN_VERSION = 5
READ_VERSIONS = (1, 2, 3, 4, 5)
ITEM_ID_KINDS = ID_KINDS
PQ_MAX_CENTROIDS = 256  # codes are one uint8 per sub-vector
PQ_VALUE_DTYPES = ("float32", "float16")  # the codebooks' values
QR_VALUE_DTYPES = ("float32", "float16")  # the quotient and remainder tables' values
_KEYS_V1 = ("sha256", "format", "version", "method", "dataset", "dataset_fingerprint", "model",
            "dim", "n_items", "value_dtype", "scales", "layout", "users", "items")
_KEYS = {1: _KEYS_V1, 2: (*_KEYS_V1, "seen"), 3: (*_KEYS_V1, "seen"),
         4: (*_KEYS_V1, "seen"), 5: (*_KEYS_V1, "seen")}

__all__ = ["COLUMN_VERSION", "FORMAT_VERSION", "INT32_MAX", "PQ_VERSION", "QR_VERSION",
           "VALUE_BITS", "VALUE_DTYPES", "BlockLayout", "DenseLayout", "ItemIds", "Manifest",
           "PQLayout", "QRLayout", "RaggedLayout", "manifest_from_json", "value_itemsize"]


def value_itemsize(value_dtype: str) -> int:
    """Bytes of one stored value of an unpacked ``value_dtype`` (float32, float16, int8)."""
    check(value_dtype not in PACKED, "value_dtype", value_dtype,
          "an unpacked type (int4 / int2 pack several values per byte: use value_bytes)")
    return VALUE_BITS[value_dtype] // 8


@dataclass(frozen=True)
class DenseLayout:
    """Every item ships positions ``[0, width)``: tensor ``values`` [n_items, width]."""

    width: int

    def to_json(self) -> dict:
        return {"kind": "dense", "width": self.width}


@dataclass(frozen=True)
class BlockLayout:
    """Items in groups; group g ships its blocks of ``order`` (pairs (g, b), best first)."""

    n_blocks: int
    group_sizes: tuple[int, ...]
    order: tuple[tuple[int, int], ...]
    rescale: bool = False

    @property
    def n_groups(self) -> int:
        return len(self.group_sizes)

    @cached_property
    def groups(self) -> tuple[tuple[int, ...], ...]:
        out: list[list[int]] = [[] for _ in self.group_sizes]
        for g, b in self.order:
            out[g].append(b)
        return tuple(tuple(x) for x in out)

    def n_shipped_blocks(self) -> int:
        """Item-blocks shipped: the sum over groups of group size times shipped blocks."""
        return sum(n * len(s) for n, s in zip(self.group_sizes, self.groups, strict=True))

    def to_json(self) -> dict:
        return {"kind": "blocks", "n_blocks": self.n_blocks, "rescale": self.rescale,
                "group_sizes": list(self.group_sizes), "order": [list(p) for p in self.order]}


@dataclass(frozen=True)
class RaggedLayout:
    """Item i ships positions ``[0, w_i)``: flat ``values`` [n_values] plus ``offsets``."""

    n_values: int

    def to_json(self) -> dict:
        return {"kind": "ragged", "n_values": self.n_values}


@dataclass(frozen=True)
class PQLayout:
    """Product quantisation: the width ``D`` cut into ``m`` sub-vectors of width ``D / m``;
    each item is ``m`` uint8 codes (tensor ``codes`` [n_items, m]), code ``c`` of sub-vector
    ``j`` standing for row ``c`` of codebook ``j`` (tensor ``codebooks`` [m, centroids,
    D / m]). Format version 3."""

    m: int
    centroids: int = PQ_MAX_CENTROIDS

    def to_json(self) -> dict:
        return {"kind": "pq", "m": self.m, "centroids": self.centroids}


@dataclass(frozen=True)
class QRLayout:
    """A compositional (quotient-remainder) item table: item ``i`` is the element-wise
    product of row ``i // m`` of tensor ``quotient`` [ceil(n_items / m), D] and row ``i % m``
    of tensor ``remainder`` [m, D]. Format version 4."""

    m: int

    def to_json(self) -> dict:
        return {"kind": "qr", "m": self.m}


Layout = DenseLayout | BlockLayout | RaggedLayout | PQLayout | QRLayout
# the layouts a format version adds, and that version: a manifest of one of them has it
LAYOUT_VERSIONS = {PQLayout: PQ_VERSION, QRLayout: QR_VERSION}


@dataclass(frozen=True)
class Manifest:
    method: str
    dataset: str
    dataset_fingerprint: str
    model: str
    dim: int
    n_items: int
    value_dtype: str
    scales: str
    layout: Layout
    users: tuple[str, ...]
    items: ItemIds
    version: int = field(default=FORMAT_VERSION)
    seen: int = 0  # version 2: the user's seen items shipped (tensor ``seen``), 0: none

    def __post_init__(self) -> None:
        for name in ("method", "dataset", "dataset_fingerprint", "model"):
            check(isinstance(getattr(self, name), str), name, getattr(self, name), "a string")
        check(self.version in READ_VERSIONS, "version", self.version, str(READ_VERSIONS))
        is_pq = isinstance(self.layout, PQLayout)
        own = LAYOUT_VERSIONS.get(type(self.layout))
        if own is not None:
            kind = self.layout.to_json()["kind"]
            check(self.version == own, "version", self.version,
                  f"{own} for the {kind} layout (which format version {own} adds)")
        elif self.scales == "column":
            check(self.version == COLUMN_VERSION, "version", self.version,
                  f"{COLUMN_VERSION} for column scales (which format version "
                  f"{COLUMN_VERSION} adds)")
        else:
            check(self.version not in (*LAYOUT_VERSIONS.values(), COLUMN_VERSION), "version",
                  self.version,
                  f"1 or {FORMAT_VERSION} for a dense, blocks or ragged layout (versions "
                  f"{PQ_VERSION} and {QR_VERSION} are for the pq and qr layouts only, "
                  f"{COLUMN_VERSION} for column scales)")
        check(_int(self.dim) and self.dim >= 1, "dim", self.dim, "an int >= 1")
        check(_int(self.n_items) and self.n_items >= 0, "n_items", self.n_items, "an int >= 0")
        check(self.value_dtype in VALUE_DTYPES, "value_dtype", self.value_dtype,
              str(sorted(VALUE_DTYPES)))
        if self.version == 1:
            check(self.value_dtype in V1_VALUE_DTYPES, "value_dtype", self.value_dtype,
                  f"one of {V1_VALUE_DTYPES} in format version 1")
            check(self.items.kind in V1_ID_KINDS and self.items.start == 0, "items.kind",
                  self.items.kind, f"one of {V1_ID_KINDS} (range from 0) in format version 1")
            check(self.seen == 0, "seen", self.seen, "0 in format version 1")
        if is_pq:
            check(self.value_dtype in PQ_VALUE_DTYPES, "value_dtype", self.value_dtype,
                  f"one of {PQ_VALUE_DTYPES} (the codebooks' values) for the pq layout")
        if isinstance(self.layout, QRLayout):
            check(self.value_dtype in QR_VALUE_DTYPES, "value_dtype", self.value_dtype,
                  f"one of {QR_VALUE_DTYPES} (the two tables' values) for the qr layout")
        allowed = (("row", "block", "column") if isinstance(self.layout, BlockLayout)
                   else ("row", "column"))
        if self.value_dtype in QUANTIZED:
            check(self.scales in allowed, "scales", self.scales,
                  f"one of {allowed} for {self.value_dtype}")
        else:
            check(self.scales == "none", "scales", self.scales, "'none' for float values")
        check(_int(self.seen) and 0 <= self.seen <= self.n_items, "seen", self.seen,
              f"an int in [0, n_items={self.n_items}]")
        check(self.seen == 0 or len(self.users) == 1, "seen", self.seen,
              "0 unless the package holds exactly one user")
        self._check_layout()
        check(isinstance(self.users, tuple) and all(isinstance(u, str) for u in self.users),
              "users", type(self.users).__name__, "a tuple of strings")
        check(len(set(self.users)) == len(self.users), "users", "(repeated labels)",
              "distinct labels")
        self._check_items()

    def _check_items(self) -> None:
        ids = self.items
        check(ids.kind in ID_KINDS, "items.kind", ids.kind, str(ID_KINDS))
        labels = ids.labels
        if ids.kind == "labels":
            check(isinstance(labels, tuple) and len(labels) == self.n_items
                  and all(isinstance(x, str) for x in labels), "items.labels",
                  f"{len(labels or ())} entries", f"{self.n_items} strings")
            check(len(set(labels or ())) == len(labels or ()), "items.labels",
                  "(repeated labels)", "distinct labels")
        else:
            check(labels is None, "items.labels", "(a list)", f"none for kind {ids.kind}")
        check(_int(ids.start) and _int(ids.first), "items.start / first", (ids.start, ids.first),
              "ints")
        check(ids.kind in ("range", "holes") or ids.start == 0, "items.start", ids.start,
              "0 unless range or holes")
        check(_int(ids.n_holes) and 0 <= ids.n_holes <= self.n_items
              and (ids.kind == "holes" or ids.n_holes == 0), "items.n_holes", ids.n_holes,
              f"an int in [0, n_items={self.n_items}] (holes), else 0")
        check(-2**63 <= ids.start and ids.start + self.n_items - 1 < 2**63, "items.start",
              ids.start, "ids within int64")
        check(ids.kind == "delta" or ids.first == 0, "items.first", ids.first, "0 unless delta")
        check(-2**63 <= ids.first < 2**63, "items.first", ids.first, "an int64")
        check(_int(ids.n_bytes) and ids.n_bytes >= 0
              and (ids.kind in ("delta", "holes", "front") or ids.n_bytes == 0),
              "items.n_bytes", ids.n_bytes, "an int >= 0 (delta / holes / front), else 0")
        if ids.kind == "catalogue":
            check(isinstance(ids.fingerprint, str)
                  and re.fullmatch("[0-9a-f]{64}", ids.fingerprint) is not None,
                  "items.fingerprint", ids.fingerprint, "64 lowercase hex digits")
        else:
            check(ids.fingerprint is None, "items.fingerprint", ids.fingerprint,
                  "none unless catalogue")

    def _check_layout(self) -> None:
        lay = self.layout
        if isinstance(lay, DenseLayout):
            check(_int(lay.width) and 0 <= lay.width <= self.dim, "layout.width", lay.width,
                  f"an int in [0, dim={self.dim}]")
        elif isinstance(lay, RaggedLayout):
            most = self.n_items * self.dim
            check(_int(lay.n_values) and 0 <= lay.n_values <= most, "layout.n_values",
                  lay.n_values, f"an int in [0, n_items * dim = {most}]")
        elif isinstance(lay, BlockLayout):
            check(_int(lay.n_blocks) and lay.n_blocks >= 1 and self.dim % lay.n_blocks == 0,
                  "layout.n_blocks", lay.n_blocks, f"an int >= 1 dividing dim={self.dim}")
            check(1 <= lay.n_groups <= 65536 and all(_int(n) and n >= 0 for n in lay.group_sizes)
                  and sum(lay.group_sizes) == self.n_items, "layout.group_sizes",
                  f"{lay.n_groups} groups, {sum(lay.group_sizes)} items",
                  f"1 to 65536 counts >= 0 summing to n_items={self.n_items}")
            n_groups, n_blocks = lay.n_groups, lay.n_blocks
            bad = _bad_pair(lay.order, n_groups, n_blocks)
            check(bad is None, "layout.order pair", list(bad or ()),
                  f"[group < {n_groups}, block < {n_blocks}]")
            check(len(set(lay.order)) == len(lay.order), "layout.order", "(repeated pairs)",
                  "distinct (group, block) pairs")
            check(isinstance(lay.rescale, bool), "layout.rescale", lay.rescale, "a bool")
        elif isinstance(lay, PQLayout):
            check(_int(lay.m) and lay.m >= 1 and self.dim % lay.m == 0, "layout.m", lay.m,
                  f"an int >= 1 dividing dim={self.dim}")
            check(_int(lay.centroids) and 1 <= lay.centroids <= PQ_MAX_CENTROIDS,
                  "layout.centroids", lay.centroids,
                  f"an int in [1, {PQ_MAX_CENTROIDS}] (codes are uint8)")
        elif isinstance(lay, QRLayout):
            most = max(self.n_items, 1)
            check(_int(lay.m) and 1 <= lay.m <= most, "layout.m", lay.m,
                  f"an int in [1, max(n_items, 1) = {most}]")
        else:
            raise ValueError(f"layout={lay!r} is not allowed: a dense, blocks, ragged, pq or "
                             "qr layout")

    @property
    def block_width(self) -> int:
        assert isinstance(self.layout, BlockLayout)
        return self.dim // self.layout.n_blocks

    @property
    def sub_width(self) -> int:
        """The width ``D / m`` of one pq sub-vector (pq layout only)."""
        assert isinstance(self.layout, PQLayout)
        return self.dim // self.layout.m

    @property
    def quotient_rows(self) -> int:
        """Rows ``ceil(n_items / m)`` of the qr layout's quotient table (qr layout only)."""
        assert isinstance(self.layout, QRLayout)
        return -(-self.n_items // self.layout.m)

    @cached_property
    def _tail_json(self) -> str:
        """The manifest JSON after the digest field (cached: labels can be long)."""
        body = {"format": FORMAT_NAME, "version": self.version, "method": self.method,
                "dataset": self.dataset, "dataset_fingerprint": self.dataset_fingerprint,
                "model": self.model, "dim": self.dim, "n_items": self.n_items,
                "value_dtype": self.value_dtype, "scales": self.scales,
                "layout": self.layout.to_json(), "users": list(self.users),
                "items": self.items.to_json(self.version)}
        if self.version >= 2:
            body["seen"] = self.seen
        return json.dumps(body, ensure_ascii=True, separators=(",", ":"))[1:]

    def to_json(self, digest: str = ZERO_DIGEST) -> str:
        return '{"sha256":"' + digest + '",' + self._tail_json

    def tensor_specs(self) -> tuple[TensorSpec, ...]:
        """Every tensor this manifest requires, with its dtype and shape."""
        n, lay = self.n_items, self.layout
        specs = [TensorSpec("user", "F32", (len(self.users), self.dim))]
        id_shape = self.items.tensor_shape(n)
        if id_shape is not None:
            specs.append(TensorSpec("item_ids", TENSOR_KINDS[self.items.kind], id_shape))
        if self.seen:
            specs.append(TensorSpec("seen", "U16" if n <= 65536 else "I32", (self.seen,)))
        if isinstance(lay, DenseLayout):
            specs.append(self._values_spec((n, lay.width)))
        elif isinstance(lay, BlockLayout):
            shipped = lay.n_shipped_blocks()
            specs.append(self._values_spec((shipped * self.block_width,)))
            specs.append(TensorSpec("item_group", "U8" if lay.n_groups <= 256 else "U16", (n,)))
            if self.scales == "block":
                specs.append(TensorSpec("scales", "F32", (shipped,)))
        elif isinstance(lay, PQLayout):
            specs.append(TensorSpec("codebooks", VALUE_DTYPES[self.value_dtype],
                                    (lay.m, lay.centroids, self.sub_width)))
            specs.append(TensorSpec("codes", "U8", (n, lay.m)))
        elif isinstance(lay, QRLayout):
            dtype = VALUE_DTYPES[self.value_dtype]
            specs.append(TensorSpec("quotient", dtype, (self.quotient_rows, self.dim)))
            specs.append(TensorSpec("remainder", dtype, (lay.m, self.dim)))
        else:
            specs.append(self._values_spec((lay.n_values,)))
            specs.append(TensorSpec("offsets", "I32" if lay.n_values <= INT32_MAX else "I64",
                                    (n + 1,)))
        if self.scales == "row":
            specs.append(TensorSpec("scales", "F32", (n,)))
        elif self.scales == "column":
            specs.append(TensorSpec("scales", "F32", (self.dim,)))
        return tuple(specs)

    def n_values(self) -> int:
        """Values shipped, in the layout's value order (before any packing); pq: the codes;
        qr: the quotient's values, then the remainder's."""
        lay = self.layout
        if isinstance(lay, DenseLayout):
            return self.n_items * lay.width
        if isinstance(lay, BlockLayout):
            return lay.n_shipped_blocks() * self.block_width
        if isinstance(lay, PQLayout):
            return self.n_items * lay.m
        if isinstance(lay, QRLayout):
            return (self.quotient_rows + lay.m) * self.dim
        return lay.n_values

    def _values_spec(self, shape: tuple[int, ...]) -> TensorSpec:
        """``values``: the layout's shape, or for int4 / int2 the packed bytes, flat."""
        if self.value_dtype in PACKED:
            return TensorSpec("values", "U8", (value_bytes(math.prod(shape), self.value_dtype),))
        return TensorSpec("values", VALUE_DTYPES[self.value_dtype], shape)


def manifest_from_json(text: str) -> tuple[Manifest, str]:
    """The manifest and its digest from the stored JSON; ``PackageError`` on any problem."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackageError(f"manifest is not valid JSON ({exc})") from None
    except RecursionError:
        raise PackageError("manifest is nested too deeply") from None
    if not isinstance(raw, dict):
        raise PackageError("manifest is not a JSON object")
    if raw.get("format") != FORMAT_NAME:
        raise PackageError(f"manifest format is {raw.get('format')!r}, expected {FORMAT_NAME!r}")
    version = raw.get("version")
    if _int(version) and version > max(READ_VERSIONS):
        raise PackageError(f"package format version {version} is newer than this elasticrec "
                           f"reads (versions {READ_VERSIONS}); update elasticrec")
    if not _int(version) or version not in READ_VERSIONS:
        raise PackageError(f"manifest version {version!r} is not allowed: one of "
                           f"{READ_VERSIONS}")
    digest = raw.get("sha256")
    if not isinstance(digest, str) or re.fullmatch("[0-9a-f]{64}", digest) is None:
        raise PackageError("manifest sha256 is not 64 lowercase hex digits")
    keys = _KEYS[version]
    if tuple(raw) != keys:
        missing = [k for k in keys if k not in raw]
        extra = [k for k in raw if k not in keys]
        raise PackageError(f"manifest keys differ from version {version}: missing "
                           f"{missing}, unexpected {extra}, or out of order")
    try:
        manifest = Manifest(
            method=raw["method"], dataset=raw["dataset"],
            dataset_fingerprint=raw["dataset_fingerprint"], model=raw["model"], dim=raw["dim"],
            n_items=raw["n_items"], value_dtype=raw["value_dtype"], scales=raw["scales"],
            layout=_layout_from_json(raw["layout"]), users=_strings(raw["users"], "users"),
            items=_items_from_json(raw["items"], version), version=version,
            seen=raw.get("seen", 0),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise PackageError(f"manifest: {exc}") from None
    if manifest.to_json(digest) != text:
        raise PackageError("manifest is not in canonical form (key order, spacing or escapes)")
    return manifest, digest


def _layout_from_json(raw: object) -> Layout:
    if not isinstance(raw, dict):
        raise ValueError(f"layout={raw!r} is not allowed: an object")
    kind = raw.get("kind")
    keys = {"dense": ["kind", "width"], "ragged": ["kind", "n_values"],
            "blocks": ["kind", "n_blocks", "rescale", "group_sizes", "order"],
            "pq": ["kind", "m", "centroids"], "qr": ["kind", "m"]}
    if kind not in keys:
        raise ValueError(f"layout kind={kind!r} is not one this elasticrec reads: one of "
                         f"{sorted(keys)}")
    if list(raw) != keys[kind]:
        raise ValueError(f"layout with kind={kind!r} and keys {list(raw)} is not allowed: "
                         f"{keys[kind]}")
    if kind == "dense":
        return DenseLayout(raw["width"])
    if kind == "pq":
        return PQLayout(raw["m"], raw["centroids"])
    if kind == "qr":
        return QRLayout(raw["m"])
    if kind == "ragged":
        return RaggedLayout(raw["n_values"])
    if not isinstance(raw["group_sizes"], list) or not isinstance(raw["order"], list) or not all(
            isinstance(p, list) for p in raw["order"]):
        raise ValueError("layout.group_sizes and layout.order must be lists")
    return BlockLayout(raw["n_blocks"], tuple(raw["group_sizes"]),
                       tuple(tuple(p) for p in raw["order"]), raw["rescale"])


_ITEM_KEYS = {"range": ["kind", "start"], "int32": ["kind"], "int64": ["kind"],
              "delta": ["kind", "first", "n_bytes"],
              "holes": ["kind", "start", "n_holes", "n_bytes"], "front": ["kind", "n_bytes"],
              "labels": ["kind", "labels"], "catalogue": ["kind", "fingerprint"]}


def _items_from_json(raw: object, version: int) -> ItemIds:
    kinds = V1_ID_KINDS if version == 1 else ID_KINDS
    if not isinstance(raw, dict) or raw.get("kind") not in kinds:
        raise ValueError(f"items={str(raw)[:80]} is not allowed: kind in {kinds}")
    kind = raw["kind"]
    expected = ["kind"] if version == 1 and kind == "range" else _ITEM_KEYS[kind]
    if list(raw) != expected:
        raise ValueError(f"items keys {list(raw)} are not allowed: {expected}")
    if kind == "labels":
        return ItemIds("labels", _strings(raw["labels"], "items.labels"))
    return ItemIds(kind, start=raw.get("start", 0), first=raw.get("first", 0),
                   n_bytes=raw.get("n_bytes", 0), n_holes=raw.get("n_holes", 0),
                   fingerprint=raw.get("fingerprint"))


def _strings(raw: object, name: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"{name} is not allowed: a list of strings")
    return tuple(raw)


def _bad_pair(order: tuple, n_groups: int, n_blocks: int) -> tuple | None:
    """The first entry of ``order`` that is not a pair of ints in range, or None. Checked in
    bulk (types first, then ranges with NumPy): selection fits build many manifests."""
    if (set(map(type, order)) <= {tuple} and set(map(len, order)) <= {2}
            and set(map(type, itertools.chain.from_iterable(order))) <= {int}):
        pairs = np.array(order, dtype=np.int64).reshape(-1, 2)
        inside = ((pairs >= 0) & (pairs < (n_groups, n_blocks))).all(axis=1)
        return None if inside.all() else order[int(np.argmin(inside))]
    return next((p for p in order if not (
        isinstance(p, tuple | list) and len(p) == 2 and _int(p[0]) and _int(p[1])
        and 0 <= p[0] < n_groups and 0 <= p[1] < n_blocks)), None)


def _int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
