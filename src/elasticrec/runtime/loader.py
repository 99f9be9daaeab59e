"""Reading a package: memory-map, check everything, then expose zero-copy tensor views.

Checks, in order (each failure is a ``PackageError`` naming the problem): the container
structure (``elasticrec.format.container.decode``: length field, header, canonical form,
back-to-back tensors, truncation, trailing bytes), the whole-file SHA-256, the manifest
(format name, version, fields, layout), the tensor set against the manifest (missing,
unexpected, dtype, shape) and the tensor values (finite floats, non-negative scales,
symmetric int8, monotone offsets, group ids and sizes, pq codes within the
codebooks, finite qr tables, distinct item ids).
"""

from __future__ import annotations

import mmap
import os
import stat

import numpy as np

from elasticrec.format import ids as id_maps
from elasticrec.format.container import DTYPES, Container, decode
from elasticrec.format.errors import PackageError
from elasticrec.format.manifest import (
    BlockLayout,
    Manifest,
    PQLayout,
    QRLayout,
    RaggedLayout,
    manifest_from_json,
)
from elasticrec.format.values import PACKED, first_bad_code


def read_buffer(path: str | os.PathLike) -> memoryview | bytes:
    """The file's bytes: a read-only memory map, or plain bytes for tiny or empty files.

    Only a regular file is read: a FIFO, a device or a folder is refused before it is read
    (opened without blocking, so a FIFO with no writer cannot hang the call), and the read
    is bounded by the size the file has when it is opened."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise PackageError("not a regular file (a folder, FIFO or device); a package is a "
                           "file")
    with os.fdopen(fd, "rb") as fh:
        size = info.st_size
        if size < mmap.PAGESIZE:
            return fh.read(size)
        return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))


def parse(buf: bytes | memoryview, *, verify: bool = True
          ) -> tuple[Manifest, dict[str, np.ndarray], Container]:
    """The manifest and read-only tensor views over ``buf``, after every check."""
    container = decode(buf, verify=verify)
    manifest, _ = manifest_from_json(container.manifest_json)
    expected = {s.name: s for s in manifest.tensor_specs()}
    found = {name: spec for name, (spec, _) in container.tensors.items()}
    for name in expected:
        if name not in found:
            raise PackageError(f"missing tensor {name!r}, which the manifest requires")
    for name in found:
        if name not in expected:
            raise PackageError(f"unexpected tensor {name!r}, which the manifest does not name")
    for name, spec in expected.items():
        got = found[name]
        if got.dtype != spec.dtype:
            raise PackageError(f"tensor {name!r} has dtype {got.dtype}; the manifest requires "
                               f"{spec.dtype}")
        if got.shape != spec.shape:
            raise PackageError(f"tensor {name!r} has shape {list(got.shape)}; the manifest "
                               f"requires {list(spec.shape)}")
    tensors = {}
    for name, (spec, offset) in container.tensors.items():
        count = int(np.prod(spec.shape))
        arr = np.frombuffer(buf, dtype=DTYPES[spec.dtype], count=count, offset=offset)
        tensors[name] = arr.reshape(spec.shape)
    check_values(manifest, tensors)
    return manifest, tensors, container


def check_values(manifest: Manifest, tensors: dict[str, np.ndarray]) -> None:
    for name in ("user", "values", "scales", "codebooks", "quotient", "remainder"):
        arr = tensors.get(name)
        if arr is not None and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise PackageError(f"tensor {name!r} holds NaN or infinite values")
    scales = tensors.get("scales")
    if scales is not None and scales.size and scales.min() < 0:
        raise PackageError("tensor 'scales' holds negative scales")
    layout = manifest.layout
    if isinstance(layout, PQLayout):
        codes = tensors["codes"]
        if codes.size and int(codes.max()) >= layout.centroids:
            raise PackageError(f"tensor 'codes' holds code {int(codes.max())}; the manifest's "
                               f"layout.centroids={layout.centroids} allows codes 0 to "
                               f"{layout.centroids - 1}")
        _check_ids_and_seen(manifest, tensors)
        return
    if isinstance(layout, QRLayout):  # two float tables, checked finite above
        _check_ids_and_seen(manifest, tensors)
        return
    values = tensors["values"]
    if values.dtype == np.int8 and values.size and values.min() < -127:
        raise PackageError("tensor 'values' holds -128; int8 values are symmetric in "
                           "[-127, 127]")
    if manifest.value_dtype in PACKED:
        bad = first_bad_code(values, manifest.n_values(), manifest.value_dtype)
        if bad is not None:
            raise PackageError(f"tensor 'values' ({manifest.value_dtype}) {bad}")
    if isinstance(layout, RaggedLayout):
        offsets = tensors["offsets"]
        widths = np.diff(offsets.astype(np.int64))
        if offsets[0] != 0 or offsets[-1] != layout.n_values:
            raise PackageError(f"tensor 'offsets' runs from {offsets[0]} to {offsets[-1]}; "
                               f"expected 0 to n_values={layout.n_values}")
        if widths.size and widths.min() < 0:
            raise PackageError(f"tensor 'offsets' is not monotone (decreases after row "
                               f"{int(np.argmin(widths))})")
        if widths.size and widths.max() > manifest.dim:
            raise PackageError(f"tensor 'offsets' gives a row width {int(widths.max())} "
                               f"above dim={manifest.dim}")
    if isinstance(layout, BlockLayout):
        groups = tensors["item_group"]
        if groups.size and int(groups.max()) >= layout.n_groups:
            raise PackageError(f"tensor 'item_group' names group {int(groups.max())}; the "
                               f"manifest has {layout.n_groups} groups")
        sizes = np.bincount(groups, minlength=layout.n_groups)
        if tuple(int(x) for x in sizes) != layout.group_sizes:
            raise PackageError("tensor 'item_group' disagrees with the manifest's group_sizes")
    _check_ids_and_seen(manifest, tensors)


def _check_ids_and_seen(manifest: Manifest, tensors: dict[str, np.ndarray]) -> None:
    ids = tensors.get("item_ids")
    if manifest.items.kind in ("int32", "int64") and len(np.unique(ids)) != len(ids):
        raise PackageError("tensor 'item_ids' repeats an id")
    if manifest.items.kind in ("delta", "holes", "front"):
        try:
            labels = id_maps.decode(manifest.items, manifest.n_items, ids)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PackageError(f"tensor 'item_ids' ({manifest.items.kind}): {exc}") from None
        if len(set(labels)) != len(labels):
            raise PackageError(f"tensor 'item_ids' ({manifest.items.kind}) repeats an id")
    seen = tensors.get("seen")
    if seen is not None and seen.size:
        rows = seen.astype(np.int64)
        if rows[0] < 0 or rows[-1] >= manifest.n_items or (np.diff(rows) <= 0).any():
            raise PackageError(f"tensor 'seen' must hold ascending distinct item rows in "
                               f"[0, {manifest.n_items})")
