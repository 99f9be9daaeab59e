"""`elasticrec demo`: the main job end to end on the default dataset.

Today: train LightGCN on gowalla with a short schedule, evaluate it by full ranking on the
test split, and print the table. The run lands in ``runs/demo/<timestamp>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from elasticrec.cli.common import (
    add_data_options,
    data_dir_from,
    format_table,
    log,
    show_progress,
)
from elasticrec.data.prepare import DataConfig
from elasticrec.models.config import ModelConfig
from elasticrec.train.config import TrainConfig
from elasticrec.train.run import train_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train and evaluate on the default dataset, end to end",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--epochs", type=int, default=10,
                   help="a short schedule; the benchmarks train longer (docs/results)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out / stamp
    log(f"demo: LightGCN on {args.dataset} for {args.epochs} epochs -> {run_dir}")
    record = train_run(
        run_dir, DataConfig(dataset=args.dataset), ModelConfig(model="lightgcn"),
        TrainConfig(epochs=args.epochs, batch_size=16384, lr=0.01, eval_every=0),
        data_dir=data_dir_from(args), download=not args.no_download,
        progress=show_progress(), log=log,
    )
    print(format_table([record], (20,)))
    log(f"trained in {record['seconds']:.0f}s; evaluated {record['n_test_users']} test users "
        f"in {record['eval_seconds']:.1f}s; run directory: {run_dir}")
    return 0
