"""`elasticrec export`: package a trained run for a device, within a budget in bytes.

A plain run ships the dense baseline: every item ships the first W positions of its trained
vector, for the widest W whose package fits the budget. A RULE run (`train --method rule`)
ships a block configuration found for the budget by the estimator-guided evolutionary
search (no gradient step; the search time is printed). A PEEL run (`train --method peel`)
needs --user (the user's group decides the item table and the blocks: its highest-weight
blocks that fit) or, for a user unseen in training, --history: the group nearest to a vector
folded in from those items. Budgets count the whole package:
header, user vector and id map included. Without --user the package carries every user's
vector (what evaluation uses) and the budget bounds each single-user package cut from it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from elasticrec.budget.selection import DenseSelection
from elasticrec.budget.units import format_bytes, parse_budget
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, fit, plan, write_package
from elasticrec.format.sizes import device_bytes

DTYPES = ("float32", "float16", "int8")
STRATEGIES = ("search", "greedy", "random")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="package a trained run for a device within a budget",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="an `elasticrec train` run")
    p.add_argument("--budget", required=True,
                   help="bytes of the package: 2MB, 512KiB, 300000, or 10%% of the full "
                        "float32 item table")
    p.add_argument("--user", default=None, metavar="ID",
                   help="the user's id as in the source data (default: every user)")
    p.add_argument("--history", nargs="+", default=None, metavar="ITEM",
                   help="PEEL runs: a new user's item ids (as in the source data) instead of "
                        "--user")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="item value type")
    p.add_argument("--strategy", choices=STRATEGIES, default="search",
                   help="RULE runs: how blocks are chosen (search: RULE's evolutionary "
                        "search; greedy: by estimated gain per byte; random: a baseline)")
    p.add_argument("--released-search", action="store_true",
                   help="RULE runs: the released search setting (P=20, C=50, S=5, random "
                        "initial members) instead of 1000 cycles from the greedy solution")
    p.add_argument("--seed", type=int, default=0, help="seeds the search")
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticrec.elastic.state import is_elastic_run, load_elastic
    from elasticrec.embeddings import load_embeddings
    from elasticrec.peel.state import is_peel_run

    t0 = time.perf_counter()
    emb = load_embeddings(args.run_dir)
    n_items, dim = emb.item.shape
    budget = parse_budget(args.budget, full_table_bytes=n_items * dim * 4)
    users = None
    if args.user is not None:
        labels = [str(x) for x in emb.user_labels]
        if args.user not in labels:
            raise ElasticrecError(f"user {args.user!r} is not in {args.run_dir}")
        users = (labels.index(args.user),)
    if is_peel_run(args.run_dir):
        from elasticrec.peel.export import group_package, place_new_user
        from elasticrec.peel.state import load_peel

        state = load_peel(args.run_dir)
        item_group = load_elastic(args.run_dir).item_group
        if args.history:
            index = {str(x): i for i, x in enumerate(emb.item_labels)}
            unknown = [x for x in args.history if x not in index]
            if unknown:
                raise ElasticrecError(f"--history: items {unknown[:5]} are not in "
                                      f"{args.run_dir}")
            cluster, group = place_new_user(emb, state, item_group,
                                            np.array([index[x] for x in args.history]))
            emb, rows = group, None
        elif users is not None:
            cluster, rows = int(state.user_cluster[users[0]]), np.array(users)
        else:
            raise ElasticrecError(f"{args.run_dir} is a PEEL run: its packages are per user "
                                  "group; give --user ID or --history ITEM...")
        data, selection, seconds = group_package(emb, state, item_group, cluster, rows,
                                                 budget, value_dtype=args.dtype)
        write_package(args.out, data)
        print(f"wrote {args.out}: {format_bytes(len(data))}, user group {cluster}, "
              f"{selection.level} blocks by learned weight (selected in "
              f"{seconds * 1000:.1f} ms), {args.dtype}; budget {format_bytes(budget)}; "
              f"{time.perf_counter() - t0:.2f} s in all")
        return 0
    if is_elastic_run(args.run_dir):
        from elasticrec.elastic.search import Infeasible, SearchConfig
        from elasticrec.elastic.select import rule_selection

        options = BuildOptions(value_dtype=args.dtype, users=users, method=f"rule-{args.strategy}")
        try:
            search = SearchConfig.released() if args.released_search else SearchConfig()
            selection, info = rule_selection(emb, load_elastic(args.run_dir), budget, options,
                                             strategy=args.strategy, seed=args.seed,
                                             search=search)
        except Infeasible as exc:
            raise ElasticrecError(f"budget {format_bytes(budget)}: {exc}") from exc
        what = (f"{info['blocks']} blocks of {selection.n_groups}x{selection.n_blocks} "
                f"({args.strategy} in {info['seconds'] * 1000:.0f} ms, "
                f"{info['estimator_calls']} estimates)")
    else:
        options = BuildOptions(value_dtype=args.dtype, users=users, method="dense-truncate")
        selection = fit(emb, DenseSelection(dim), options, budget)
        what = f"dense width {selection.width} of {dim}"
    data = build(emb, selection, options, budget_bytes=budget)
    write_package(args.out, data)
    n_users = 1 if users else len(emb.user)
    per_device = ""
    if n_users > 1:
        per_device = (f"; each single-user package is at most "
                      f"{format_bytes(device_bytes(plan(emb, selection, options)))}")
    print(f"wrote {args.out}: {format_bytes(len(data))}, {what}, {args.dtype}, {n_users} "
          f"user(s); budget {format_bytes(budget)}{per_device}; "
          f"{time.perf_counter() - t0:.2f} s in all")
    return 0
