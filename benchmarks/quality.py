"""Quality per byte: training-free baselines, RULE and PEEL at the same budgets, on packages.

``run --full RUN [--rule RUN] [--peel RUN]`` measures, for every budget (a share of the full
float32 item table, bounding the single-user package a device receives: header, user vector
and id map included) and every value dtype asked for, through the public API only
(``Run.evaluate``, ``export_embeddings``):

* ``dense``: every item's first W positions, widest W that fits, in the trained basis
  (``basis="trained"``);
* ``dense-svd``: the same after the score-preserving rotation (``basis="svd"``, the default);
* ``popular-svd``: rotated, and the 25% most popular items (training events) get twice the
  width of the others (``export_embeddings(..., popularity=counts)``): a blocks package with
  two item groups and one-position blocks, cut to the longest prefix that fits;
* ``rule``: the RULE run's search (``--rule``) in the trained basis, and ``rule-svd-own`` in
  the SVD basis with the run's own estimator, each item group shipping its leading blocks
  (what ``Run.export`` ships by default); ``peel`` / ``peel-svd``: the PEEL run's group
  packages (``--peel``) in the two bases;
* ``full``: the server model of ``--full``, the reference for the shares.

Records measured before the port (``rule-svd``: the RULE estimator refitted on labels
measured in the rotated basis; ``rule-joint``: the dtype chosen with the blocks) stay in the
JSON and the table; they needed private functions and are no longer measured here.

Every package is built within its budget (the builder refuses otherwise; ``device_bytes`` is
the largest single-user package of the evaluation), scored by the NumPy runtime and evaluated
by full ranking on the run's test split; ``--eval-users N`` evaluates a fixed random sample of
N test users (the same for every row). Records go to ``docs/results/quality.json`` (``--out``);
``table`` writes ``quality.md`` and ``quality.png`` from it.

Usage: ``python -m benchmarks.quality run --full runs/ml-100k-lgn --rule ... --peel ...``,
then ``python -m benchmarks.quality table``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import elasticrec
from benchmarks import results

OUT = results.RESULTS_DIR / "quality.json"
KEY = ("dataset", "model", "method", "value_dtype", "budget")
BUDGETS = ["1%", "2%", "5%", "10%", "20%", "50%"]


def _means(evaluation: dict, users: np.ndarray) -> dict:
    """Recall@20 and NDCG@20 over ``users`` from an evaluation's per-user arrays."""
    per_user = evaluation["per_user"]
    return {"recall@20": float(np.mean(per_user["recall@20"][users])),
            "ndcg@20": float(np.mean(per_user["ndcg@20"][users])), "n_test_users": len(users)}


def _shipped(method: str, evaluate, users: np.ndarray, **extra) -> dict:
    """One row: ``evaluate()``'s packages (a budget it cannot meet: infeasible)."""
    t0 = time.perf_counter()
    try:
        evaluation = evaluate()
    except elasticrec.ElasticrecError as exc:
        return {"method": method, "infeasible": str(exc)}
    return {"method": method, **_means(evaluation, users),
            "device_bytes": evaluation["device_bytes"], **extra,
            "seconds": time.perf_counter() - t0}


def run(args: argparse.Namespace) -> None:
    data_dir = elasticrec.resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                                           os.environ.get("XDG_CACHE_HOME"))
    full = elasticrec.load_run(args.full)
    data = full.data(data_dir=data_dir)
    test = data.test.to_csr()
    with_test = np.flatnonzero(np.diff(test.indptr) > 0)
    users = with_test
    if args.eval_users and args.eval_users < len(with_test):
        users = np.sort(np.random.default_rng(0).choice(with_test, args.eval_users,
                                                         replace=False))
    emb = full.embeddings
    n_items = emb.item.shape[0]
    counts = np.bincount(data.train.item, minlength=n_items)
    base = {"dataset": data.name, "model": emb.model, "benchmark": "quality",
            "eval_users": len(users)}
    rule = elasticrec.load_run(args.rule) if args.rule else None
    peel = elasticrec.load_run(args.peel) if args.peel else None
    records: list[dict] = []

    def keep(rec: dict) -> None:
        rec = {**base, **rec, **results.provenance()}
        print({k: rec[k] for k in ("method", "value_dtype", "budget", "recall@20")
               if k in rec}, file=sys.stderr, flush=True)
        records.append(rec)
        results.upsert(args.out, [rec], KEY)

    def evaluate(run, **kwargs):
        return lambda: run.evaluate(per_user=True, data_dir=data_dir, **kwargs)

    def popular(budget: int, dtype: str):
        def go():
            bundle = elasticrec.export_embeddings(emb, budget, dtype=dtype, popularity=counts)
            return full.evaluate(package=bundle.data, per_user=True, data_dir=data_dir)
        return go

    t0 = time.perf_counter()
    keep({**_means(full.evaluate(per_user=True, data_dir=data_dir), users),
          "method": "full", "value_dtype": "float32", "budget": "100%",
          "seconds": time.perf_counter() - t0})
    for share in args.budgets:
        budget = elasticrec.parse_budget(share, full_table_bytes=full.full_table_bytes)
        for dtype in args.dtypes:
            where = {"value_dtype": dtype, "budget": share, "budget_bytes": budget}
            rows = [("dense", evaluate(full, budget=budget, dtype=dtype, basis="trained")),
                    ("dense-svd", evaluate(full, budget=budget, dtype=dtype, basis="svd")),
                    ("popular-svd", popular(budget, dtype))]
            if rule is not None:
                rows += [(name, evaluate(rule, budget=budget, dtype=dtype, basis=basis))
                         for name, basis in (("rule", "trained"), ("rule-svd-own", "svd"))]
            if peel is not None:
                rows += [(name, evaluate(peel, budget=budget, dtype=dtype, basis=basis))
                         for name, basis in (("peel", "trained"), ("peel-svd", "svd"))]
            for name, go in rows:
                keep({**where, **_shipped(name, go, users)})
    print(f"{len(records)} records -> {args.out}", file=sys.stderr)


METHODS = ("dense", "dense-svd", "popular-svd", "rule", "rule-svd-own", "rule-svd",
           "rule-joint", "peel", "peel-svd")


def table(_args: argparse.Namespace) -> None:
    records = results.load(OUT)
    lines = [
        "# Quality per byte: training-free baselines, RULE and PEEL",
        "",
        "Generated by `python -m benchmarks.quality table` from `quality.json` (measured by "
        "`python -m benchmarks.quality run`). Budgets are shares of the full float32 item "
        "table and bound the single-user package a device receives, header, user vector and "
        "id map included; every package was built within its budget, loaded by the NumPy "
        "runtime and evaluated by full ranking (training items excluded). Each cell is "
        "Recall@20 and, in brackets, its share of the full model of the same run; `-`: the "
        "package cannot be built at that budget (e.g. one block per item group does not "
        "fit). `dense`: prefix of the trained basis; `dense-svd`: prefix after the "
        "score-preserving rotation; `popular-svd`: rotated, the 25% most popular items get "
        "twice the width (blocks layout, two item groups); `rule` / `peel`: the method's own "
        "selection on its own run, in the trained basis; `rule-svd-own`: the RULE run's tables "
        "rotated, each item group shipping its leading blocks, chosen by the run's own "
        "estimator (what `Run.export` ships by default); `rule-svd`: the same with the "
        "estimator refitted on prefix-form labels in that basis, and `rule-joint`: with the "
        "value dtype chosen with the blocks by the estimator (the dtype it chose in brackets "
        "in the summary), both measured before the benchmark moved to the public API (see "
        "each record's commit); "
        "`peel-svd`: each user group's tables rotated by that group's basis, the weights' "
        "order deciding how many leading blocks each item group ships. int8 and int4 use "
        "per-row float32 scales (4 bytes per item, 1.6% of a 64-d float32 table), which makes "
        "them infeasible at the smallest budgets; float16 needs no scales. The methods (and why "
        "RULE and PEEL differ from the baselines) are in `docs/methods.md`.",
        "",
    ]
    for (dataset, model) in sorted({(r["dataset"], r["model"]) for r in records}):
        rows = [r for r in records if r["dataset"] == dataset and r["model"] == model]
        full = next((r for r in rows if r["method"] == "full"), None)
        if full is None:
            continue
        ref = full["recall@20"]
        budgets = sorted({r["budget"] for r in rows if r["method"] != "full"},
                         key=lambda b: float(b.rstrip("%")))
        lines += [f"## {dataset}, {model}: full model Recall@20 {ref:.4f} "
                  f"({full['eval_users']} test users)", ""]
        lines.append("| method | dtype | " + " | ".join(budgets) + " |")
        lines.append("|---|---|" + "---|" * len(budgets))
        for method in METHODS:
            for dtype in sorted({r["value_dtype"] for r in rows if r["method"] == method}):
                cells = []
                for b in budgets:
                    r = next((x for x in rows if x["method"] == method
                              and x["value_dtype"] == dtype and x["budget"] == b), None)
                    if r is None or r.get("recall@20") is None:
                        cells.append("-" if r is not None else "")
                    else:
                        cells.append(f"{r['recall@20']:.4f} ({r['recall@20'] / ref:.0%})")
                lines.append(f"| {method} | {dtype} | " + " | ".join(cells) + " |")
        best = best_rows(rows, budgets)
        lines += ["", "Best of each family at each budget (share of the full model), and "
                  "whether the method's best reaches the best training-free package:", "",
                  "| budget | best training-free | best RULE | RULE >= it | best PEEL "
                  "| PEEL >= it |", "|---|---|---|---|---|---|"]
        for b in budgets:
            base_best = best.get((b, "baseline"))
            cells = [_best_cell(base_best, ref)]
            for fam in ("rule", "peel"):
                c = best.get((b, fam))
                cells.append(_best_cell(c, ref))
                cells.append("" if c is None or base_best is None else
                             "yes" if c["recall@20"] >= base_best["recall@20"] else "no")
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [results.measured(records), ""]
    elasticrec.write_text(OUT.with_suffix(".md"), "\n".join(lines))
    plot(records)


def _best_cell(c: dict | None, ref: float) -> str:
    if c is None:
        return ""
    dtype = c.get("chosen_dtype", c["value_dtype"])
    return f"{c['recall@20'] / ref:.1%} ({c['method']}, {dtype})"


FAMILIES = (("baseline", ("dense", "dense-svd", "popular-svd")),
            ("rule", ("rule", "rule-svd-own", "rule-svd", "rule-joint")),
            ("peel", ("peel", "peel-svd")))


def best_rows(rows: list[dict], budgets: list[str]) -> dict:
    out = {}
    for b in budgets:
        for fam, methods in FAMILIES:
            cands = [r for r in rows if r["budget"] == b and r["method"] in methods
                     and r.get("recall@20") is not None]
            if cands:
                out[(b, fam)] = max(cands, key=lambda r: r["recall@20"])
    return out


def plot(records: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted({(r["dataset"], r["model"]) for r in records})
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.5 * len(pairs), 4.2), squeeze=False)
    for ax, (dataset, model) in zip(axes[0], pairs, strict=True):
        rows = [r for r in records if r["dataset"] == dataset and r["model"] == model]
        full = next((r for r in rows if r["method"] == "full"), None)
        for method in METHODS:  # each method at its best value dtype for the budget
            best: dict[float, float] = {}
            for r in rows:
                if r["method"] == method and r.get("recall@20") is not None:
                    b = float(r["budget"].rstrip("%"))
                    best[b] = max(best.get(b, 0.0), r["recall@20"])
            if best:
                ax.plot(*zip(*sorted(best.items()), strict=True), marker="o", label=method)
        if full is not None:
            ax.axhline(full["recall@20"], color="k", ls="--", lw=1, label="full")
        ax.set(xscale="log", xlabel="budget (% of the full float32 item table)",
               ylabel="Recall@20 (best value dtype)", title=f"{dataset}, {model}")
        ax.legend(fontsize=6)
    fig.tight_layout()
    results.save_figure(fig, OUT.with_suffix(".png"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality",
                                description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--full", type=Path, required=True, help="a finished full run")
    r.add_argument("--rule", type=Path, help="a RULE run of the same data and model")
    r.add_argument("--peel", type=Path, help="a PEEL run of the same data and model")
    r.add_argument("--data-dir", type=Path, default=None)
    r.add_argument("--budgets", nargs="+", default=BUDGETS)
    r.add_argument("--dtypes", nargs="+", default=["float32", "float16", "int8", "int4"])
    r.add_argument("--out", type=Path, default=OUT, help="the JSON records file")
    r.add_argument("--eval-users", type=int, default=0,
                   help="evaluate this many random test users (0: all)")
    sub.add_parser("table")
    args = p.parse_args(argv)
    run(args) if args.command == "run" else table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
