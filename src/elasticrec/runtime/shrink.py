"""Shrinking a package on the device: drop its lowest-priority values until it fits.

The package's layout is read back as a selection (``elasticrec.budget.selection``) and cut to
the largest truncation whose ``device_bytes`` fits the new budget: dense rows are narrowed,
blocks leave from the end of the priority order, ragged rows lose values from the end of
the column-major order. Truncation is nested and int8 scales are taken over whole trained
rows or blocks, so the result is byte for byte the package the server builds for that budget
from the same priorities. Values cannot be added back: growing needs the server.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from elasticrec.budget.fit import fitting_level
from elasticrec.budget.selection import (
    BlockSelection,
    DenseSelection,
    RaggedSelection,
    Selection,
    truncate_widths,
)
from elasticrec.budget.units import format_bytes
from elasticrec.errors import ElasticrecError
from elasticrec.format.container import encode
from elasticrec.format.manifest import (
    BlockLayout,
    DenseLayout,
    Manifest,
    PQLayout,
    QRLayout,
    RaggedLayout,
)
from elasticrec.format.sizes import device_bytes
from elasticrec.format.values import PACKED, pack, unpack
from elasticrec.runtime.kernels import item_groups
from elasticrec.runtime.package import Package


def shrink(package: Package, budget_bytes: int) -> bytes:
    """The bytes of the largest truncation of ``package`` that fits ``budget_bytes``."""
    if isinstance(package.manifest.layout, PQLayout):
        raise ElasticrecError(
            "a pq package cannot be shrunk on the device: its codebooks were trained for its "
            "m sub-vectors, and fewer codes need new codebooks (build it again on the server "
            "with a smaller m)")
    if isinstance(package.manifest.layout, QRLayout):
        raise ElasticrecError(
            "a qr package cannot be shrunk on the device: its quotient and remainder tables "
            "were trained together, and fewer rows need a model trained for them (build it "
            "again on the server with a larger m)")
    current = package.device_bytes()
    if budget_bytes > current:
        raise ElasticrecError(
            f"the package is {format_bytes(current)}, within the budget of "
            f"{format_bytes(budget_bytes)}; shrinking cannot add values back, so a larger "
            "package needs the server (elasticrec export)")
    selection = package_selection(package)

    def size_at(level: int) -> int:
        return device_bytes(truncated_manifest(package.manifest, level))

    level = fitting_level(size_at, selection.level, budget_bytes)
    manifest = truncated_manifest(package.manifest, level)
    return encode(manifest.to_json(), _truncated_tensors(package, level))


def package_selection(package: Package) -> Selection:
    """The selection a package ships, read back from its manifest and tensors."""
    layout = package.manifest.layout
    if isinstance(layout, DenseLayout):
        return DenseSelection(layout.width)
    if isinstance(layout, BlockLayout):
        return BlockSelection(layout.n_blocks, layout.n_groups, package.tensors["item_group"],
                              layout.order, layout.rescale)
    return RaggedSelection(np.diff(package.tensors["offsets"].astype(np.int64)))


def truncated_manifest(manifest: Manifest, level: int) -> Manifest:
    """The manifest of ``manifest``'s package cut to ``level`` (columns, pairs or values)."""
    layout = manifest.layout
    if isinstance(layout, DenseLayout):
        return replace(manifest, layout=DenseLayout(level))
    if isinstance(layout, BlockLayout):
        return replace(manifest, layout=replace(layout, order=layout.order[:level]))
    return replace(manifest, layout=RaggedLayout(level))


def _truncated_tensors(package: Package, level: int) -> dict:
    manifest = package.manifest
    new_manifest = truncated_manifest(manifest, level)
    specs = {s.name: s.dtype for s in new_manifest.tensor_specs()}
    t = dict(package.tensors)
    layout = manifest.layout
    packed = manifest.value_dtype if manifest.value_dtype in PACKED else None
    if packed:  # cut the values themselves, then pack them again
        t["values"] = unpack(t["values"], 0, manifest.n_values(), packed)
        if isinstance(layout, DenseLayout):
            t["values"] = t["values"].reshape(manifest.n_items, layout.width)
    if isinstance(layout, DenseLayout):
        t["values"] = t["values"][:, :level]
    elif isinstance(layout, BlockLayout):
        t["values"], scales = _cut_blocks(package, t["values"], layout, new_manifest.layout)
        if manifest.scales == "block":
            t["scales"] = scales
    else:
        widths = np.diff(t["offsets"].astype(np.int64))
        new_widths = truncate_widths(widths, level)
        position = np.arange(layout.n_values) - np.repeat(t["offsets"][:-1], widths)
        t["values"] = t["values"][position < np.repeat(new_widths, widths)]
        t["offsets"] = np.concatenate([[0], np.cumsum(new_widths)])
    if packed:
        t["values"] = pack(t["values"], packed)
    return {name: (specs[name], arr) for name, arr in t.items()}


def _cut_blocks(package: Package, values: np.ndarray, old: BlockLayout, new: BlockLayout):
    """Each group's values keep the first (new count) blocks of each row."""
    b = package.manifest.block_width
    scales = package.tensors.get("scales")
    groups = item_groups(package.tensors["item_group"], old.group_sizes)
    kept_values, kept_scales, start = [], [], 0
    for rows, shipped, keep in zip(groups, old.groups, new.groups, strict=True):
        n, k, k_new = len(rows), len(shipped), len(keep)
        kept_values.append(values[start:start + n * k * b].reshape(n, k * b)[:, :k_new * b])
        if package.manifest.scales == "block":
            kept_scales.append(scales[start // b:start // b + n * k].reshape(n, k)[:, :k_new])
        start += n * k * b
    flat = np.concatenate([v.reshape(-1) for v in kept_values])
    block_scales = (np.concatenate([s.reshape(-1) for s in kept_scales])
                    if kept_scales else None)
    return flat, block_scales
