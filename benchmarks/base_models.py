"""Base models as a newcomer gets them, and the best schedules found: quality and wall time.

Every record is one ``elasticrec train`` command, run exactly as written in the record
(``argv``), in ``runs/base_models/<dataset>/<label>/``: ``defaults`` rows give only
``--dataset`` and ``--model`` (pop, mf, lightgcn), so they measure what the defaults do
(validation split, lr/L2 search, early stopping; docs/training.md); other labels name a
schedule given in full. An unfinished run folder is continued with ``--resume`` (the record
says so); a finished one is read again, not retrained. Records go to
``docs/results/base_models.json``; ``table`` writes ``base_models.md``.

    python -m benchmarks.base_models run --dataset ml-100k --model mf
    python -m benchmarks.base_models run --dataset gowalla --model mf --label ccl-1000 \\
        -- --loss ccl --n-negatives 1000 --lr 1e-3 --l2 1e-5 --epochs 60 --valid-ratio 0
    python -m benchmarks.base_models table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks import results
from elasticrec.cli import main as cli

OUT = results.RESULTS_DIR / "base_models.json"
FOUNDATION = results.RESULTS_DIR / "foundation.json"  # the fixed schedules' base models
KEY = ("benchmark", "dataset", "model", "label")
DATASETS = ("gowalla", "yelp2018", "amazon-grocery", "ml-latest-small", "ml-100k", "ciaodvd")
PUBLISHED = {  # Recall@20 on the same splits, 64-d; papers' figures, not measured here
    ("gowalla", "lightgcn"): (0.1830, "LightGCN paper"),
    ("yelp2018", "lightgcn"): (0.0649, "LightGCN paper"),
    ("gowalla", "mf"): (0.1627, "BARS MF-BPR"),
    ("yelp2018", "mf"): (0.0576, "BARS MF-BPR"),
}
PUBLISHED_CCL = {"gowalla": (0.1837, "BARS MF-CCL"), "yelp2018": (0.0698, "BARS MF-CCL")}


def log(msg: str) -> None:
    print(f"[base_models] {msg}", file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> None:
    out = Path(args.runs) / args.dataset / f"{args.model}-{args.label}"
    extra = [a for a in args.extra if a != "--"]
    if args.label == "defaults" and extra:
        raise SystemExit("a 'defaults' row takes no training options; give it another --label")
    argv = ["train", "--dataset", args.dataset, "--model", args.model, "--out", str(out),
            *extra]
    resumed = False
    if not (out / "run.json").is_file():
        if (out / "checkpoint.safetensors").is_file():
            argv.append("--resume")
            resumed = True
        elif out.exists():  # begun but without a checkpoint yet: start again
            for f in sorted(out.iterdir()):
                f.unlink()
            out.rmdir()
        log(" ".join(argv))
        t0 = time.perf_counter()
        if cli(argv) != 0:
            raise SystemExit(f"elasticrec {' '.join(argv)} failed")
        wall = time.perf_counter() - t0
    else:
        wall = None
    result = json.loads((out / "result.json").read_text())
    search = result.get("search") or {}
    record = {
        "benchmark": "base", "dataset": args.dataset, "model": args.model,
        "label": args.label, "argv": " ".join(argv[:-1] if resumed else argv),
        "resumed": resumed or args.resumed, "run_dir": str(out),
        "torch_threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
        **{k: result.get(k) for k in ("recall@20", "ndcg@20", "loss", "lr", "l2", "epochs",
                                       "best_epoch", "seconds", "seconds_per_epoch",
                                       "valid_ratio", "valid_recall@20", "batch_size")},
        "search_seconds": search.get("seconds"), "search_trials": len(search.get("trials", [])),
        "search_epochs": search.get("epochs"),
        "command_seconds": wall,
    }
    if args.model == "pop":  # nothing trained: no schedule to report
        record.update(loss=None, lr=None, l2=None, batch_size=None)
    for loss in ("ccl", "bpr"):  # the search's best validation score of each loss
        scores = [(rung["recall@20"], rung["epochs"]) for t in search.get("trials", [])
                  if t["loss"] == loss for rung in t["rungs"]]
        if scores:
            record[f"search_valid_{loss}"], record[f"search_epochs_{loss}"] = max(scores)
    published = (PUBLISHED_CCL.get(args.dataset) if result.get("loss") == "ccl"
                 else PUBLISHED.get((args.dataset, args.model)))
    if published is not None and args.model != "pop":
        record.update(published_recall=published[0], published_source=published[1])
    earlier = [r for r in results.load(OUT)
               if tuple(r.get(k) for k in KEY) == tuple(record.get(k) for k in KEY)]
    if wall is None and earlier:  # read back, not rerun: keep when and where it ran
        record.update({k: earlier[0].get(k) for k in ("date", "machine", "commit",
                                                       "command_seconds", "resumed")})
        results.upsert(OUT, [record], KEY)
    else:
        results.upsert(OUT, [{**record, **results.provenance()}], KEY)
    log(f"{args.dataset} {args.model} {args.label}: recall@20 {record['recall@20']:.4f}")


def cmd_table(args: argparse.Namespace) -> None:
    records = results.load(OUT)
    order = {d: i for i, d in enumerate(DATASETS)}
    rows = sorted(records, key=lambda r: (order.get(r["dataset"], 99), r["label"] != "defaults",
                                          ("pop", "mf", "lightgcn").index(r["model"]),
                                          r["label"]))
    defaults = [r for r in rows if r["label"] == "defaults"]
    best = [r for r in rows if r["label"] != "defaults"]
    pop = {r["dataset"]: r["recall@20"] for r in defaults if r["model"] == "pop"}
    top, top_model = {}, {}
    fixed = [r for r in results.load(FOUNDATION) if r.get("benchmark") == "train"]
    for r in rows + fixed:
        if r["model"] != "pop":
            key = r["dataset"], r["model"]
            top[r["dataset"]] = max(top.get(r["dataset"], 0.0), r["recall@20"])
            top_model[key] = max(top_model.get(key, 0.0), r["recall@20"])
    for r in defaults:
        if r["model"] != "pop" and r["dataset"] in pop:
            r["beats_pop"] = "yes" if r["recall@20"] > pop[r["dataset"]] else "no"
            r["of_best_model"] = r["recall@20"] / top_model[r["dataset"], r["model"]]
            r["of_best"] = r["recall@20"] / top[r["dataset"]]
    cols_d = ["dataset", "model", "recall@20", "ndcg@20", "beats_pop", "of_best_model",
              "of_best", "loss", "lr",
              "l2", "search_trials", "search_epochs", "epochs", "best_epoch",
              "valid_recall@20", "search_seconds", "seconds", "date", "commit"]
    cols_b = ["dataset", "model", "label", "recall@20", "ndcg@20", "published_recall",
              "published_source", "loss", "lr", "l2", "batch_size", "epochs", "best_epoch",
              "valid_ratio", "seconds", "seconds_per_epoch", "resumed", "argv", "date",
              "commit"]
    searched = [r for r in defaults if r.get("search_trials")]
    have = {(r["dataset"], r["model"]) for r in defaults}
    missing = [f"{d} {m}" for d in DATASETS for m in ("pop", "mf", "lightgcn")
               if (d, m) not in have]
    cols_s = ["dataset", "model", "search_trials", "search_valid_ccl", "search_epochs_ccl",
              "search_valid_bpr", "search_epochs_bpr", "loss", "lr", "l2"]
    text = "\n\n".join([
        "# Base models",
        "Generated by `python -m benchmarks.base_models table` from `base_models.json`; each "
        "row is the `elasticrec train` command in its record. Test Recall@20 / NDCG@20, full "
        "ranking, each user's known events excluded. `published_*` are papers' figures, not "
        "measured here. `seconds`: training wall time including the search and validations, "
        "on the shared 2-core machine (other jobs running: times are upper bounds).",
        "## What a newcomer gets: `elasticrec train --dataset D --model M`, nothing else",
        "`beats_pop`: test Recall@20 above the most-popular ranking's; `of_best_model`: the "
        "share of the best Recall@20 recorded for that dataset and model (any row of this "
        "file, the schedules given in full included, and the fixed schedules of "
        "[foundation.md](foundation.md)); `of_best`: of the best for that dataset, any "
        "model.",
        results.markdown_table(defaults, cols_d),
        "Not measured (no finished default run recorded): " + ", ".join(missing) + "."
        if missing else "Every shared dataset has its three rows.",
        "## The loss, chosen on validation",
        "The best validation Recall@20 each loss reached in the default run's search, and "
        "the epochs it had trained then (successive halving: the losers stop early); "
        "`loss`, `lr`, `l2`: the search's choice. Never the test split.",
        results.markdown_table(searched, cols_s),
        "## Against the published figures (gowalla, yelp2018)",
        "The best Recall@20 measured here for each model and loss, from this file and from "
        "the fixed schedules of [foundation.md](foundation.md) (`source`), with its "
        "training wall time; `published_*` are papers' figures on the same splits (64-d, "
        "GPU schedules of hundreds of epochs), not measured here.",
        results.markdown_table(published_rows(records), [
            "dataset", "model", "loss", "recall@20", "of_published", "published_recall",
            "published_source", "epochs", "seconds", "source", "label"]),
        "## Schedules given in full",
        results.markdown_table(best, cols_b) if best else "(none recorded yet)",
        results.measured(records),
    ])
    results.write_text(OUT.with_suffix(".md"), text + "\n")


def published_rows(records: list[dict]) -> list[dict]:
    """Per published figure, the best measured row of its model and loss (BPR unless CCL)."""
    measured = [{**r, "source": "base_models"} for r in records if r["model"] != "pop"]
    measured += [{**r, "loss": "bpr", "source": "foundation", "label": "fixed schedule"}
                 for r in results.load(FOUNDATION) if r.get("benchmark") == "train"]
    rows = []
    figures = [(d, m, "bpr", fig) for (d, m), fig in PUBLISHED.items()]
    figures += [(d, "mf", "ccl", fig) for d, fig in PUBLISHED_CCL.items()]
    for dataset, model, loss, (recall, source) in figures:
        same = [r for r in measured if (r["dataset"], r["model"], r.get("loss") or "bpr")
                == (dataset, model, loss)]
        best = max(same, key=lambda r: r["recall@20"], default=None)
        row = {"dataset": dataset, "model": model, "loss": loss, "published_recall": recall,
               "published_source": source}
        if best is not None:
            row.update({k: best.get(k) for k in ("recall@20", "epochs", "seconds", "source",
                                                  "label")},
                       of_published=best["recall@20"] / recall)
        rows.append(row)
    return sorted(rows, key=lambda r: (DATASETS.index(r["dataset"]), r["model"], r["loss"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.base_models", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or read back) one elasticrec train command")
    r.add_argument("--dataset", required=True)
    r.add_argument("--model", required=True, choices=("pop", "mf", "lightgcn"))
    r.add_argument("--label", default="defaults")
    r.add_argument("--runs", default="runs/base_models")
    r.add_argument("--resumed", action="store_true",
                   help="record that the run was continued across sittings")
    r.add_argument("extra", nargs=argparse.REMAINDER, help="-- then training options")
    r.set_defaults(fn=cmd_run)
    t = sub.add_parser("table", help="write base_models.md from base_models.json")
    t.set_defaults(fn=cmd_table)
    args = p.parse_args(argv)
    args.fn(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
