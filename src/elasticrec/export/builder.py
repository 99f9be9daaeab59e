"""From a trained run's embeddings and a selection to package bytes, within a budget.

``plan`` describes the package (a ``Manifest``, cheap: no values are encoded), so its exact
size is known first; ``build`` refuses a package over its budget before encoding anything,
and ``fit`` finds the largest truncation of a selection that fits. ``write_package`` is the
only function here that touches the disk (an atomic write).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from elasticrec.atomic import write_bytes
from elasticrec.budget.fit import BudgetExceeded, fitting_level
from elasticrec.budget.selection import (
    BlockSelection,
    DenseSelection,
    RaggedSelection,
    Selection,
)
from elasticrec.checks import check
from elasticrec.errors import ElasticrecError
from elasticrec.format import ids as id_maps
from elasticrec.format import quantize
from elasticrec.format.container import encode
from elasticrec.format.ids import TENSOR_KINDS, ItemIds
from elasticrec.format.manifest import (
    COLUMN_VERSION,
    FORMAT_VERSION,
    INT32_MAX,
    BlockLayout,
    DenseLayout,
    Layout,
    Manifest,
    RaggedLayout,
)
from elasticrec.format.sizes import device_bytes
from elasticrec.format.values import PACKED, QUANTIZED, VALUE_DTYPES, pack

if TYPE_CHECKING:
    from elasticrec.embeddings import RunEmbeddings

Tensors = dict[str, tuple[str, np.ndarray]]


SCALE_MODES = ("auto", "row", "column", "block")


@dataclass(frozen=True)
class BuildOptions:
    """How values are stored, which users ship (row indices; ``None``: all users), how items
    are named (``item_ids``: ``auto``, the smallest exact map, or ``catalogue``, a reference
    to the device's catalogue) and the one user's seen item rows to ship (``seen``)."""

    value_dtype: str = "float32"
    # int8 / int4 / int2: "row" (default), "column" (one per position, format version 5) or
    # "block" (blocks layout only)
    scales: str = "auto"
    users: tuple[int, ...] | None = None
    method: str = "dense-truncate"
    item_ids: str = "auto"
    seen: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check(self.value_dtype in VALUE_DTYPES, "value_dtype", self.value_dtype,
              str(sorted(VALUE_DTYPES)))
        check(self.scales in SCALE_MODES, "scales", self.scales,
              "'auto', 'row', 'column' or 'block'")
        check(self.value_dtype in QUANTIZED or self.scales == "auto", "scales", self.scales,
              f"'auto' unless value_dtype is one of {QUANTIZED}")
        check(isinstance(self.method, str) and bool(self.method), "method", self.method,
              "a non-empty string")
        check(self.item_ids in ("auto", "catalogue"), "item_ids", self.item_ids,
              "'auto' or 'catalogue'")
        if self.seen is not None:
            rows = [int(r) for r in self.seen]
            check(rows == sorted(set(rows)) and (not rows or rows[0] >= 0), "seen",
                  f"{len(rows)} rows", "distinct item rows >= 0, ascending")

    def scale_mode(self) -> str:
        if self.value_dtype not in QUANTIZED:
            return "none"
        return "row" if self.scales == "auto" else self.scales


def plan(emb: RunEmbeddings, selection: Selection, options: BuildOptions) -> Manifest:
    """The manifest of the package ``build`` would write (labels and layout, no values)."""
    n_items, dim = emb.item.shape
    return plan_layout(emb, _layout(selection, n_items, dim), options)


def plan_layout(emb: RunEmbeddings, layout: Layout, options: BuildOptions, *,
                version: int | None = None) -> Manifest:
    """The manifest of a package of ``emb`` in ``layout`` (any layout: ``plan`` for a
    selection's, ``export.pq`` for the pq layout's, which is format ``version`` 3; default:
    ``FORMAT_VERSION``, or ``COLUMN_VERSION`` for column scales)."""
    if version is None:
        version = COLUMN_VERSION if options.scale_mode() == "column" else FORMAT_VERSION
    n_items, dim = emb.item.shape
    users = _user_rows(emb, options)
    seen = len(options.seen or ())
    if seen:
        check(len(users) == 1, "seen", f"{seen} rows", "only for a package of one user")
        check(int(options.seen[-1]) < n_items, "seen", int(options.seen[-1]),
              f"item rows < n_items={n_items}")
    return Manifest(
        method=options.method, dataset=emb.dataset,
        dataset_fingerprint=emb.dataset_fingerprint, model=emb.model, dim=dim, n_items=n_items,
        value_dtype=options.value_dtype, scales=options.scale_mode(), layout=layout,
        users=tuple(str(emb.user_labels[u]) for u in users),
        items=item_ids(emb.item_labels, catalogue=options.item_ids == "catalogue"),
        version=version, seen=seen,
    )


def build(emb: RunEmbeddings, selection: Selection, options: BuildOptions,
          budget_bytes: int | None = None) -> bytes:
    """The package bytes; ``BudgetExceeded`` (nothing encoded) if over ``budget_bytes``."""
    manifest = plan(emb, selection, options)
    if budget_bytes is not None:
        needed = device_bytes(manifest)
        if needed > budget_bytes:
            smallest = device_bytes(plan(emb, selection.truncate(0), options))
            raise BudgetExceeded(needed, budget_bytes, smallest, "no item values")
    if not np.isfinite(emb.item).all() or not np.isfinite(emb.user).all():
        raise ElasticrecError("the embeddings hold NaN or infinite values; nothing to ship")
    return encode(manifest.to_json(), assemble(emb, selection, options, manifest))


def fit(emb: RunEmbeddings, selection: Selection, options: BuildOptions,
        budget_bytes: int) -> Selection:
    """The largest truncation of ``selection`` whose package fits ``budget_bytes``.

    Raises ``BudgetExceeded`` when the budget leaves no room for a single item value.
    """
    def size_at(level: int) -> int:
        return device_bytes(plan(emb, selection.truncate(level), options))

    level = fitting_level(size_at, selection.level, budget_bytes)
    return selection.truncate(level)


def write_package(path: str | os.PathLike, data: bytes) -> None:
    write_bytes(path, data)


def assemble(emb: RunEmbeddings, selection: Selection, options: BuildOptions,
             manifest: Manifest) -> Tensors:
    """Every tensor of the package, encoded as ``manifest`` says."""
    item = np.ascontiguousarray(emb.item, dtype=np.float32)
    tensors = common_tensors(emb, options, manifest)
    dtype = manifest.value_dtype
    column = quantize.column_scales(item, dtype) if manifest.scales == "column" else None
    if column is not None:
        tensors["scales"] = ("F32", column)
    if isinstance(selection, DenseSelection):
        values, per_value = item[:, : selection.width], None
        if manifest.scales == "row":
            scales = quantize.row_scales(item, dtype)
            tensors["scales"] = ("F32", scales)
            per_value = scales[:, None]
        elif column is not None:
            per_value = column[None, : selection.width]
    elif isinstance(selection, RaggedSelection):
        widths = selection.widths
        shipped = np.arange(manifest.dim) < widths[:, None]
        values = item[shipped]
        offsets = np.concatenate([[0], np.cumsum(widths)])
        tensors["offsets"] = ("I32" if manifest.layout.n_values <= INT32_MAX else "I64", offsets)
        per_value = None
        if manifest.scales == "row":
            scales = quantize.row_scales(item, dtype)
            tensors["scales"] = ("F32", scales)
            per_value = np.repeat(scales, widths)
        elif column is not None:
            per_value = column[np.nonzero(shipped)[1]]  # row-major, as ``values``
    else:
        values, per_value, extra = _block_tensors(item, selection, manifest)
        tensors.update(extra)
    if dtype in QUANTIZED:
        values = quantize.quantize(values, per_value, dtype)
        if dtype in PACKED:
            values = pack(values, dtype)
    elif dtype == "float16":
        values = quantize.to_float16(values)
    tensors["values"] = (VALUE_DTYPES[dtype], values)
    return tensors


def common_tensors(emb: RunEmbeddings, options: BuildOptions, manifest: Manifest) -> Tensors:
    """The tensors every layout has: ``user``, and ``item_ids`` and ``seen`` when shipped."""
    users = np.asarray(emb.user, dtype=np.float32)[_user_rows(emb, options)]
    tensors: Tensors = {"user": ("F32", users)}
    kind, ids = _id_map(emb.item_labels, manifest.items.kind == "catalogue")
    if ids is not None:
        tensors["item_ids"] = (TENSOR_KINDS[kind.kind], ids)
    if manifest.seen:
        seen = np.asarray(options.seen, dtype=np.int64)
        tensors["seen"] = ("U16" if manifest.n_items <= 65536 else "I32", seen)
    return tensors


def item_id_kind(labels: Sequence[str], *, catalogue: bool = False
                 ) -> tuple[ItemIds, np.ndarray | None]:
    """The most compact exact item id map (``elasticrec.format.ids.choose``) and its tensor."""
    try:
        return id_maps.choose(labels, catalogue=catalogue)
    except ValueError as exc:
        raise ElasticrecError(str(exc)) from None


_ID_MAPS: dict[tuple[int, bool], tuple[Sequence[str], ItemIds, np.ndarray | None]] = {}


def _id_map(labels: Sequence[str], catalogue: bool) -> tuple[ItemIds, np.ndarray | None]:
    """``item_id_kind(labels)``, remembered for the last few label lists (by identity):
    fitting a budget plans the same items' package many times, and only the first call
    reads every label."""
    key = (id(labels), catalogue)
    hit = _ID_MAPS.get(key)
    if hit is not None and hit[0] is labels:
        return hit[1], hit[2]
    kind, tensor = item_id_kind(labels, catalogue=catalogue)
    if len(_ID_MAPS) >= 8:
        _ID_MAPS.pop(next(iter(_ID_MAPS)))
    _ID_MAPS[key] = (labels, kind, tensor)
    return kind, tensor


def item_ids(labels: Sequence[str], *, catalogue: bool = False) -> ItemIds:
    """How a package names these items (remembered: see ``_id_map``)."""
    return _id_map(labels, catalogue)[0]


def _layout(selection: Selection, n_items: int, dim: int) -> Layout:
    if isinstance(selection, DenseSelection):
        check(selection.width <= dim, "DenseSelection.width", selection.width, f"<= dim={dim}")
        return DenseLayout(selection.width)
    if isinstance(selection, RaggedSelection):
        w = selection.widths
        check(len(w) == n_items, "RaggedSelection.widths", f"{len(w)} rows", f"{n_items} rows")
        check(not w.size or int(w.max()) <= dim, "RaggedSelection.widths maximum",
              int(w.max()) if w.size else 0, f"<= dim={dim}")
        return RaggedLayout(selection.level)
    if isinstance(selection, BlockSelection):
        check(len(selection.item_group) == n_items, "BlockSelection.item_group",
              f"{len(selection.item_group)} items", f"{n_items} items")
        check(dim % selection.n_blocks == 0, "BlockSelection.n_blocks", selection.n_blocks,
              f"a divisor of dim={dim}")
        return BlockLayout(selection.n_blocks, selection.group_sizes(), selection.order,
                           selection.rescale)
    raise ElasticrecError(f"unknown selection type {type(selection).__name__}")


def _block_tensors(item: np.ndarray, sel: BlockSelection, manifest: Manifest
                   ) -> tuple[np.ndarray, np.ndarray | None, Tensors]:
    """Group-major values (rows ascending, blocks in priority order), each value's scale
    (int8) and the extra tensors: ``item_group`` and ``scales``."""
    n, dim = item.shape
    b = dim // sel.n_blocks
    blocks = item.reshape(n, sel.n_blocks, b)
    layout = manifest.layout
    extra: Tensors = {"item_group": ("U8" if layout.n_groups <= 256 else "U16", sel.item_group)}
    dtype = manifest.value_dtype
    row_scale = quantize.row_scales(item, dtype) if manifest.scales == "row" else None
    block_scale = (quantize.block_scales(item, sel.n_blocks, dtype)
                   if manifest.scales == "block" else None)
    column = (quantize.column_scales(item, dtype).reshape(sel.n_blocks, b)
              if manifest.scales == "column" else None)
    values, scales = [], []
    for g, shipped in enumerate(sel.groups):
        rows = np.flatnonzero(sel.item_group == g)
        values.append(blocks[rows][:, list(shipped)].reshape(-1))
        if block_scale is not None:
            scales.append(block_scale[rows][:, list(shipped)].reshape(-1))
        elif row_scale is not None:
            scales.append(np.repeat(row_scale[rows], len(shipped) * b))
        elif column is not None:
            scales.append(np.tile(column[list(shipped)].reshape(-1), len(rows)))
    flat = np.concatenate(values)
    if column is not None:  # the tensor itself is added by ``assemble``
        return flat, np.concatenate(scales), extra
    if block_scale is not None:
        per_block = np.concatenate(scales)
        extra["scales"] = ("F32", per_block)
        return flat, np.repeat(per_block, b), extra
    if row_scale is not None:
        extra["scales"] = ("F32", row_scale)
        return flat, np.concatenate(scales), extra
    return flat, None, extra


def _user_rows(emb: RunEmbeddings, options: BuildOptions) -> list[int]:
    n_users = len(emb.user)
    if options.users is None:
        return list(range(n_users))
    rows = [int(u) for u in options.users]
    check(all(0 <= u < n_users for u in rows) and len(set(rows)) == len(rows), "users",
          options.users, f"distinct row indices in [0, {n_users})")
    return rows
