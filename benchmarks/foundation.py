"""Foundation benchmarks: base-model quality and wall time, epoch time, evaluation and load time.

Each sub-command measures one thing and upserts JSON records into
``docs/results/foundation.json``; ``table`` regenerates ``docs/results/foundation.md`` from it.

    python -m benchmarks.foundation train --dataset gowalla --model lightgcn --epochs 60 ...
    python -m benchmarks.foundation epoch --dataset gowalla --batch-size 2048
    python -m benchmarks.foundation eval --run runs/bench/gowalla-lightgcn
    python -m benchmarks.foundation load
    python -m benchmarks.foundation table
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

import elasticrec
from benchmarks import results

OUT = results.RESULTS_DIR / "foundation.json"
KEY = ("benchmark", "dataset", "model", "batch_size")
# The reference implementation (LightGCN-PyTorch, batch 2048, 64-d, 3 layers), measured on a
# machine of the 2-core kind this project's CI uses, as reported in the foundation issue.
REFERENCE_EPOCH_SECONDS = 442.0
# Published figures (Recall@20 / NDCG@20), labelled as such in the tables.
PUBLISHED = {
    ("gowalla", "lightgcn"): (0.1823, 0.1555, "LightGCN paper"),
    ("yelp2018", "lightgcn"): (0.0639, 0.0525, "LightGCN paper"),
    ("gowalla", "mf"): (0.1291, 0.1109, "NGCF paper (MF-BPR)"),
    ("yelp2018", "mf"): (0.0433, 0.0354, "NGCF paper (MF-BPR)"),
}


def data_dir(args: argparse.Namespace) -> Path:
    return elasticrec.resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                            os.environ.get("XDG_CACHE_HOME"))


def cmd_train(args: argparse.Namespace) -> list[dict]:
    run_dir = Path(args.runs) / f"{args.dataset}-{args.model}"
    run = elasticrec.fit(
        args.dataset, model=args.model, out=run_dir, dim=args.dim, n_layers=args.layers,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
        lr_min=args.lr_min, l2=args.l2, eval_every=args.eval_every, patience=0,
        seed=args.seed, data_dir=data_dir(args), resume=args.resume,
        monitor_test=args.eval_every > 0, progress=False,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    record = dict(run.result)
    record["test_curve"] = test_curve(run.history)
    published = PUBLISHED.get((args.dataset, args.model))
    record.update(benchmark="train", run_dir=str(run_dir), torch_threads=torch.get_num_threads(),
                  **results.provenance())
    if published:
        record.update(published_recall=published[0], published_ndcg=published[1],
                      published_source=published[2])
    return [record]


def test_curve(history: list[dict]) -> list[list[float]]:
    """[epoch, recall@20, ndcg@20] at every test-monitoring epoch of a run (learning curve)."""
    return [[r["epoch"], r["test/recall@20"], r["test/ndcg@20"]] for r in history
            if "test/recall@20" in r]


def cmd_curves(_args: argparse.Namespace) -> list[dict]:
    """Attach each training record's learning curve from its run's history (records whose
    run folder is not on this machine keep theirs)."""
    records = [r for r in results.load(OUT) if r["benchmark"] == "train"
               and (Path(r["run_dir"]) / "run.json").is_file()]
    for r in records:
        r["test_curve"] = test_curve(elasticrec.load_run(r["run_dir"], verify=False).history)
    return records


def cmd_epoch(args: argparse.Namespace) -> list[dict]:
    """Seconds for one full training epoch (every training pair once) of each base model:
    a one-epoch run's training time (its history), not counting the data, the model's
    construction or the final evaluation."""
    out = []
    for model_name in args.models:
        run = elasticrec.fit(args.dataset, model=model_name, epochs=1,
                             batch_size=args.batch_size, eval_every=0,
                             data_dir=data_dir(args), progress=False, log=lambda _m: None)
        seconds = run.history[0]["train_seconds"]
        rec = {"benchmark": "epoch", "dataset": run.result["dataset"], "model": model_name,
               "method": "full", "batch_size": args.batch_size, "seconds": seconds,
               "threads": torch.get_num_threads(), **results.provenance()}
        if model_name == "lightgcn":
            rec["reference_seconds"] = REFERENCE_EPOCH_SECONDS
            rec["speedup_vs_reference"] = REFERENCE_EPOCH_SECONDS / seconds
        out.append(rec)
        print(rec, file=sys.stderr)
    return out


def cmd_eval(args: argparse.Namespace) -> list[dict]:
    """Full-ranking evaluation time over every test user of a trained run."""
    run = elasticrec.load_run(args.run)
    run.data(data_dir=data_dir(args))
    timings = []
    for _ in range(args.repeat):
        res = run.evaluate()
        timings.append(res["seconds"])
    n_items, dim = run.embeddings.item.shape
    return [{"benchmark": "eval", "dataset": res["dataset"], "model": run.model,
             "method": "full", "batch_size": None, "n_users": res["n_test_users"],
             "n_items": n_items, "dim": dim, "seconds": float(np.median(timings)),
             "seconds_all": timings, **{k: v for k, v in res.items() if "@" in k},
             **results.provenance()}]


def cmd_load(args: argparse.Namespace) -> list[dict]:
    out = []
    for name in elasticrec.DATASETS:
        timings = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ds = elasticrec.load_dataset(name, data_dir(args), download=False)
            timings.append(time.perf_counter() - t0)
        n = len(ds.train) + (len(ds.test) if ds.test is not None else 0)
        out.append({"benchmark": "load", "dataset": name, "model": None, "method": None,
                    "batch_size": None, "events": n, "n_users": ds.train.n_users,
                    "n_items": ds.train.n_items, "seconds": float(np.median(timings)),
                    **results.provenance()})
    return out


def cmd_table(_args: argparse.Namespace) -> list[dict]:
    records = results.load(OUT)
    by = {b: [r for r in records if r["benchmark"] == b] for b in ("train", "epoch", "eval",
                                                                    "load")}
    parts = [
        "# Foundation results",
        "",
        "Generated by `python -m benchmarks.foundation table` from `foundation.json`; every "
        "record carries its date, machine and commit. Published figures are labelled as such.",
        "",
        "## Base models: quality on the test split and wall time",
        "",
        "Full ranking over all items with each user's training items excluded; standard NDCG. "
        "Trained for a fixed number of epochs on the given train split and evaluated once at "
        "the end (no model selection on the test split). `published_*` are the papers' "
        "figures, not measured here. `seconds` is the training wall time (test-curve "
        "evaluations every 10 epochs included), on a machine shared with other jobs.",
        "",
        results.markdown_table(by["train"], ["dataset", "model", "recall@20", "ndcg@20",
                                             "published_recall", "published_ndcg",
                                             "published_source", "epochs", "batch_size", "lr",
                                             "lr_decay", "l2", "sampling", "seconds",
                                             "seconds_per_epoch", "date", "commit"]),
        "",
        "Test Recall@20 / NDCG@20 during training (learning curves; never used to select "
        "a model):",
        "",
        *[f"- {r['dataset']} {r['model']}: " + ", ".join(
            f"epoch {e}: {rc:.4f} / {nd:.4f}" for e, rc, nd in r.get("test_curve", []))
          for r in by["train"] if r.get("test_curve")],
        "",
        "## One training epoch",
        "",
        results.markdown_table(by["epoch"], ["dataset", "model", "batch_size", "seconds",
                                             "reference_seconds", "speedup_vs_reference",
                                             "threads", "date", "commit"]),
        "",
        "## Full-ranking evaluation of every test user",
        "",
        results.markdown_table(by["eval"], ["dataset", "model", "n_users", "n_items", "dim",
                                            "seconds", "date", "commit"]),
        "",
        "## Dataset load time",
        "",
        results.markdown_table(by["load"], ["dataset", "events", "n_users", "n_items",
                                            "seconds", "date", "commit"]),
        "",
        "Machines: " + "; ".join(sorted({r["machine"] for r in records})),
        "",
    ]
    results.write_text(OUT.with_suffix(".md"), "\n".join(parts))
    return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.foundation",
                                description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--torch-threads", type=int, default=1,
                   help="PyTorch intra-op threads (default 1: its OpenMP threads stall when "
                        "the cores are shared; sparse propagation has its own thread pool)")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a base model and record its test quality and time")
    t.add_argument("--dataset", required=True)
    t.add_argument("--model", choices=("mf", "lightgcn"), required=True)
    t.add_argument("--runs", default="runs/bench")
    t.add_argument("--dim", type=int, default=64)
    t.add_argument("--layers", type=int, default=3)
    t.add_argument("--epochs", type=int, required=True)
    t.add_argument("--batch-size", type=int, default=2048)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--lr-decay", type=float, default=1.0)
    t.add_argument("--lr-min", type=float, default=0.0)
    t.add_argument("--l2", type=float, default=1e-4)
    t.add_argument("--eval-every", type=int, default=0,
                   help="log test metrics every N epochs (learning curve only)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("epoch", help="seconds per training epoch")
    e.add_argument("--dataset", default="gowalla")
    e.add_argument("--batch-size", type=int, default=2048)
    e.add_argument("--models", nargs="+", default=["mf", "lightgcn"])
    e.set_defaults(fn=cmd_epoch)
    v = sub.add_parser("eval", help="full-ranking evaluation time of a trained run")
    v.add_argument("--run", required=True)
    v.add_argument("--repeat", type=int, default=3)
    v.set_defaults(fn=cmd_eval)
    ld = sub.add_parser("load", help="load time of every registered dataset")
    ld.add_argument("--repeat", type=int, default=3)
    ld.set_defaults(fn=cmd_load)
    sub.add_parser("table", help="regenerate foundation.md from foundation.json").set_defaults(
        fn=cmd_table)
    sub.add_parser("curves", help="attach learning curves from the runs' metrics.jsonl"
                   ).set_defaults(fn=cmd_curves)
    args = p.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    records = args.fn(args)
    if records:
        results.upsert(OUT, records, KEY)
        cmd_table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
