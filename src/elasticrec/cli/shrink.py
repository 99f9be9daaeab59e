"""`elasticrec shrink`: cut a package to a smaller budget, as a device would (no server)."""

from __future__ import annotations

import argparse
from pathlib import Path

from elasticrec import format_bytes, parse_budget, write_bytes
from elasticrec.runtime import load, load_bytes, shrink


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shrink", help="cut a package to a smaller budget on the device",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--budget", required=True,
                   help="bytes: 2MB, 512KiB, 300000, or 10%% of the full float32 item table")
    p.add_argument("--out", type=Path, required=True, metavar="FILE2")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    pkg = load(args.file)
    budget = parse_budget(args.budget, full_table_bytes=pkg.n_items * pkg.dim * 4)
    data = shrink(pkg, budget)
    small = load_bytes(data)
    write_bytes(args.out, data)
    print(f"wrote {args.out}: {format_bytes(len(data))} (was {format_bytes(pkg.file_bytes)}); "
          f"budget {format_bytes(budget)}, {small.manifest.layout}")
    return 0
