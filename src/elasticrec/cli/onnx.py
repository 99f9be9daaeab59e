"""`elasticrec onnx`: export a package's scoring and top-k as an ONNX model for mobile runtimes."""

from __future__ import annotations

import argparse
from pathlib import Path

from elasticrec import format_bytes, write_bytes
from elasticrec.runtime import load


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("onnx", help="export a package as an ONNX model",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("-k", type=int, default=20, help="top-k computed by the model (default 20)")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL.onnx")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticrec import package_to_onnx

    model = package_to_onnx(load(args.file), k=args.k)
    data = model.SerializeToString()
    write_bytes(args.out, data)
    print(f"wrote {args.out}: {format_bytes(len(data))}; inputs user [D], exclude [M]; "
          f"outputs scores, top_scores, top_items (k={args.k})")
    return 0
