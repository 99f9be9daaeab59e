"""`elasticrec demo`: the main job end to end on the default dataset.

PEEL on gowalla with BPR-MF: train once (elastic item embeddings in 32 blocks, RULE's
estimator, eight user groups each with its refined item table and learned block weights),
export device packages at three budgets (each in the value type that scores best on
validation), evaluate every test user through the NumPy device
runtime with their group's package, and print the table against the full model and the
training-free baseline a practitioner would try first (the same tables rotated by the
score-preserving basis, cut to a prefix, in int8). A few
single-user packages are written to ``RUN_DIR/packages`` to show the real files. The run
lands in ``runs/demo/<timestamp>``; a short schedule (the benchmarks train longer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

import elasticrec
from elasticrec.cli.common import add_data_options, data_dir_from, log, show_progress, table

BUDGETS = ("10%", "20%", "50%")
# A table size for checking a budget's form before the real table exists: any share that
# is a number, unit or percentage up to 100% parses against it.
SYNTAX_ONLY = 1 << 62


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="PEEL end to end on the default dataset",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--epochs", type=int, default=20,
                   help="pretraining epochs; a short schedule (docs/results train longer)")
    p.add_argument("--budgets", nargs="+", default=list(BUDGETS),
                   help="device budgets: shares of the full float32 item table, or bytes")
    p.add_argument("--label-configs", type=int, default=150,
                   help="block configurations labelled for RULE's estimator")
    p.add_argument("--sample-users", type=int, default=3,
                   help="single-user packages written per budget, for a look at real files")
    p.add_argument("--workers", type=int, default=2, help="processes refining user groups")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    for share in args.budgets:  # every budget's form is checked before anything is trained
        elasticrec.parse_budget(share, full_table_bytes=SYNTAX_ONLY)
    run_dir = args.out / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log(f"demo: PEEL with BPR-MF on {args.dataset} -> {run_dir}")
    run = elasticrec.fit(
        args.dataset, model="mf", method="peel", out=run_dir, data_dir=data_dir_from(args),
        download=not args.no_download, progress=show_progress(), log=log,
        workers=args.workers, valid_ratio=0.1, epochs=args.epochs, batch_size=8192, lr=5e-3,
        lr_decay=0.95, l2=2e-2, eval_every=0, n_blocks=32, label_configs=args.label_configs,
        label_users=1000, peel_l2=2e-2)
    record = run.result
    full_bytes = run.full_table_bytes
    rows = [{"method": "full model (server)", "budget": elasticrec.format_bytes(full_bytes),
             "recall@20": record["recall@20"], "ndcg@20": record["ndcg@20"]}]
    rows.append({"method": "PEEL, every block (server)",
                 "budget": elasticrec.format_bytes(full_bytes),
                 **{k: record["personalised"][k] for k in ("recall@20", "ndcg@20")}})
    rng = np.random.default_rng(0)
    out_dir = run_dir / "packages"
    for share in args.budgets:
        quality = run.evaluate(budget=share, dtype="auto")
        dtype = run.choose_dtype(share)[0]  # the value type that did best on validation
        rows.append({"method": f"PEEL package {share}, {dtype}",
                     "budget": elasticrec.format_bytes(quality["budget_bytes"]),
                     "recall@20": quality["recall@20"], "ndcg@20": quality["ndcg@20"],
                     "device_bytes": quality["device_bytes"],
                     "select_ms": f"{quality['select_ms_max']:.1f}"})
        baseline = elasticrec.export_embeddings(run.embeddings, quality["budget_bytes"],
                                                dtype="int8")  # every user's, as evaluated
        free = run.evaluate(package=baseline.data)
        rows.append({"method": f"rotated int8 prefix {share} (no training)",
                     "budget": elasticrec.format_bytes(quality["budget_bytes"]),
                     "recall@20": free["recall@20"], "ndcg@20": free["ndcg@20"],
                     "device_bytes": baseline.info["device_bytes"]})
        users = rng.choice(run.user_ids, size=min(args.sample_users, len(run.user_ids)),
                           replace=False)
        for user in users:
            elasticrec.write_bytes(out_dir / f"user{user}-{share}.erpkg",
                                   run.export(share, user=user, dtype="auto"))
    for row in rows:
        row["of full"] = f"{row['recall@20'] / rows[0]['recall@20']:.0%}"
    print(table(rows, ["method", "budget", "device_bytes", "recall@20", "ndcg@20", "of full",
                       "select_ms"]))
    log(f"{record['n_test_users']} test users, each scored by their user group's package "
        f"through the NumPy runtime; sample packages in {out_dir}; "
        f"{time.perf_counter() - t0:.0f}s in all")
    return 0
