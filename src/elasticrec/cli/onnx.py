"""`elasticrec onnx`: export a package's scoring and top-k as an ONNX (or ORT-format) model.

Integer values stay integers in the model (DequantizeLinear), the id map and the package's
user vector are inside it. With --budget the model file is held to that many bytes like a
package: when it is larger, the package is first shrunk (as a device would shrink it) until
the model fits. Sessions in onnxruntime should set session.qdq_matmulnbits_accuracy_level=1,
else onnxruntime quantises the user vector to int8 when it fuses DequantizeLinear + MatMul.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elasticrec import format_bytes, parse_budget, write_bytes
from elasticrec.runtime import load, load_bytes, shrink

FORMATS = ("onnx", "ort")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("onnx", help="export a package as an ONNX model",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("-k", type=int, default=20, help="top-k computed by the model (default 20)")
    p.add_argument("--format", choices=FORMATS, default="onnx",
                   help="onnx (default), or ort: onnxruntime's ORT format for mobile builds")
    p.add_argument("--budget", default=None,
                   help="bytes of the model file (2MB, 512KiB, 300000, or 10%% of the full "
                        "float32 item table); default: no limit")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL.onnx")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticrec import ElasticrecError, package_to_onnx, package_to_ort

    def export(package) -> bytes:
        if args.format == "ort":
            return package_to_ort(package, k=args.k)
        return package_to_onnx(package, k=args.k).SerializeToString()

    pkg = load(args.file)
    data = export(pkg)
    note = ""
    if args.budget is not None:
        budget = parse_budget(args.budget, full_table_bytes=pkg.n_items * pkg.dim * 4)
        for _ in range(20):  # the model shrinks with the package: a few rounds suffice
            if len(data) <= budget:
                break
            target = pkg.device_bytes() - (len(data) - budget)
            try:
                pkg = load_bytes(shrink(pkg, target))
            except ElasticrecError as exc:
                raise ElasticrecError(f"the {args.format} model needs {format_bytes(len(data))}"
                                      f", over the budget of {format_bytes(budget)}, and the "
                                      f"package cannot shrink further ({exc})") from None
            data = export(pkg)
            note = f"; the package was shrunk to {format_bytes(pkg.file_bytes)} to fit"
        if len(data) > budget:
            raise ElasticrecError(f"the {args.format} model needs {format_bytes(len(data))}, "
                                  f"over the budget of {format_bytes(budget)}")
        note = f"; budget {format_bytes(budget)}" + note
    write_bytes(args.out, data)
    print(f"wrote {args.out}: {format_bytes(len(data))} ({args.format}; the package is "
          f"{format_bytes(pkg.file_bytes)}){note}; inputs user [D] (default: the package's "
          f"user), exclude [M]; outputs scores, top_scores, top_items, top_ids (k={args.k})")
    return 0
