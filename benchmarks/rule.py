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

from benchmarks import results
from elasticrec import runtime
from elasticrec.budget.selection import DenseSelection
from elasticrec.budget.units import parse_budget
from elasticrec.data.prepare import DataConfig
from elasticrec.data.registry import resolve_data_dir
from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.estimator import ESTIMATORS
from elasticrec.elastic.search import SearchConfig
from elasticrec.elastic.select import rule_selection
from elasticrec.elastic.state import load_elastic
from elasticrec.embeddings import load_embeddings
from elasticrec.export.builder import BuildOptions, build, fit, write_package
from elasticrec.export.evaluate import evaluate_package
from elasticrec.format.sizes import device_bytes
from elasticrec.models.config import ModelConfig
from elasticrec.pipeline.fit import rebuild_data, train_run
from elasticrec.train.config import TrainConfig

OUT = results.RESULTS_DIR / "rule.json"
KEY = ("benchmark", "dataset", "method", "budget")
BUDGETS = ("5%", "10%", "20%", "50%")
FULL_DIM = 64
SEARCHES = {"rule-search": SearchConfig(), "rule-search-released": SearchConfig.released()}
RANDOM_SEEDS = (0, 1, 2)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


ABLATIONS = ("no-diversity", "cosine")


def recipe(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=8192, lr=5e-3, lr_decay=0.95, l2=2e-2,
                       eval_every=0, seed=0)


def train(run_dir: Path, data: DataConfig, dim: int, args: argparse.Namespace,
          elastic: ElasticConfig | None = None) -> dict:
    """Train (or reuse a finished run in ``run_dir``) and return its result record."""
    if (run_dir / "result.json").is_file():
        import json

        return json.loads((run_dir / "result.json").read_text())
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)  # an unfinished run from an interrupted benchmark
    log(f"training {run_dir}")
    return train_run(run_dir, data, ModelConfig(model="mf", dim=dim), recipe(args),
                     data_dir=args.data_dir, elastic=elastic, log=log)


def relabel(run_dir: Path, args: argparse.Namespace) -> dict:
    """Label and fit the estimator again on a finished run (the same embeddings), with the
    current estimator code and defaults; updates the run's elastic file and result record."""
    import json

    from elasticrec.atomic import write_text
    from elasticrec.elastic.rule import fit_rule_estimator
    from elasticrec.elastic.state import save_elastic

    log(f"relabelling {run_dir}")
    data = rebuild_data(run_dir, data_dir=args.data_dir)
    emb, old = load_embeddings(run_dir), load_elastic(run_dir)
    cfg = ElasticConfig(**{**old.config.to_json(), "estimator": ElasticConfig().estimator})
    state = fit_rule_estimator(cfg, emb.user, emb.item, old.item_group, data.train.to_csr(),
                               data.valid.to_csr(), seed=0, log=log)
    save_elastic(run_dir, state)
    record = json.loads((run_dir / "result.json").read_text())
    record["estimator"] = state.report
    write_text(run_dir / "result.json", json.dumps(record, indent=2) + "\n")
    return record


def cmd_run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.torch_threads)
    runs = Path(args.runs) / args.dataset
    data_config = DataConfig(dataset=args.dataset, valid_ratio=0.1)
    elastic = ElasticConfig(n_blocks=args.blocks, label_configs=args.label_configs,
                            label_users=args.label_users)
    variants = {"rule": elastic}
    ablations = ABLATIONS if args.ablation == [] else (args.ablation or ())
    if "no-diversity" in ablations:  # the regulariser off
        variants["rule-no-diversity"] = ElasticConfig(**{**elastic.to_json(), "diversity": 0.0})
    if "cosine" in ablations:  # a bounded form strong enough to act
        variants["rule-cosine"] = ElasticConfig(**{**elastic.to_json(), "diversity": 0.1,
                                                   "diversity_form": "cosine"})
    trained = {name: train(runs / name, data_config, FULL_DIM, args, cfg)
               for name, cfg in variants.items()}
    for name in variants:
        if args.relabel or load_elastic(runs / name).label_configs is None:
            trained[name] = relabel(runs / name, args)
    trained["full"] = train(runs / "full", data_config, FULL_DIM, args)
    records = [training_record(args.dataset, name, rec) for name, rec in trained.items()]
    data = rebuild_data(runs / "rule", data_dir=args.data_dir)
    known, test = data.known.to_csr(), data.test.to_csr()
    emb = load_embeddings(runs / "rule")
    full_table = emb.item.shape[0] * FULL_DIM * 4

    def evaluate(path: Path, method: str, share: str, budget: int, **extra) -> dict:
        pkg = runtime.load(path)
        res = evaluate_package(pkg, known, test, (20,))
        rec = {"benchmark": "quality", "dataset": args.dataset, "model": "mf",
               "method": method, "budget": share, "budget_bytes": budget,
               "device_bytes": device_bytes(pkg.manifest), **res.metrics, **extra}
        assert rec["device_bytes"] <= budget or share == "full", rec
        log(f"{method:24s} {share:>5s} recall@20 {rec['recall@20']:.4f} "
            f"ndcg@20 {rec['ndcg@20']:.4f} ({rec['device_bytes']:,} of {budget:,} bytes)")
        return rec

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        full_emb = load_embeddings(runs / "full")
        path = tmp / "full.erpk"
        options = BuildOptions(method="full")
        write_package(path, build(full_emb, DenseSelection(FULL_DIM), options))
        records.append(evaluate(path, "full", "full", device_bytes_of(path)))
        for share in args.budgets:
            budget = parse_budget(share, full_table_bytes=full_table)
            # the same elastic model under four selections
            for name in variants:
                run_emb, state = load_embeddings(runs / name), load_elastic(runs / name)
                strategies = [("rule-search", "search", 0)] if name != "rule" else (
                    [(m, "search", 0) for m in SEARCHES] + [("rule-greedy", "greedy", 0)]
                    + [("rule-random", "random", s) for s in RANDOM_SEEDS])
                for method, strategy, seed in strategies:
                    label = method if name == "rule" else name
                    options = BuildOptions(method=label)
                    selection, info = rule_selection(run_emb, state, budget, options,
                                                     strategy=strategy, seed=seed,
                                                     search=SEARCHES.get(method))
                    path = tmp / f"{label}-{share}-{seed}.erpk"
                    write_package(path, build(run_emb, selection, options, budget_bytes=budget))
                    rec = evaluate(path, label, share, budget, estimate=info["estimate"],
                                   blocks=info["blocks"], search_seconds=info["seconds"],
                                   estimator_calls=info["estimator_calls"], seed=seed)
                    records.append(rec)
            # the full model cut to its first columns, and a model retrained at that width
            options = BuildOptions(method="dense-truncate")
            width = fit(full_emb, DenseSelection(FULL_DIM), options, budget).width
            path = tmp / f"dense-{share}.erpk"
            write_package(path, build(full_emb, DenseSelection(width), options, budget))
            records.append(evaluate(path, "dense-truncate", share, budget, width=width))
            uniform_dir = runs / f"uniform-{width}"
            rec = train(uniform_dir, data_config, width, args)
            records.append(training_record(args.dataset, f"uniform-{width}", rec))
            uni_emb = load_embeddings(uniform_dir)
            path = tmp / f"uniform-{share}.erpk"
            write_package(path, build(uni_emb, DenseSelection(width),
                                      BuildOptions(method="uniform-retrained"), budget))
            records.append(evaluate(path, "uniform-retrained", share, budget, width=width,
                                    train_seconds=rec["seconds"]))
            records.append(export_timing(args, runs / "rule", share, budget, tmp))
    records = [{**r, **results.provenance()} for r in records]
    results.upsert(args.results, records, KEY, replace_dataset=args.dataset)
    cmd_table(args)


def device_bytes_of(path: Path) -> int:
    return device_bytes(runtime.load(path).manifest)


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


def export_timing(args: argparse.Namespace, run_dir: Path, share: str, budget: int,
                  tmp: Path) -> dict:
    """``elasticrec export --user`` in a fresh process: load, search, build, write."""
    emb = load_embeddings(run_dir)
    out = tmp / f"export-{share}.erpk"
    cmd = [sys.executable, "-m", "elasticrec", "export", str(run_dir), "--budget", share,
           "--user", str(emb.user_labels[0]), "--out", str(out)]
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
    run_dir = Path(args.runs) / args.dataset / "rule"
    full_table = load_embeddings(run_dir).item.shape[0] * FULL_DIM * 4
    with tempfile.TemporaryDirectory() as tmp:
        records = [export_timing(args, run_dir, share,
                                 parse_budget(share, full_table_bytes=full_table), Path(tmp))
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
    r.add_argument("--relabel", action="store_true",
                   help="label and fit the estimators of finished RULE runs again")
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
        args.data_dir = resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                                         os.environ.get("XDG_CACHE_HOME"))
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
