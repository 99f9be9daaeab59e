"""Exact package sizes from a manifest alone, before anything is encoded or written.

``package_bytes`` is the size of the file the manifest describes. ``device_bytes`` is what a
budget bounds: the size of the single-user package a device receives. For a package with
one user (or none: a fold-in package) the two are equal; a package with several users (an
evaluation or distribution master) bounds every single-user package that
``elasticrec.runtime.Package.for_user`` cuts from it, so ``device_bytes`` is the size of the
largest of those, the one for the user whose label takes the most header bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from elasticrec.format.container import container_size, encode_header
from elasticrec.format.errors import PackageError
from elasticrec.format.ids import exact_maps
from elasticrec.format.manifest import Manifest
from elasticrec.format.values import value_bytes


def package_bytes(manifest: Manifest) -> int:
    return container_size(manifest.to_json(), manifest.tensor_specs())


def device_bytes(manifest: Manifest) -> int:
    if len(manifest.users) <= 1:
        return package_bytes(manifest)
    return package_bytes(replace(manifest, users=(longest_label(manifest.users),)))


def longest_label(labels: tuple[str, ...]) -> str:
    """The label whose entry in the header is longest (JSON-escaped twice), first on ties."""
    costs = [len(json.dumps(json.dumps(label))) for label in labels]
    return labels[max(range(len(labels)), key=costs.__getitem__)]


def byte_breakdown(manifest: Manifest) -> dict[str, int]:
    """Bytes per part: ``length_field``, ``header`` (JSON and padding), then each tensor.

    The parts sum to ``package_bytes(manifest)``.
    """
    specs = manifest.tensor_specs()
    out = {"length_field": 8, "header": len(encode_header(manifest.to_json(), specs))}
    out.update({s.name: s.nbytes for s in specs})
    return out


def item_block_bytes(width: int, value_dtype: str, scale_mode: str) -> int:
    """Bytes one item's block of ``width`` values adds to a blocks-layout package: its values
    and, with per-block scales, one float32 scale (the price RULE and PEEL pay). int4 / int2
    blocks of a width that fills no whole byte are rounded up (the package's own size, which
    the fit checks, packs them back to back)."""
    return value_bytes(width, value_dtype) + 4 * (scale_mode == "block")


def ragged_table_bytes(n_values: int, n_rows: int, *, value_dtype: str = "float32",
                       offset_dtype: str = "I64") -> int:
    """Bytes of one ragged table: ``n_values`` values in one flat buffer and ``n_rows + 1``
    offsets (SCALL's stored tables use float32 values and int64 offsets)."""
    from elasticrec.format.container import DTYPES

    return (value_bytes(n_values, value_dtype)
            + (n_rows + 1) * DTYPES[offset_dtype].itemsize)


def id_map_bytes(manifest: Manifest) -> int:
    """Bytes the item id map takes in the package: its ``"items"`` entry as the header holds
    it (the manifest is a JSON string there, so escaped once more), the ``item_ids`` tensor
    and that tensor's header entry (header padding aside)."""
    entry = json.dumps(manifest.items.to_json(manifest.version), ensure_ascii=True,
                       separators=(",", ":"))
    cost = len(json.dumps(',"items":' + entry)) - 2
    specs = manifest.tensor_specs()
    ids = [s for s in specs if s.name == "item_ids"]
    if ids:
        manifest_json = manifest.to_json()
        rest = [s for s in specs if s.name != "item_ids"]
        cost += (len(encode_header(manifest_json, specs).rstrip(b" "))
                 - len(encode_header(manifest_json, rest).rstrip(b" ")) + ids[0].nbytes)
    return cost


def id_map_costs(manifest: Manifest, labels: Sequence[str]) -> dict[str, int]:
    """What each exact item id map of ``labels`` (the package's items, in row order) would
    take in the package ``manifest`` describes, by kind (``id_map_bytes`` of the manifest with
    that map): to compare the map a package holds (``manifest.items.kind``) with the others.
    Kinds that cannot name these labels are absent; ``catalogue`` is a reference only."""
    if len(labels) != manifest.n_items:
        raise PackageError(f"{len(labels)} item labels for a package of {manifest.n_items} "
                           "items")
    try:
        maps = exact_maps(labels)
    except ValueError as exc:
        raise PackageError(str(exc)) from None
    return {kind: id_map_bytes(replace(manifest, items=ids)) for kind, ids in maps.items()}
