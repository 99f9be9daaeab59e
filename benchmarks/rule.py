"""RULE against its baselines at the same byte budgets, measured on the packages that ship.

``run --dataset NAME`` trains, on one split (the dataset's train/test split with 10% of each
user's training events held out for validation), with one BPR-MF recipe:

* the RULE model once (elastic item embeddings in ``--blocks`` blocks, estimator fitted on
  validation labels), and, with ``--ablation [no-diversity] [cosine]``, the same model
  without the diversity regulariser and with its bounded cosine form at weight 0.1;
* a plain 64-d model (the full model) and a plain model retrained at every budget at the
  widest uniform width whose package fits (the retrained-uniform baseline).

Then, for every budget (a share of the full 64-d float32 item table, counted on the
single-user package as ``elasticrec export`` counts it), it exports every user's package from
each selection, loads it with the NumPy runtime and evaluates it by full ranking on the test
split: RULE's search (P=20, S=5, C=1000 cycles with the greedy configuration among the
initial members, and the released setting: C=50 from random members), greedy by estimator,
random block sets (3 seeds) of the same model, the dense truncation of the full model, the
retrained uniform model, and the full model itself. It also times
``elasticrec export --user`` end to end in a fresh process. Records (with date, machine and
commit) are upserted into ``docs/results/rule.json``; ``table`` regenerates ``rule.md`` and
``rule.png`` from it.

Usage: ``python -m benchmarks.rule run --dataset gowalla [--ablation]`` then
``python -m benchmarks.rule table``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import elasticrec
from benchmarks import results

OUT = results.RESULTS_DIR / "rule.json"
KEY = ("benchmark", "dataset", "method", "budget")
BUDGETS = ("5%", "10%", "20%", "50%")
FULL_DIM = 64
SEARCHES = {"rule-search": False, "rule-search-released": True}  # released_search
RANDOM_SEEDS = (0, 1, 2)
ESTIMATORS = elasticrec.option_choices()["estimator"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


ABLATIONS = ("no-diversity", "cosine")


def recipe(args: argparse.Namespace) -> dict:
    """One BPR-MF recipe for every model: ``elasticrec.fit`` options."""
    return dict(model="mf", epochs=args.epochs, batch_size=8192, lr=5e-3, lr_decay=0.95,
                l2=2e-2, eval_every=0, seed=0, valid_ratio=0.1)


def train(run_dir: Path, dim: int, args: argparse.Namespace, method: str = "full",
          **elastic) -> elasticrec.Run:
    """Train (or reuse a finished run in ``run_dir``) and return it."""
    if (run_dir / "run.json").is_file():
        return elasticrec.load_run(run_dir)
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)  # an unfinished run from an interrupted benchmark
    log(f"training {run_dir}")
    return elasticrec.fit(args.dataset, method=method, out=run_dir, data_dir=args.data_dir,
                          dim=dim, log=log, progress=False, **recipe(args), **elastic)


def cmd_run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.torch_threads)
    runs = Path(args.runs) / args.dataset
    elastic = dict(n_blocks=args.blocks, label_configs=args.label_configs,
                   label_users=args.label_users)
    variants = {"rule": elastic}
    ablations = ABLATIONS if args.ablation == [] else (args.ablation or ())
    if "no-diversity" in ablations:  # the regulariser off
        variants["rule-no-diversity"] = {**elastic, "diversity": 0.0}
    if "cosine" in ablations:  # a bounded form strong enough to act
        variants["rule-cosine"] = {**elastic, "diversity": 0.1, "diversity_form": "cosine"}
    trained = {name: train(runs / name, FULL_DIM, args, "rule", **cfg)
               for name, cfg in variants.items()}
    trained["full"] = train(runs / "full", FULL_DIM, args)
    records = [training_record(args.dataset, name, run.result) for name, run in trained.items()]
    rule_run, full_run = trained["rule"], trained["full"]

    def evaluate(run: elasticrec.Run, package: bytes, method: str, share: str, budget: int,
                 **extra) -> dict:
        res = run.evaluate(package=package)
        rec = {"benchmark": "quality", "dataset": args.dataset, "model": "mf",
               "method": method, "budget": share, "budget_bytes": budget,
               "device_bytes": res["device_bytes"], "recall@20": res["recall@20"],
               "ndcg@20": res["ndcg@20"], **extra}
        assert rec["device_bytes"] <= budget or share == "full", rec
        log(f"{method:24s} {share:>5s} recall@20 {rec['recall@20']:.4f} "
            f"ndcg@20 {rec['ndcg@20']:.4f} ({rec['device_bytes']:,} of {budget:,} bytes)")
        return rec

    # the full model: every position of every item (a budget no package reaches)
    whole = full_run.export_detailed(2 * full_run.full_table_bytes + 2**20, bundle=True)
    assert whole.info["width"] == FULL_DIM, whole.info
    records.append(evaluate(full_run, whole.data, "full", "full", whole.info["device_bytes"]))
    for share in args.budgets:
        budget = rule_run.budget_bytes(share)
        # the same elastic model under four selections
        for name in variants:
            strategies = [("rule-search", "search", 0)] if name != "rule" else (
                [(m, "search", 0) for m in SEARCHES] + [("rule-greedy", "greedy", 0)]
                + [("rule-random", "random", s) for s in RANDOM_SEEDS])
            for method, strategy, seed in strategies:
                label = method if name == "rule" else name
                got = trained[name].export_detailed(share, strategy=strategy, seed=seed,
                                                    released_search=SEARCHES.get(method, False),
                                                    bundle=True)
                info = got.info
                records.append(evaluate(trained[name], got.data, label, share, budget,
                                        estimate=info["estimate"], blocks=info["blocks"],
                                        search_seconds=info["seconds"],
                                        estimator_calls=info["estimator_calls"], seed=seed))
        # the full model cut to its first columns, and a model retrained at that width
        dense = full_run.export_detailed(share, bundle=True)
        width = dense.info["width"]
        records.append(evaluate(full_run, dense.data, "dense-truncate", share, budget,
                                width=width))
        uniform = train(runs / f"uniform-{width}", width, args)
        records.append(training_record(args.dataset, f"uniform-{width}", uniform.result))
        shipped = uniform.export_detailed(budget, bundle=True)
        assert shipped.info["width"] == width, shipped.info
        records.append(evaluate(uniform, shipped.data, "uniform-retrained", share, budget,
                                width=width, train_seconds=uniform.result["seconds"]))
        with tempfile.TemporaryDirectory() as tmp:
            records.append(export_timing(args, rule_run, share, budget, Path(tmp)))
    records = [{**r, **results.provenance()} for r in records]
    results.upsert(args.results, records, KEY, replace_dataset=args.dataset)
    cmd_table(args)


def training_record(dataset: str, name: str, rec: dict) -> dict:
    out = {"benchmark": "train", "dataset": dataset, "model": "mf", "method": name,
           "budget": "-", "seconds": rec["seconds"], "dim": rec["dim"],
           "recall@20": rec["recall@20"], "ndcg@20": rec["ndcg@20"]}
    if "estimator" in rec:
        est = rec["estimator"]
        out.update(block_similarity=rec["block_similarity"],
                   estimator=est.get("estimator", "nfm"),
                   spearman_held_out=est["spearman_held_out"],
                   spearman_within_size=est["spearman_held_out_within_size"],
                   **{f"spearman_{k}": est.get(f"spearman_held_out_{k}") for k in ESTIMATORS},
                   **{f"within_size_{k}": est.get(f"spearman_held_out_within_size_{k}")
                      for k in ESTIMATORS},
                   n_labelled=est["n_labelled"], n_held_out=est["n_held_out"],
                   label_seconds=est["label_seconds"], estimator_fit_seconds=est["fit_seconds"])
    return out


def export_timing(args: argparse.Namespace, run: elasticrec.Run, share: str, budget: int,
                  tmp: Path) -> dict:
    """``elasticrec export --user`` in a fresh process: load, search, build, write."""
    out = tmp / f"export-{share}.erpk"
    cmd = [sys.executable, "-m", "elasticrec", "export", str(run.path), "--budget", share,
           "--user", str(run.user_ids[0]), "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
    seconds = time.perf_counter() - t0
    size = out.stat().st_size
    assert size <= budget, (size, budget)
    return {"benchmark": "export", "dataset": args.dataset, "model": "mf",
            "method": "rule-search", "budget": share, "budget_bytes": budget,
            "package_bytes": size, "seconds": seconds}


def cmd_export_timing(args: argparse.Namespace) -> None:
    """Only the end-to-end export timings, for a dataset whose runs exist."""
    run = elasticrec.load_run(Path(args.runs) / args.dataset / "rule")
    with tempfile.TemporaryDirectory() as tmp:
        records = [export_timing(args, run, share, run.budget_bytes(share), Path(tmp))
                   for share in args.budgets]
    results.upsert(args.results, [{**r, **results.provenance()} for r in records], KEY)
    cmd_table(args)


QUALITY_COLUMNS = ["dataset", "budget", "method", "recall@20", "ndcg@20", "device_bytes",
                   "budget_bytes", "blocks", "width", "search_seconds"]
TRAIN_COLUMNS = ["dataset", "method", "dim", "seconds", "recall@20", "ndcg@20",
                 "block_similarity", "estimator", "spearman_held_out", "spearman_within_size",
                 "n_labelled", "label_seconds"]
ESTIMATOR_COLUMNS = ["dataset", "method", "spearman_additive", "within_size_additive",
                     "spearman_nfm", "within_size_nfm", "n_labelled"]
EXPORT_COLUMNS = ["dataset", "budget", "budget_bytes", "package_bytes", "seconds"]


def mean_random(records: list[dict]) -> list[dict]:
    """Random block sets: one row per budget, mean (and spread) over the seeds."""
    out, groups = [], {}
    for r in records:
        if r["method"] == "rule-random":
            groups.setdefault((r["dataset"], r["budget"]), []).append(r)
        else:
            out.append(r)
    for rows in groups.values():
        row = dict(rows[0])
        for metric in ("recall@20", "ndcg@20"):
            values = np.array([r[metric] for r in rows])
            row[metric], row[metric + "_std"] = float(values.mean()), float(values.std())
        row["method"] = f"rule-random (mean of {len(rows)})"
        out.append(row)
    return out


def cmd_table(args: argparse.Namespace) -> None:
    records = results.load(args.results)
    order = {b: i for i, b in enumerate(("full", *BUDGETS))}
    quality = sorted(mean_random([r for r in records if r["benchmark"] == "quality"]),
                     key=lambda r: (r["dataset"], order.get(r["budget"], 99), -r["recall@20"]))
    train_rows = [r for r in records if r["benchmark"] == "train"]
    export_rows = [r for r in records if r["benchmark"] == "export"]
    text = "\n".join([
        "# RULE: quality at a budget, measured on the packages",
        "",
        "Generated by `python -m benchmarks.rule table` from `rule.json` (records written by "
        "`python -m benchmarks.rule run`). Budgets are shares of the full 64-d float32 item "
        "table, counted on the single-user package (header, user vector, id map included). "
        "Every quality row is a package loaded by the NumPy runtime and evaluated by full "
        "ranking on the test split. BPR-MF, one recipe for every model.",
        "",
        results.measured(records),
        "",
        "## Quality",
        "",
        results.markdown_table(quality, QUALITY_COLUMNS),
        "",
        "## Training (one-off RULE training vs the retrained baselines)",
        "",
        results.markdown_table(train_rows, TRAIN_COLUMNS),
        "",
        "## Estimators on the same held-out labels (Spearman; within bins of similar size)",
        "",
        results.markdown_table([r for r in train_rows if r.get("spearman_nfm") is not None],
                               ESTIMATOR_COLUMNS),
        "",
        "## A package for a new budget: `elasticrec export --user` in a fresh process",
        "",
        results.markdown_table(export_rows, EXPORT_COLUMNS),
        "",
        "![quality against budget](rule.png)",
        "",
    ])
    results.write_text(args.results.with_suffix(".md"), text)
    plot(quality, args.results.with_suffix(".png"))


def plot(quality: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in quality})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        rows = [r for r in quality if r["dataset"] == ds]
        results.budget_curves(ax, [r for r in rows if r["method"] != "full"], ds)
        for r in rows:
            if r["method"] == "full":
                ax.axhline(r["recall@20"], color="k", linestyle="--", label="full model")
        ax.legend(fontsize=7)
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rule",
                                description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=OUT, help="the JSON file of records")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dataset", required=True)
    r.add_argument("--data-dir", type=Path, default=None)
    r.add_argument("--runs", default="runs/rule")
    r.add_argument("--budgets", nargs="+", default=list(BUDGETS))
    r.add_argument("--epochs", type=int, default=40)
    r.add_argument("--blocks", type=int, default=32)
    r.add_argument("--label-configs", type=int, default=400)
    r.add_argument("--label-users", type=int, default=2000)
    r.add_argument("--ablation", nargs="*", choices=ABLATIONS, default=None,
                   help="also train the same model without the diversity regulariser "
                        "(no-diversity) and with its bounded cosine form (cosine); alone: both")
    r.add_argument("--torch-threads", type=int, default=1)
    r.set_defaults(func=cmd_run)
    e = sub.add_parser("export-timing", help="time `elasticrec export` only")
    e.add_argument("--dataset", required=True)
    e.add_argument("--runs", default="runs/rule")
    e.add_argument("--budgets", nargs="+", default=list(BUDGETS))
    e.set_defaults(func=cmd_export_timing)
    t = sub.add_parser("table")
    t.set_defaults(func=cmd_table)
    args = p.parse_args(argv)
    if args.cmd == "run":
        args.data_dir = elasticrec.resolve_data_dir(args.data_dir,
                                                    os.environ.get("ELASTICREC_DATA"),
                                                    os.environ.get("XDG_CACHE_HOME"))
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
