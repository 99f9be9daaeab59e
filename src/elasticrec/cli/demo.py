"""`elasticrec demo`: the main job end to end on the default dataset.

PEEL on gowalla with BPR-MF: train once (elastic item embeddings in 32 blocks, RULE's
estimator, eight user groups each with its refined item table and learned block weights),
export device packages at three budgets, evaluate every test user through the NumPy device
runtime with their group's package, and print the table against the full model. A few
single-user packages are written to ``RUN_DIR/packages`` to show the real files. The run
lands in ``runs/demo/<timestamp>``; a short schedule (the benchmarks train longer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

from elasticrec.cli.common import add_data_options, data_dir_from, log, show_progress, table

BUDGETS = ("10%", "20%", "50%")


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
    from elasticrec.budget.units import format_bytes, parse_budget
    from elasticrec.data.prepare import DataConfig
    from elasticrec.elastic.config import ElasticConfig
    from elasticrec.elastic.state import load_elastic
    from elasticrec.embeddings import load_embeddings
    from elasticrec.export.builder import write_package
    from elasticrec.models.config import ModelConfig
    from elasticrec.peel.config import PeelConfig
    from elasticrec.peel.export import group_package, packages_quality
    from elasticrec.peel.state import load_peel
    from elasticrec.pipeline.fit import rebuild_data, train_run
    from elasticrec.train.config import TrainConfig

    t0 = time.perf_counter()
    run_dir = args.out / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log(f"demo: PEEL with BPR-MF on {args.dataset} -> {run_dir}")
    record = train_run(
        run_dir, DataConfig(dataset=args.dataset, valid_ratio=0.1), ModelConfig(model="mf"),
        TrainConfig(epochs=args.epochs, batch_size=8192, lr=5e-3, lr_decay=0.95, l2=2e-2,
                    eval_every=0),
        data_dir=data_dir_from(args), download=not args.no_download,
        progress=show_progress(), log=log,
        elastic=ElasticConfig(n_blocks=32, label_configs=args.label_configs, label_users=1000),
        peel=PeelConfig(l2=2e-2), workers=args.workers,
    )
    emb, state = load_embeddings(run_dir), load_peel(run_dir)
    item_group = load_elastic(run_dir).item_group
    data = rebuild_data(run_dir, data_dir=data_dir_from(args), download=False)
    known, test = data.known.to_csr(), data.test.to_csr()
    full_bytes = emb.item.shape[0] * emb.item.shape[1] * 4
    rows = [{"method": "full model (server)", "budget": format_bytes(full_bytes),
             "recall@20": record["recall@20"], "ndcg@20": record["ndcg@20"]}]
    rows.append({"method": "PEEL, every block (server)", "budget": format_bytes(full_bytes),
                 **{k: record["personalised"][k] for k in ("recall@20", "ndcg@20")}})
    rng = np.random.default_rng(0)
    out_dir = run_dir / "packages"
    out_dir.mkdir(exist_ok=True)
    for share in args.budgets:
        budget = parse_budget(share, full_table_bytes=full_bytes)
        per_user, info = packages_quality(emb, state, item_group, known, test, budget)
        rows.append({"method": f"PEEL package {share}", "budget": format_bytes(budget),
                     "recall@20": float(np.nanmean(per_user["recall@20"])),
                     "ndcg@20": float(np.nanmean(per_user["ndcg@20"])),
                     "device_bytes": info["device_bytes"],
                     "select_ms": f"{info['select_ms_max']:.1f}"})
        for user in rng.choice(len(emb.user), size=min(args.sample_users, len(emb.user)),
                               replace=False):
            c = int(state.user_cluster[user])
            pkg, _, _ = group_package(emb, state, item_group, c, np.array([user]), budget)
            write_package(out_dir / f"user{emb.user_labels[user]}-{share}.erpkg", pkg)
    for row in rows:
        row["of full"] = f"{row['recall@20'] / rows[0]['recall@20']:.0%}"
    print(table(rows, ["method", "budget", "device_bytes", "recall@20", "ndcg@20", "of full",
                       "select_ms"]))
    log(f"{record['n_test_users']} test users, each scored by their user group's package "
        f"through the NumPy runtime; sample packages in {out_dir}; "
        f"{time.perf_counter() - t0:.0f}s in all")
    return 0
