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
from elasticrec.format import quantize
from elasticrec.format.container import encode
from elasticrec.format.manifest import (
    INT32_MAX,
    VALUE_DTYPES,
    BlockLayout,
    DenseLayout,
    ItemIds,
    Layout,
    Manifest,
    RaggedLayout,
)
from elasticrec.format.sizes import device_bytes

if TYPE_CHECKING:
    from elasticrec.embeddings import RunEmbeddings

Tensors = dict[str, tuple[str, np.ndarray]]


@dataclass(frozen=True)
class BuildOptions:
    """How values are stored and which users ship (row indices; ``None``: all users)."""

    value_dtype: str = "float32"
    scales: str = "auto"  # int8: "row" (default) or "block" (blocks layout only)
    users: tuple[int, ...] | None = None
    method: str = "dense-truncate"

    def __post_init__(self) -> None:
        check(self.value_dtype in VALUE_DTYPES, "value_dtype", self.value_dtype,
              str(sorted(VALUE_DTYPES)))
        check(self.scales in ("auto", "row", "block"), "scales", self.scales,
              "'auto', 'row' or 'block'")
        check(self.value_dtype == "int8" or self.scales == "auto", "scales", self.scales,
              "'auto' unless value_dtype is int8")
        check(isinstance(self.method, str) and bool(self.method), "method", self.method,
              "a non-empty string")

    def scale_mode(self) -> str:
        if self.value_dtype != "int8":
            return "none"
        return "row" if self.scales == "auto" else self.scales


def plan(emb: RunEmbeddings, selection: Selection, options: BuildOptions) -> Manifest:
    """The manifest of the package ``build`` would write (labels and layout, no values)."""
    n_items, dim = emb.item.shape
    users = _user_rows(emb, options)
    return Manifest(
        method=options.method, dataset=emb.dataset,
        dataset_fingerprint=emb.dataset_fingerprint, model=emb.model, dim=dim, n_items=n_items,
        value_dtype=options.value_dtype, scales=options.scale_mode(),
        layout=_layout(selection, n_items, dim),
        users=tuple(str(emb.user_labels[u]) for u in users),
        items=item_ids(emb.item_labels),
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
    users = np.asarray(emb.user, dtype=np.float32)[_user_rows(emb, options)]
    tensors: Tensors = {"user": ("F32", users)}
    kind, ids = item_id_kind(emb.item_labels)
    if ids is not None:
        tensors["item_ids"] = ("I32" if kind.kind == "int32" else "I64", ids)
    if isinstance(selection, DenseSelection):
        values, per_value = item[:, : selection.width], None
        if manifest.scales == "row":
            scales = quantize.row_scales(item)
            tensors["scales"] = ("F32", scales)
            per_value = scales[:, None]
    elif isinstance(selection, RaggedSelection):
        widths = selection.widths
        values = item[np.arange(manifest.dim) < widths[:, None]]
        offsets = np.concatenate([[0], np.cumsum(widths)])
        tensors["offsets"] = ("I32" if manifest.layout.n_values <= INT32_MAX else "I64", offsets)
        per_value = None
        if manifest.scales == "row":
            scales = quantize.row_scales(item)
            tensors["scales"] = ("F32", scales)
            per_value = np.repeat(scales, widths)
    else:
        values, per_value, extra = _block_tensors(item, selection, manifest)
        tensors.update(extra)
    if manifest.value_dtype == "int8":
        values = quantize.quantize_int8(values, per_value)
    elif manifest.value_dtype == "float16":
        values = quantize.to_float16(values)
    tensors["values"] = (VALUE_DTYPES[manifest.value_dtype], values)
    return tensors


def item_id_kind(labels: Sequence[str]) -> tuple[ItemIds, np.ndarray | None]:
    """The most compact exact item id map: ``range``, an int32/int64 tensor, or labels."""
    labels = [str(x) for x in labels]
    n = len(labels)
    if labels == [str(i) for i in range(n)]:
        return ItemIds("range"), None
    try:
        ints = [int(x) for x in labels]
    except ValueError:
        ints = None
    if ints is not None and all(str(v) == x for v, x in zip(ints, labels, strict=True)) and (
            not ints or (min(ints) >= -(2**63) and max(ints) < 2**63)):
        arr = np.array(ints, dtype=np.int64)
        if len(np.unique(arr)) != n:
            raise ElasticrecError("item labels repeat; a package needs one label per item")
        if not n or (arr.min() >= -INT32_MAX - 1 and arr.max() <= INT32_MAX):
            return ItemIds("int32"), arr.astype(np.int32)
        return ItemIds("int64"), arr
    return ItemIds("labels", tuple(labels)), None


_ID_KINDS: dict[int, tuple[Sequence[str], ItemIds]] = {}


def item_ids(labels: Sequence[str]) -> ItemIds:
    """How a package names these items (``item_id_kind(labels)[0]``), remembered for the last
    few label lists (by identity): fitting a budget plans the same items' package many
    times, and only the first call reads every label."""
    hit = _ID_KINDS.get(id(labels))
    if hit is not None and hit[0] is labels:
        return hit[1]
    kind = item_id_kind(labels)[0]
    if len(_ID_KINDS) >= 8:
        _ID_KINDS.pop(next(iter(_ID_KINDS)))
    _ID_KINDS[id(labels)] = (labels, kind)
    return kind


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
    row_scale = quantize.row_scales(item) if manifest.scales == "row" else None
    block_scale = quantize.block_scales(item, sel.n_blocks) if manifest.scales == "block" else None
    values, scales = [], []
    for g, shipped in enumerate(sel.groups):
        rows = np.flatnonzero(sel.item_group == g)
        values.append(blocks[rows][:, list(shipped)].reshape(-1))
        if block_scale is not None:
            scales.append(block_scale[rows][:, list(shipped)].reshape(-1))
        elif row_scale is not None:
            scales.append(np.repeat(row_scale[rows], len(shipped) * b))
    flat = np.concatenate(values)
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
