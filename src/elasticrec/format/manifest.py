"""The package manifest: a frozen, validated description from which every tensor's spec follows.

The manifest is stored as compact ASCII JSON in the safetensors metadata (docs/FORMAT.md).
Everything needed to know each tensor's name, dtype and shape is in it, so the exact package
size is a function of the manifest alone (``elasticrec.format.sizes``), and a loader can say
precisely which tensor is missing, extra or of the wrong dtype or shape.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from elasticrec.checks import check
from elasticrec.format.container import ZERO_DIGEST, TensorSpec
from elasticrec.format.errors import PackageError

FORMAT_NAME = "elasticrec-package"
FORMAT_VERSION = 1
VALUE_DTYPES = {"float32": "F32", "float16": "F16", "int8": "I8"}


def value_itemsize(value_dtype: str) -> int:
    """Bytes of one stored item value of ``value_dtype`` (\"float32\", \"float16\", \"int8\")."""
    from elasticrec.format.container import DTYPES

    return DTYPES[VALUE_DTYPES[value_dtype]].itemsize
ITEM_ID_KINDS = ("range", "int32", "int64", "labels")
INT32_MAX = 2**31 - 1
_KEYS = ("sha256", "format", "version", "method", "dataset", "dataset_fingerprint", "model",
         "dim", "n_items", "value_dtype", "scales", "layout", "users", "items")


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


Layout = DenseLayout | BlockLayout | RaggedLayout


@dataclass(frozen=True)
class ItemIds:
    """How item rows map to the source data's ids: ``range`` (row i is "i"), ``int32`` or
    ``int64`` (tensor ``item_ids``, decimal labels), or ``labels`` (a JSON list here)."""

    kind: str
    labels: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        if self.kind == "labels":
            return {"kind": "labels", "labels": list(self.labels or ())}
        return {"kind": self.kind}


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

    def __post_init__(self) -> None:
        for name in ("method", "dataset", "dataset_fingerprint", "model"):
            check(isinstance(getattr(self, name), str), name, getattr(self, name), "a string")
        check(self.version == FORMAT_VERSION, "version", self.version, str(FORMAT_VERSION))
        check(_int(self.dim) and self.dim >= 1, "dim", self.dim, "an int >= 1")
        check(_int(self.n_items) and self.n_items >= 0, "n_items", self.n_items, "an int >= 0")
        check(self.value_dtype in VALUE_DTYPES, "value_dtype", self.value_dtype,
              str(sorted(VALUE_DTYPES)))
        allowed = ("row", "block") if isinstance(self.layout, BlockLayout) else ("row",)
        if self.value_dtype == "int8":
            check(self.scales in allowed, "scales", self.scales, f"one of {allowed} for int8")
        else:
            check(self.scales == "none", "scales", self.scales, "'none' unless int8")
        self._check_layout()
        check(isinstance(self.users, tuple) and all(isinstance(u, str) for u in self.users),
              "users", type(self.users).__name__, "a tuple of strings")
        check(len(set(self.users)) == len(self.users), "users", "(repeated labels)",
              "distinct labels")
        check(self.items.kind in ITEM_ID_KINDS, "items.kind", self.items.kind, str(ITEM_ID_KINDS))
        labels = self.items.labels
        if self.items.kind == "labels":
            check(isinstance(labels, tuple) and len(labels) == self.n_items
                  and all(isinstance(x, str) for x in labels), "items.labels",
                  f"{len(labels or ())} entries", f"{self.n_items} strings")
            check(len(set(labels or ())) == len(labels or ()), "items.labels",
                  "(repeated labels)", "distinct labels")
        else:
            check(labels is None, "items.labels", "(a list)", f"none for kind {self.items.kind}")

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
        else:
            raise ValueError(f"layout={lay!r} is not allowed: a dense, blocks or ragged layout")

    @property
    def block_width(self) -> int:
        assert isinstance(self.layout, BlockLayout)
        return self.dim // self.layout.n_blocks

    @cached_property
    def _tail_json(self) -> str:
        """The manifest JSON after the digest field (cached: labels can be long)."""
        body = {"format": FORMAT_NAME, "version": self.version, "method": self.method,
                "dataset": self.dataset, "dataset_fingerprint": self.dataset_fingerprint,
                "model": self.model, "dim": self.dim, "n_items": self.n_items,
                "value_dtype": self.value_dtype, "scales": self.scales,
                "layout": self.layout.to_json(), "users": list(self.users),
                "items": self.items.to_json()}
        return json.dumps(body, ensure_ascii=True, separators=(",", ":"))[1:]

    def to_json(self, digest: str = ZERO_DIGEST) -> str:
        return '{"sha256":"' + digest + '",' + self._tail_json

    def tensor_specs(self) -> tuple[TensorSpec, ...]:
        """Every tensor this manifest requires, with its dtype and shape."""
        n, lay = self.n_items, self.layout
        specs = [TensorSpec("user", "F32", (len(self.users), self.dim))]
        if self.items.kind in ("int32", "int64"):
            specs.append(TensorSpec("item_ids", "I32" if self.items.kind == "int32" else "I64",
                                    (n,)))
        code = VALUE_DTYPES[self.value_dtype]
        if isinstance(lay, DenseLayout):
            specs.append(TensorSpec("values", code, (n, lay.width)))
        elif isinstance(lay, BlockLayout):
            shipped = lay.n_shipped_blocks()
            specs.append(TensorSpec("values", code, (shipped * self.block_width,)))
            specs.append(TensorSpec("item_group", "U8" if lay.n_groups <= 256 else "U16", (n,)))
            if self.scales == "block":
                specs.append(TensorSpec("scales", "F32", (shipped,)))
        else:
            specs.append(TensorSpec("values", code, (lay.n_values,)))
            specs.append(TensorSpec("offsets", "I32" if lay.n_values <= INT32_MAX else "I64",
                                    (n + 1,)))
        if self.scales == "row":
            specs.append(TensorSpec("scales", "F32", (n,)))
        return tuple(specs)


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
    if _int(version) and version > FORMAT_VERSION:
        raise PackageError(f"package format version {version} is newer than this elasticrec "
                           f"reads (version {FORMAT_VERSION}); update elasticrec")
    if version != FORMAT_VERSION:
        raise PackageError(f"manifest version {version!r} is not allowed: {FORMAT_VERSION}")
    digest = raw.get("sha256")
    if not isinstance(digest, str) or re.fullmatch("[0-9a-f]{64}", digest) is None:
        raise PackageError("manifest sha256 is not 64 lowercase hex digits")
    if tuple(raw) != _KEYS:
        missing = [k for k in _KEYS if k not in raw]
        extra = [k for k in raw if k not in _KEYS]
        raise PackageError(f"manifest keys differ from version {FORMAT_VERSION}: missing "
                           f"{missing}, unexpected {extra}, or out of order")
    try:
        manifest = Manifest(
            method=raw["method"], dataset=raw["dataset"],
            dataset_fingerprint=raw["dataset_fingerprint"], model=raw["model"], dim=raw["dim"],
            n_items=raw["n_items"], value_dtype=raw["value_dtype"], scales=raw["scales"],
            layout=_layout_from_json(raw["layout"]), users=_strings(raw["users"], "users"),
            items=_items_from_json(raw["items"]), version=version,
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
            "blocks": ["kind", "n_blocks", "rescale", "group_sizes", "order"]}
    if kind not in keys or list(raw) != keys[kind]:
        raise ValueError(f"layout with kind={kind!r} and keys {list(raw)} is not allowed: "
                         f"one of {keys}")
    if kind == "dense":
        return DenseLayout(raw["width"])
    if kind == "ragged":
        return RaggedLayout(raw["n_values"])
    if not isinstance(raw["group_sizes"], list) or not isinstance(raw["order"], list) or not all(
            isinstance(p, list) for p in raw["order"]):
        raise ValueError("layout.group_sizes and layout.order must be lists")
    return BlockLayout(raw["n_blocks"], tuple(raw["group_sizes"]),
                       tuple(tuple(p) for p in raw["order"]), raw["rescale"])


def _items_from_json(raw: object) -> ItemIds:
    if not isinstance(raw, dict) or raw.get("kind") not in ITEM_ID_KINDS:
        raise ValueError(f"items={str(raw)[:80]} is not allowed: kind in {ITEM_ID_KINDS}")
    expected = ["kind", "labels"] if raw["kind"] == "labels" else ["kind"]
    if list(raw) != expected:
        raise ValueError(f"items keys {list(raw)} are not allowed: {expected}")
    if raw["kind"] == "labels":
        return ItemIds("labels", _strings(raw["labels"], "items.labels"))
    return ItemIds(raw["kind"])


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
