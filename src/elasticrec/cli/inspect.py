"""`elasticrec inspect`: a package's manifest and where its bytes go, after checking it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from elasticrec import format_bytes
from elasticrec.runtime import (
    BlockLayout,
    DenseLayout,
    PQLayout,
    QRLayout,
    byte_breakdown,
    id_map_bytes,
    load,
)

PARTS = {"length_field": "length field", "header": "header (manifest JSON, tensor index)",
         "user": "user vectors", "item_ids": "item id map tensor", "values": "item values",
         "scales": "value scales", "offsets": "row offsets", "item_group": "item groups",
         "seen": "seen items", "quotient": "quotient table (qr)",
         "remainder": "remainder table (qr)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="show a package's manifest and byte breakdown",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    pkg = load(args.file)
    m = pkg.manifest
    parts = byte_breakdown(m)
    summary = {
        "file": str(args.file), "file_bytes": pkg.file_bytes, "device_bytes": pkg.device_bytes(),
        "format_version": m.version, "method": m.method, "dataset": m.dataset,
        "dataset_fingerprint": m.dataset_fingerprint, "model": m.model, "dim": m.dim,
        "n_items": m.n_items, "n_users": len(m.users), "value_dtype": m.value_dtype,
        "scales": m.scales, "layout": _layout_summary(pkg), "item_ids": m.items.kind,
        "item_id_map_bytes": id_map_bytes(m), "seen_items": m.seen, "bytes": parts,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    users = ", ".join(m.users[:3]) + (", ..." if len(m.users) > 3 else "")
    print(f"{args.file}: elasticrec package version {m.version}, checksum OK")
    print(f"  run:     {m.dataset} ({m.dataset_fingerprint}), model {m.model}, dim {m.dim}")
    values = ("codebooks" if isinstance(m.layout, PQLayout) else
              "tables" if isinstance(m.layout, QRLayout) else "values")
    print(f"  method:  {m.method}; layout {summary['layout']}; {values} {m.value_dtype}"
          + (f", {m.scales} scales" if m.scales != "none" else ""))
    print(f"  items:   {m.n_items:,}; users: {len(m.users):,} ({users})"
          + (f"; {m.seen:,} seen items shipped" if m.seen else ""))
    print(f"  ids:     {_ids_summary(m)}: {id_map_bytes(m):,} bytes of the package "
          "(manifest entry and tensor)")
    print(f"  size:    {format_bytes(pkg.file_bytes)}"
          + (f"; {format_bytes(pkg.device_bytes())} per single-user package"
             if len(m.users) > 1 else ""))
    width = max(len(v) for v in PARTS.values())
    for key, n in parts.items():
        share = 100 * n / pkg.file_bytes
        print(f"    {PARTS.get(key, key):<{width}} {n:>14,} bytes {share:6.2f}%")
    return 0


def _layout_summary(pkg) -> str:
    lay = pkg.manifest.layout
    if isinstance(lay, DenseLayout):
        return f"dense, width {lay.width} of {pkg.dim}"
    if isinstance(lay, BlockLayout):
        per_group = [len(s) for s in lay.groups]
        return (f"blocks, {lay.n_groups} groups x {lay.n_blocks} blocks of width "
                f"{pkg.manifest.block_width}, {len(lay.order)} (group, block) pairs shipped "
                f"({min(per_group)}-{max(per_group)} per group), rescale {lay.rescale}")
    if isinstance(lay, PQLayout):
        return (f"pq, {lay.m} sub-vectors of width {pkg.manifest.sub_width}, {lay.centroids} "
                f"centroids each ({lay.m} code bytes per item)")
    if isinstance(lay, QRLayout):
        return (f"qr, {pkg.manifest.quotient_rows:,} quotient x {lay.m:,} remainder rows of "
                f"width {pkg.manifest.dim}")
    widths = np.diff(pkg.tensors["offsets"].astype(np.int64))
    return (f"ragged, {lay.n_values:,} values, widths {int(widths.min(initial=0))}-"
            f"{int(widths.max(initial=0))}")


def _ids_summary(m) -> str:
    ids = m.items
    if ids.kind == "range":
        return f"range {ids.start}..{ids.start + m.n_items - 1}"
    if ids.kind == "delta":
        return f"delta-coded increasing integers from {ids.first} ({ids.n_bytes:,} varint bytes)"
    if ids.kind == "holes":
        return (f"integers {ids.start}..{ids.start + m.n_items + ids.n_holes - 1} but "
                f"{ids.n_holes:,} missing ({ids.n_bytes:,} varint bytes)")
    if ids.kind == "front":
        return f"front-coded strings ({ids.n_bytes:,} bytes)"
    if ids.kind == "catalogue":
        return f"catalogue reference {ids.fingerprint[:16]}... (the device's catalogue)"
    if ids.kind == "labels":
        return "labels in the manifest"
    return f"{ids.kind} tensor"
