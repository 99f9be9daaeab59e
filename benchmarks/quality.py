"""Quality per byte: training-free baselines, RULE and PEEL at the same budgets, on packages.

``run --full RUN [--rule RUN] [--peel RUN]`` measures, for every budget (a share of the full
float32 item table, bounding the single-user package a device receives: header, user vector
and id map included) and every value dtype asked for:

* ``dense``: every item's first W positions, widest W that fits, in the trained basis;
* ``dense-svd``: the same after the score-preserving rotation (``export/basis.py``);
* ``popular-svd``: rotated, and the 25% most popular items (training events) get twice the
  width of the others: a blocks package with two item groups and one-position blocks whose
  priority order adds two positions of the popular group for each of the rest, cut to the
  longest prefix that fits;
* ``rule``: the RULE run's search (``--rule``), and ``peel``: the PEEL run's group packages
  (``--peel``), with the run's own estimator / learned weights;
* ``full``: the server model of ``--full``, the reference for the shares.

Every package is built within its budget (the builder refuses otherwise; ``device_bytes`` is
recorded from the manifest of the loaded file), scored by the NumPy runtime and evaluated by
full ranking on the run's test split; ``--eval-users N`` evaluates a fixed random sample of
N test users (the same for every row). Records go to ``docs/results/quality.json``; ``table``
writes ``quality.md`` and ``quality.png`` from it.

Usage: ``python -m benchmarks.quality run --full runs/ml-100k-lgn --rule ... --peel ...``,
then ``python -m benchmarks.quality table``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks import results
from elasticrec import runtime
from elasticrec.budget.fit import BudgetExceeded
from elasticrec.budget.selection import BlockSelection, DenseSelection
from elasticrec.budget.units import parse_budget
from elasticrec.data.registry import resolve_data_dir
from elasticrec.elastic.estimator import PRECISIONS
from elasticrec.elastic.rule import fit_rule_estimator
from elasticrec.elastic.search import Infeasible
from elasticrec.elastic.select import joint_rule_selection, rule_selection
from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
from elasticrec.export.basis import in_basis
from elasticrec.export.builder import BuildOptions, build, fit
from elasticrec.export.evaluate import package_score_fn
from elasticrec.format.sizes import device_bytes
from elasticrec.pipeline.run import load_run

OUT = results.RESULTS_DIR / "quality.json"
KEY = ("dataset", "model", "method", "value_dtype", "budget")
BUDGETS = ["1%", "2%", "5%", "10%", "20%", "50%"]
POPULAR_SHARE = 0.25  # the share of items, most popular first, that gets twice the width


def popular_selection(counts: np.ndarray, dim: int, share: float = POPULAR_SHARE
                      ) -> BlockSelection:
    """Two item groups (0: the ``share`` most popular items), blocks of one position, in an
    order that gives group 0 two positions for each of group 1's until group 0 is full."""
    n = len(counts)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), -np.asarray(counts)))] = np.arange(n)
    group = (rank >= round(share * n)).astype(np.int64)
    order, rest = [], 0
    for b in range(dim):
        order.append((0, b))
        if b % 2 == 1 and rest < dim:
            order.append((1, rest))
            rest += 1
    order += [(1, b) for b in range(rest, dim)]
    return BlockSelection(dim, 2, group, tuple(order))


def measure(name: str, score, known, test, users) -> dict:
    res = evaluate_ranking(score, known, test, (20,), users=users)
    return {**res.metrics, "n_test_users": res.n_users, "method": name}


def package_row(emb, selection, options, budget, known, test, users) -> dict:
    t0 = time.perf_counter()
    selection = fit(emb, selection, options, budget)
    pkg = runtime.load_bytes(build(emb, selection, options, budget_bytes=budget))
    size = device_bytes(pkg.manifest)
    assert size <= budget, (size, budget)
    rec = measure(options.method, package_score_fn(pkg), known, test, users)
    return {**rec, "device_bytes": size, "level": selection.level,
            "seconds": time.perf_counter() - t0}


def run(args: argparse.Namespace) -> None:
    data_dir = resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                                os.environ.get("XDG_CACHE_HOME"))
    full = load_run(args.full)
    data = full.data(data_dir=data_dir)
    known, test = data.known.to_csr(), data.test.to_csr()
    with_test = np.flatnonzero(np.diff(test.indptr) > 0)
    users = with_test
    if args.eval_users and args.eval_users < len(with_test):
        users = np.sort(np.random.default_rng(0).choice(with_test, args.eval_users,
                                                         replace=False))
    emb = full.embeddings
    n_items, dim = emb.item.shape
    counts = np.bincount(data.train.item, minlength=n_items)
    base = {"dataset": data.name, "model": emb.model, "benchmark": "quality",
            "eval_users": len(users)}
    records: list[dict] = []

    def keep(rec: dict) -> None:
        rec = {**base, **rec, **results.provenance()}
        print({k: rec[k] for k in ("method", "value_dtype", "budget", "recall@20")
               if k in rec}, file=sys.stderr, flush=True)
        records.append(rec)
        results.upsert(OUT, [rec], KEY)

    t0 = time.perf_counter()
    keep({**measure("full", score_fn_from_embeddings(emb.user, emb.item), known, test, users),
          "value_dtype": "float32", "budget": "100%", "seconds": time.perf_counter() - t0})
    rotated = in_basis(emb, "svd")
    rule_svd = rotated_rule(args.rule, data_dir) if args.rule else None
    for share in args.budgets:
        budget = parse_budget(share, full_table_bytes=n_items * dim * 4)
        if args.rule:
            keep({"value_dtype": "joint", "budget": share, "budget_bytes": budget,
                  **rule_joint_row(rule_svd, budget, known, test, users)})
        for dtype in args.dtypes:
            where = {"value_dtype": dtype, "budget": share, "budget_bytes": budget}
            for method, e, selection in (
                    ("dense", emb, DenseSelection(dim)),
                    ("dense-svd", rotated, DenseSelection(dim)),
                    ("popular-svd", rotated, popular_selection(counts, dim))):
                options = BuildOptions(value_dtype=dtype, method=method)
                try:
                    keep({**where, **package_row(e, selection, options, budget, known, test,
                                                 users)})
                except BudgetExceeded as exc:
                    keep({**where, "method": method, "infeasible": str(exc)})
            if args.rule:
                keep({**where, **rule_row(args.rule, budget, dtype, known, test, users)})
                keep({**where, **rule_svd_row(rule_svd, budget, dtype, known, test, users)})
            if args.peel:
                for basis in ("trained", "svd"):
                    keep({**where, **peel_row(args.peel, budget, dtype, known, test, users,
                                              basis)})
    print(f"{len(records)} records -> {OUT}", file=sys.stderr)


def rule_row(path: Path, budget: int, dtype: str, known, test, users) -> dict:
    rule = load_run(path)
    t0 = time.perf_counter()
    try:
        pkg = runtime.load_bytes(rule.export_bundle(budget, dtype=dtype))
    except Exception as exc:  # Infeasible or ElasticrecError: one block per group too big
        if not isinstance(exc, Infeasible | BudgetExceeded) and "budget" not in str(exc):
            raise
        return {"method": "rule", "infeasible": str(exc)}
    rec = measure("rule", package_score_fn(pkg), known, test, users)
    return {**rec, "device_bytes": device_bytes(pkg.manifest),
            "run_recall@20": rule.result.get("test", {}).get("recall@20"),
            "seconds": time.perf_counter() - t0}


def rotated_rule(path: Path, data_dir) -> tuple:
    """A RULE run's elastic tables in the score-preserving basis, with its estimator
    refitted on labels measured in that basis, in prefix form and at float32, float16 and
    int8 (same configurations, users and seeds)."""
    rule = load_run(path)
    data = rule.data(data_dir=data_dir)
    state = rule.elastic_state
    emb = in_basis(rule.embeddings, "svd")
    t0 = time.perf_counter()
    config = replace(state.config, label_precisions=PRECISIONS)
    refit = fit_rule_estimator(config, emb.user, emb.item, state.item_group,
                               data.train.to_csr(), data.valid.to_csr(),
                               log=lambda m: print(m, file=sys.stderr), prefixes=True)
    return emb, refit, time.perf_counter() - t0


def rule_svd_row(rule_svd: tuple, budget: int, dtype: str, known, test, users) -> dict:
    emb, state, refit_seconds = rule_svd
    options = BuildOptions(value_dtype=dtype, method="rule-svd")
    t0 = time.perf_counter()
    try:
        selection, _ = rule_selection(emb, state, budget, options, prefixes=True)
    except Infeasible as exc:
        return {"method": "rule-svd", "infeasible": str(exc)}
    pkg = runtime.load_bytes(build(emb, selection, options, budget_bytes=budget))
    rec = measure("rule-svd", package_score_fn(pkg), known, test, users)
    return {**rec, "device_bytes": device_bytes(pkg.manifest), "refit_seconds": refit_seconds,
            "seconds": time.perf_counter() - t0}


def rule_joint_row(rule_svd: tuple, budget: int, known, test, users) -> dict:
    emb, state, _ = rule_svd
    t0 = time.perf_counter()
    try:
        selection, options, info = joint_rule_selection(
            emb, state, budget, BuildOptions(method="rule-joint"), prefixes=True)
    except Infeasible as exc:
        return {"method": "rule-joint", "infeasible": str(exc)}
    pkg = runtime.load_bytes(build(emb, selection, options, budget_bytes=budget))
    rec = measure("rule-joint", package_score_fn(pkg), known, test, users)
    return {**rec, "device_bytes": device_bytes(pkg.manifest),
            "chosen_dtype": options.value_dtype, "estimates": info["estimates"],
            "seconds": time.perf_counter() - t0}


def peel_row(path: Path, budget: int, dtype: str, known, test, users, basis: str) -> dict:
    from elasticrec.peel.quality import packages_quality

    peel = load_run(path)
    method = "peel" if basis == "trained" else "peel-svd"
    t0 = time.perf_counter()
    try:
        per_user, info = packages_quality(peel.embeddings, peel.peel_state,
                                          peel.elastic_state.item_group, known, test, budget,
                                          value_dtype=dtype, basis=basis)
    except BudgetExceeded as exc:
        return {"method": method, "infeasible": str(exc)}
    recall = per_user["recall@20"][users]
    ndcg = per_user["ndcg@20"][users]
    return {"method": method, "recall@20": float(np.nanmean(recall)),
            "ndcg@20": float(np.nanmean(ndcg)), "n_test_users": int(np.isfinite(recall).sum()),
            "device_bytes": info["device_bytes"], "seconds": time.perf_counter() - t0}


METHODS = ("dense", "dense-svd", "popular-svd", "rule", "rule-svd", "rule-joint", "peel",
           "peel-svd")


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
        "selection on its own run, in the trained basis; `rule-svd`: the RULE run's tables "
        "rotated, its estimator refitted on prefix-form labels in that basis, each item group "
        "shipping its leading blocks; `rule-joint`: the same, with the value dtype chosen "
        "with the blocks by the estimator (the dtype it chose in brackets in the summary); "
        "`peel-svd`: each user group's tables rotated by that group's basis, the weights' "
        "order deciding how many leading blocks each item group ships. int8 uses per-row "
        "float32 scales (4 bytes per item, 1.6% of a 64-d float32 table), which makes it "
        "infeasible at the smallest budgets; float16 needs no scales. The methods (and why "
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
    from elasticrec.atomic import write_text

    write_text(OUT.with_suffix(".md"), "\n".join(lines))
    plot(records)


def _best_cell(c: dict | None, ref: float) -> str:
    if c is None:
        return ""
    dtype = c.get("chosen_dtype", c["value_dtype"])
    return f"{c['recall@20'] / ref:.1%} ({c['method']}, {dtype})"


FAMILIES = (("baseline", ("dense", "dense-svd", "popular-svd")),
            ("rule", ("rule", "rule-svd", "rule-joint")), ("peel", ("peel", "peel-svd")))


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
    r.add_argument("--dtypes", nargs="+", default=["float32", "float16", "int8"])
    r.add_argument("--eval-users", type=int, default=0,
                   help="evaluate this many random test users (0: all)")
    sub.add_parser("table")
    args = p.parse_args(argv)
    run(args) if args.command == "run" else table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
