"""`elasticrec export`: package a trained run for a device, within a budget in bytes.

Until RULE and PEEL land, the method is the dense baseline: every item ships the first W
positions of its trained vector, for the widest W whose package fits the budget (header,
user vectors and id map included). Without --user the package carries every user's vector
(what evaluation uses) and the budget bounds each single-user package cut from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elasticrec.budget.selection import DenseSelection
from elasticrec.budget.units import format_bytes, parse_budget
from elasticrec.errors import ElasticrecError
from elasticrec.package.builder import BuildOptions, build, fit, plan, write_package
from elasticrec.package.sizes import device_bytes

DTYPES = ("float32", "float16", "int8")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="package a trained run for a device within a budget",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="an `elasticrec train` run")
    p.add_argument("--budget", required=True,
                   help="bytes of the package: 2MB, 512KiB, 300000, or 10%% of the full "
                        "float32 item table")
    p.add_argument("--user", default=None, metavar="ID",
                   help="the user's id as in the source data (default: every user)")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="item value type")
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticrec.train.rundir import load_embeddings

    emb = load_embeddings(args.run_dir)
    n_items, dim = emb.item.shape
    budget = parse_budget(args.budget, full_table_bytes=n_items * dim * 4)
    users = None
    if args.user is not None:
        labels = [str(x) for x in emb.user_labels]
        if args.user not in labels:
            raise ElasticrecError(f"user {args.user!r} is not in {args.run_dir}")
        users = (labels.index(args.user),)
    options = BuildOptions(value_dtype=args.dtype, users=users, method="dense-truncate")
    selection = fit(emb, DenseSelection(dim), options, budget)
    data = build(emb, selection, options, budget_bytes=budget)
    write_package(args.out, data)
    n_users = 1 if users else len(emb.user)
    per_device = ""
    if n_users > 1:
        per_device = (f"; each single-user package is at most "
                      f"{format_bytes(device_bytes(plan(emb, selection, options)))}")
    print(f"wrote {args.out}: {format_bytes(len(data))}, dense width {selection.width} of {dim}, "
          f"{args.dtype}, {n_users} user(s); budget {format_bytes(budget)}{per_device}")
    return 0
