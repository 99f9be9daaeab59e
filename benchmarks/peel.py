"""PEEL against RULE and the baselines, at fixed, heterogeneous and changing budgets.

Runs on the models ``benchmarks.rule run`` trained (``runs/rule/<dataset>/``: the elastic
pretraining with the diversity regulariser, the same without it, the full and the retrained
uniform models), so that every method shares one split, one recipe and one evaluation:

* ``sweep``: PEEL with C = 1, 4, 8 user groups, and with block-weight costs 0.01 and 0.3 at
  the default C, scored on the *validation* split at 5, 10 and 20%; ``run`` uses the best
  mean (never the test split);
* ``reselect``: PEEL's re-selection for a new budget (sort and exact fit), timed per group
  at every level of the device grid (the median of repeated runs);
* ``run``: PEEL (C groups), PEEL with one group (no personalisation) and PEEL on the
  pretraining without the diversity regulariser, each exported per user group at every budget
  (group packages of every user in the group; the budget bounds each single-user package) and
  evaluated through the NumPy runtime on the test split; RULE (search) at the same budgets;
  the per-group spread; a device population with budgets drawn
  from a grid and a population whose budgets change over time (below).

Budget grid for devices: 5, 7.5, 10, 15, 20, 30 and 50% of the full float32 item table, each
equally likely (log-uniform over a 10x range). Changing budgets: every device starts at a
level drawn from the grid and, at each of 12 steps, moves one level down or up (probability
1/3 each, clipped at the ends) or stays. A PEEL device that shrinks does so on the device
(``elasticrec shrink``, which ships what the server would for that budget: the weight order is
nested) and re-downloads when its budget grows; a RULE device re-downloads a new search
result at every change. Records go to ``docs/results/peel.json``; ``table`` writes
``peel.md`` and ``peel.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

import elasticrec
from benchmarks import results

OUT = results.RESULTS_DIR / "peel.json"
KEY = ("benchmark", "dataset", "method", "budget")
BUDGETS = ("5%", "10%", "20%", "50%")
GRID = ("5%", "7.5%", "10%", "15%", "20%", "30%", "50%")
STEPS = 12


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


PEEL_DEFAULTS = elasticrec.PeelConfig()


class Harness:
    """One dataset's runs and budgets, and the per-user metrics of packages."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.dataset = args.dataset
        self.runs = Path(args.runs) / args.dataset
        self.data_dir = args.data_dir
        self.rule = elasticrec.load_run(self.runs / "rule")
        self.rule.data(data_dir=self.data_dir)  # the split, checked against the run

    def budget(self, share: str) -> int:
        return self.rule.budget_bytes(share)

    def peel_run(self, run: str, n_clusters: int, epochs: int, cost: float) -> elasticrec.Run:
        """PEEL's personalisation of a trained RULE run (a temporary PEEL run)."""
        base = self.rule if run == "rule" else elasticrec.load_run(self.runs / run)
        base.data(data_dir=self.data_dir)
        return base.personalise(n_clusters=n_clusters, peel_epochs=epochs, peel_l2=2e-2,
                                cost=cost, log=log)

    def peel_per_user(self, peel: elasticrec.Run, share: str,
                      split: str = "test") -> tuple[dict, dict]:
        """Per-user metrics (all groups) of PEEL group packages at ``share``, and timings."""
        budget = self.budget(share)
        res = peel.evaluate(budget=share, split=split, per_user=True)
        assert res["device_bytes"] <= budget
        timing = {k: res[k] for k in ("device_bytes", "select_ms_max", "select_ms_mean")}
        return res["per_user"], timing

    def rule_per_user(self, share: str) -> dict:
        return self.rule.evaluate(budget=share, per_user=True)["per_user"]


def reselect_timing(h: Harness, peel: elasticrec.Run, share: str, repeats: int = 9) -> dict:
    """Re-selection for a new budget (the weight sort and the exact fit), timed per group:
    the median of ``repeats`` runs, so that a burst of load on a shared machine does not
    stand for the method; the slowest group's median and the median over groups. Each
    run is a package export for one user of the group, whose ``select_seconds`` time the
    selection alone."""
    medians = []
    groups = peel.peel_state.user_cluster
    for c in range(len(peel.peel_state.weights)):
        rows = np.flatnonzero(groups == c)
        if not len(rows):
            continue
        user = peel.user_ids[rows[0]]
        times = [peel.export_detailed(share, user=user).info["select_seconds"] * 1000
                 for _ in range(repeats)]
        medians.append(float(np.median(times)))
    return {"reselect_ms_max": max(medians), "reselect_ms_median": float(np.median(medians)),
            "reselect_repeats": repeats}


def cmd_reselect(args: argparse.Namespace) -> None:
    """Only the re-selection timing, at every level of the device grid."""
    h = Harness(args)
    c_best, cost = swept(args)
    peel = h.peel_run("rule", c_best, args.epochs, cost)
    records = []
    for share in GRID:
        try:
            timing = reselect_timing(h, peel, share)
        except elasticrec.ElasticrecError as exc:
            log(f"{share}: infeasible ({exc})")
            continue
        log(f"{share}: re-selection {timing['reselect_ms_median']:.2f} ms median over groups, "
            f"{timing['reselect_ms_max']:.2f} ms for the slowest group")
        records.append({"benchmark": "reselect", "dataset": h.dataset, "method": "peel",
                        "budget": share, "budget_bytes": h.budget(share), "n_clusters": c_best,
                        **timing, **results.provenance()})
    results.upsert(args.results, records, KEY)
    cmd_table(args)


def mean_of(per_user: dict, metric: str) -> float:
    return float(np.nanmean(per_user[metric]))


SWEEP_BUDGETS = ("5%", "10%", "20%")


def cmd_sweep(args: argparse.Namespace) -> None:
    """C user groups at the default cost, and the cost at the default C, on validation."""
    h = Harness(args)
    default = PEEL_DEFAULTS
    grid = [(c, default.cost) for c in args.clusters]
    grid += [(default.n_clusters, cost) for cost in args.costs if cost != default.cost]
    records = []
    for c, cost in grid:
        peel = h.peel_run("rule", c, args.epochs, cost)
        rec = {"benchmark": "sweep", "dataset": h.dataset, "method": f"peel-C{c}-cost{cost}",
               "budget": "/".join(SWEEP_BUDGETS), "n_clusters": c, "cost": cost,
               "refine_seconds": peel.result["peel_report"]["seconds"]}
        for share in SWEEP_BUDGETS:
            try:
                per_user, _ = h.peel_per_user(peel, share, split="valid")
            except elasticrec.ElasticrecError:
                rec[f"valid_recall@20_{share}"] = float("nan")  # infeasible: not counted
                continue
            rec[f"valid_recall@20_{share}"] = mean_of(per_user, "recall@20")
        rec["valid_recall@20"] = float(np.nanmean([rec[f"valid_recall@20_{s}"]
                                                   for s in SWEEP_BUDGETS]))
        log(f"C={c} cost={cost}: validation recall@20 at {'/'.join(SWEEP_BUDGETS)}: "
            + " ".join(f"{rec[f'valid_recall@20_{s}']:.4f}" for s in SWEEP_BUDGETS))
        records.append({**rec, **results.provenance()})
    results.upsert(args.results, records, KEY)
    cmd_table(args)


def swept(args: argparse.Namespace) -> tuple[int, float]:
    """(C, cost): ``--clusters`` and the default cost if C is given, else the best of the
    sweep on validation (this dataset's, else any dataset's), else the library defaults."""
    default = PEEL_DEFAULTS
    if args.clusters:
        return args.clusters[0], default.cost
    sweep = [r for r in results.load(args.results) if r["benchmark"] == "sweep"]
    mine = [r for r in sweep if r["dataset"] == args.dataset] or sweep
    if not mine:
        return default.n_clusters, default.cost
    best = max(mine, key=lambda r: r["valid_recall@20"])
    return int(best["n_clusters"]), float(best.get("cost", default.cost))


def cmd_run(args: argparse.Namespace) -> None:
    h = Harness(args)
    records = []
    c_best, cost = swept(args)
    log(f"PEEL with C = {c_best} user groups, cost {cost}")
    variants = {"peel": ("rule", c_best), "peel-one-group": ("rule", 1),
                "peel-no-diversity": ("rule-no-diversity", c_best)}
    per_level: dict[str, dict[str, dict]] = {}
    for name, (run, c) in variants.items():
        if not (h.runs / run / "result.json").is_file():
            log(f"{name}: skipped, no finished run {h.runs / run} (benchmarks.rule --ablation)")
            continue
        peel = h.peel_run(run, c, args.epochs, cost)
        refine_seconds = peel.result["peel_report"]["seconds"]
        levels = GRID if name == "peel" else BUDGETS
        per_level[name] = {}
        for share in levels:
            try:
                per_user, timing = h.peel_per_user(peel, share)
            except elasticrec.ElasticrecError as exc:
                log(f"{name} {share}: infeasible ({exc})")
                continue
            per_level[name][share] = per_user
            if share not in BUDGETS:
                continue
            rec = {"benchmark": "quality", "dataset": h.dataset, "method": name,
                   "budget": share, "budget_bytes": h.budget(share), "n_clusters": c,
                   "recall@20": mean_of(per_user, "recall@20"),
                   "ndcg@20": mean_of(per_user, "ndcg@20"), "refine_seconds": refine_seconds,
                   "cost": cost,
                   **timing}
            if name == "peel":
                rec.update(group_spread(peel.peel_state.user_cluster, per_user))
            log(f"{name:18s} {share:>4s} recall@20 {rec['recall@20']:.4f} "
                f"(select {timing['select_ms_max']:.1f} ms max per group)")
            records.append(rec)
    per_level["rule"] = {}
    for share in GRID:
        try:
            per_level["rule"][share] = h.rule_per_user(share)
        except elasticrec.ElasticrecError as exc:
            log(f"rule {share}: infeasible ({exc})")
    for share in BUDGETS:
        if share not in per_level["rule"]:
            continue
        pu = per_level["rule"][share]
        records.append({"benchmark": "quality", "dataset": h.dataset, "method": "rule-search",
                        "budget": share, "budget_bytes": h.budget(share),
                        "recall@20": mean_of(pu, "recall@20"), "ndcg@20": mean_of(pu, "ndcg@20")})
    records += population_records(h.dataset, per_level, np.random.default_rng(0))
    records = [{**r, **results.provenance()} for r in records]
    results.upsert(args.results, records, KEY)
    cmd_table(args)


def group_spread(user_group: np.ndarray, per_user: dict) -> dict:
    recall = per_user["recall@20"]
    means = [float(np.nanmean(recall[user_group == c]))
             for c in range(int(user_group.max()) + 1)]
    return {"group_recall@20": means, "group_recall_min": min(means),
            "group_recall_max": max(means)}


def population_records(dataset: str, per_level: dict, rng: np.random.Generator) -> list[dict]:
    """Heterogeneous budgets (one draw per device) and changing budgets (a walk per device),
    over the grid levels both methods can meet."""
    grid = [s for s in GRID if s in per_level["rule"] and s in per_level["peel"]]
    if not grid:
        return []
    users = np.flatnonzero(~np.isnan(per_level["rule"][grid[0]]["recall@20"]))
    n = len(users)
    start = rng.integers(len(grid), size=n)
    walk = [start]
    for _ in range(STEPS):
        step = rng.integers(-1, 2, size=n)
        walk.append(np.clip(walk[-1] + step, 0, len(grid) - 1))
    walk = np.array(walk)  # (steps + 1, users)
    out = []
    for method in ("peel", "rule"):
        table = {m: np.stack([per_level[method][s][m][users] for s in grid])
                 for m in ("recall@20", "ndcg@20")}  # (levels, users)
        cols = np.arange(n)
        out.append({"benchmark": "heterogeneous", "dataset": dataset, "method": method,
                    "budget": "grid", "recall@20": float(table["recall@20"][start, cols].mean()),
                    "ndcg@20": float(table["ndcg@20"][start, cols].mean()), "devices": n,
                    "levels": grid})
        curve = [float(table["recall@20"][lv, cols].mean()) for lv in walk]
        changes = (walk[1:] != walk[:-1])
        shrinks = int((walk[1:] < walk[:-1]).sum())
        downloads = int(changes.sum()) - (shrinks if method == "peel" else 0)
        out.append({"benchmark": "dynamic", "dataset": dataset, "method": method,
                    "budget": "walk", "recall@20_curve": curve,
                    "recall@20": float(np.mean(curve)), "server_downloads": downloads,
                    "on_device_shrinks": shrinks if method == "peel" else 0, "devices": n})
    return out


QUALITY = ["dataset", "budget", "method", "recall@20", "ndcg@20", "n_clusters",
           "device_bytes", "budget_bytes", "group_recall_min", "group_recall_max"]
RESELECT = ["dataset", "budget", "n_clusters", "reselect_ms_median", "reselect_ms_max",
            "reselect_repeats", "date", "machine", "commit"]
POP = ["dataset", "benchmark", "method", "recall@20", "ndcg@20", "devices", "server_downloads",
       "on_device_shrinks"]
SWEEP = ["dataset", "n_clusters", "cost", "valid_recall@20_5%", "valid_recall@20_10%",
         "valid_recall@20_20%", "valid_recall@20", "refine_seconds"]


def cmd_table(args: argparse.Namespace) -> None:
    records = results.load(args.results)
    rule = [r for r in results.load(args.rule_results) if r["benchmark"] == "quality"
            and r["method"] in ("uniform-retrained", "full", "dense-truncate")]
    order = {b: i for i, b in enumerate(("full", *BUDGETS))}
    quality = sorted([r for r in records if r["benchmark"] == "quality"] + rule,
                     key=lambda r: (r["dataset"], order.get(r["budget"], 9), -r["recall@20"]))
    text = "\n".join([
        "# PEEL: personalised elastic embeddings at fixed, heterogeneous and changing budgets",
        "",
        "Generated by `python -m benchmarks.peel table` from `peel.json` (written by "
        "`python -m benchmarks.peel sweep|run`) and, for the uniform, dense and full rows, "
        "`rule.json` (the same split, recipe and evaluation). Budgets are shares of the full "
        "64-d float32 item table, counted on the single-user package. PEEL rows: each user is "
        "scored by their group's package, through the NumPy runtime.",
        "",
        results.measured(records),
        "",
        "## Quality at a budget",
        "",
        results.markdown_table(quality, QUALITY),
        "",
        "## Device populations (budget grid 5-50%; see `benchmarks/peel.py`)",
        "",
        results.markdown_table([r for r in records if r["benchmark"] in
                                ("heterogeneous", "dynamic")], POP),
        "",
        "## Re-selection for a new budget",
        "",
        "The weight sort and the exact fit of one group's single-user package, in "
        "milliseconds: each group's median over `reselect_repeats` runs (`python -m "
        "benchmarks.peel reselect`), the median over groups and the slowest group.",
        "",
        results.markdown_table([r for r in records if r["benchmark"] == "reselect"],
                               RESELECT),
        "",
        "## User groups and block-weight cost (validation split; the best mean is used)",
        "",
        results.markdown_table([r for r in records if r["benchmark"] == "sweep"], SWEEP),
        "",
        "![PEEL](peel.png)",
        "",
    ])
    results.write_text(args.results.with_suffix(".md"), text)
    plot(quality, [r for r in records if r["benchmark"] == "dynamic"],
         args.results.with_suffix(".png"))


def plot(quality: list[dict], dynamic: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in quality})
    fig, axes = plt.subplots(2, max(len(datasets), 1), figsize=(6 * len(datasets), 8),
                             squeeze=False)
    for j, ds in enumerate(datasets):
        ax = axes[0][j]
        rows = [r for r in quality if r["dataset"] == ds and r["budget"] in BUDGETS]
        results.budget_curves(ax, rows, ds)
        if rows:
            ax.legend(fontsize=7)
        ax = axes[1][j]
        for r in dynamic:
            if r["dataset"] == ds:
                ax.plot(r["recall@20_curve"], marker=".", label=r["method"])
        ax.set(xlabel="step (budgets change)", ylabel="mean Recall@20 over devices",
               title=f"{ds}: changing budgets")
        if any(r["dataset"] == ds for r in dynamic):
            ax.legend(fontsize=7)
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peel",
                                description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=OUT)
    p.add_argument("--rule-results", type=Path, default=results.RESULTS_DIR / "rule.json")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, func, clusters in (("sweep", cmd_sweep, [1, 4, 8]), ("run", cmd_run, None),
                                 ("reselect", cmd_reselect, None)):
        s = sub.add_parser(name)
        s.add_argument("--dataset", required=True)
        s.add_argument("--data-dir", type=Path, default=None)
        s.add_argument("--runs", default="runs/rule")
        s.add_argument("--clusters", type=int, nargs="+", default=clusters,
                       help="sweep: the values of C; run: C (default: the sweep's best)")
        s.add_argument("--epochs", type=int, default=PEEL_DEFAULTS.epochs)
        s.add_argument("--costs", type=float, nargs="+", default=[0.01, 0.3],
                       help="sweep: block-weight costs tried at the default C")
        s.set_defaults(func=func)
    t = sub.add_parser("table")
    t.set_defaults(func=cmd_table)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.cmd != "table":
        args.data_dir = elasticrec.resolve_data_dir(args.data_dir,
                                                    os.environ.get("ELASTICREC_DATA"),
                                                    os.environ.get("XDG_CACHE_HOME"))
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
