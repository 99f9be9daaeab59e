"""`elasticrec evaluate`: full-ranking evaluation of a trained run on its test split.

With --package, the device packages exported from the run (without --user) are evaluated
instead, through the NumPy device runtime: the quality a device gets from what ships.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import elasticrec
from elasticrec.cli.common import about, add_data_options, data_dir_from, dumps, format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on its test split",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--k", type=int, nargs="+", default=[20], dest="ks")
    p.add_argument("--package", type=Path, nargs="+", default=None, metavar="FILE",
                   help="evaluate these packages exported from RUN_DIR instead of the model")
    p.add_argument("--json", action="store_true", help="print the record(s) as JSON")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ks = tuple(sorted(set(args.ks)))
    if any(k <= 0 for k in ks):
        raise ValueError(f"--k values must be positive, got {list(args.ks)}")
    run = elasticrec.load_run(args.run_dir)
    where = {"data_dir": data_dir_from(args), "download": not args.no_download}
    if args.package:
        records = []
        for path in args.package:
            with about(path):
                records.append(run.evaluate(ks, package=path, **where))
        for record, path in zip(records, args.package, strict=True):
            record["package"] = str(path)
        if args.json:
            print(dumps(records))
        else:
            print(format_table(records, ks, extra=("package_bytes", "device_bytes")))
        return 0
    record = run.evaluate(ks, **where)
    print(dumps(record) if args.json else format_table([record], ks))
    return 0
