"""`elasticrec export`: package a trained run for a device, within a budget in bytes.

A plain run ships the dense baseline: every item ships the first W positions of its trained
vector, for the widest W whose package fits the budget. A RULE run (`train --method rule`)
ships a block configuration found for the budget by the estimator-guided evolutionary
search (no gradient step; the search time is printed). A PEEL run (`train --method peel`)
needs --user (the user's group decides the item table and the blocks: its highest-weight
blocks that fit) or, for a user unseen in training, --history: the group nearest to a vector
folded in from those items (the other methods fold a vector in against their own table).
Budgets count the whole package: header, user vector, id map and any seen items included.
--all-users writes the every-user bundle that evaluation uses: every user's vector, and the
budget bounds each single-user package cut from it. A `stream` run exports its latest
segment's stored rows at their own widths (the ragged layout), shrunk to the budget when over.
--basis svd (the default for train runs) ships the tables rotated by the run's
score-preserving basis, which keeps far more quality per byte (docs/methods.md); --basis
trained ships them as trained.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import elasticrec

DTYPES = elasticrec.option_choices()["dtype"]  # the package format's value types
SCALES = elasticrec.option_choices()["scales"]
ITEM_IDS = ("auto", "catalogue")
STRATEGIES = ("search", "greedy", "random")
BASES = ("svd", "trained")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="package a trained run for a device within a budget",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="an `elasticrec train` run")
    p.add_argument("--budget", required=True,
                   help="bytes of the package: 2MB, 512KiB, 300000, or 10%% of the full "
                        "float32 item table")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", default=None, metavar="ID",
                     help="the user's id as in the source data")
    who.add_argument("--history", nargs="+", default=None, metavar="ITEM",
                     help="a new user's item ids (as in the source data): their vector is "
                          "folded in from these items (PEEL: in the nearest user group)")
    who.add_argument("--all-users", action="store_true",
                     help="the every-user evaluation bundle (not PEEL): every user's vector "
                          "with the selection for the budget, for `elasticrec evaluate "
                          "--package`; the file is larger than the budget, which bounds each "
                          "single-user package cut from it")
    p.add_argument("--dtype", choices=(*DTYPES, "auto"), default="float32",
                   help="item value type (int8 / int4 / int2: with float32 scales, see "
                        "--scales; int4 and int2 pack 2 and 4 values per byte); auto: of "
                        "float32, float16, int8 and int4 (with either scales), the one whose "
                        "package scores best on the run's validation split at this budget")
    p.add_argument("--scales", choices=SCALES, default="row",
                   help="integer values: row (default), one float32 scale per item; column, "
                        "one per position (no bytes per item: for budgets of a few bytes an "
                        "item; package format version 5)")
    p.add_argument("--item-ids", choices=ITEM_IDS, default="auto",
                   help="auto: the smallest exact id map (a range, delta-coded integers, "
                        "front-coded strings...); catalogue: only the catalogue's fingerprint, "
                        "the device maps rows to ids with its own catalogue")
    p.add_argument("--seen", action="store_true",
                   help="ship the user's seen items (training items, or --history), which "
                        "`elasticrec recommend` then leaves out; counted in the budget")
    p.add_argument("--strategy", choices=STRATEGIES, default="search",
                   help="RULE runs: how blocks are chosen (search: RULE's evolutionary "
                        "search; greedy: by estimated gain per byte; random: a baseline)")
    p.add_argument("--released-search", action="store_true",
                   help="RULE runs: the released search setting (P=20, C=50, S=5, random "
                        "initial members) instead of 1000 cycles from the greedy solution")
    p.add_argument("--basis", choices=BASES, default=None,
                   help="svd (default): the tables rotated by the run's score-preserving "
                        "basis (same full-width scores, most score in the leading positions); "
                        "trained: as trained")
    p.add_argument("--seed", type=int, default=0, help="seeds the search")
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if (args.run_dir / "summary.json").is_file() and not (args.run_dir / "config.json").exists():
        return _stream(args, t0)
    run = elasticrec.load_run(args.run_dir)
    exported = run.export_detailed(
        args.budget, user=args.user, history=args.history, dtype=args.dtype,
        strategy=args.strategy, seed=args.seed, released_search=args.released_search,
        bundle=args.all_users, item_ids=args.item_ids, seen=args.seen,
        basis=args.basis or "svd", scales=args.scales)
    elasticrec.write_bytes(args.out, exported.data)
    print(f"wrote {args.out}: {exported.summary}; {time.perf_counter() - t0:.2f} s in all")
    return 0


def _stream(args: argparse.Namespace, t0: float) -> int:
    """A `stream` run: the user's package from the latest segment, within the budget."""
    from elasticrec import runtime

    if args.user is None:
        raise elasticrec.ElasticrecError("a stream run exports one stored user: give --user")
    if args.item_ids != "auto" or args.seen:
        raise elasticrec.ElasticrecError("--item-ids catalogue and --seen are for train runs")
    if args.basis is not None:
        raise elasticrec.ElasticrecError(f"--basis {args.basis}: a stream run ships its stored "
                                         "rows at their own widths, as trained; --basis is "
                                         "for train runs")
    if args.scales != "row":
        raise elasticrec.ElasticrecError("--scales column is for train runs; a stream run "
                                         "ships its rows with row scales")
    if args.dtype == "auto":
        raise elasticrec.ElasticrecError("--dtype auto chooses on a train run's validation "
                                         "split; give a stream run its dtype")
    data = elasticrec.load_stream(args.run_dir).export(args.user, dtype=args.dtype)
    pkg = runtime.load_bytes(data)
    budget = elasticrec.parse_budget(args.budget, full_table_bytes=pkg.n_items * pkg.dim * 4)
    if len(data) > budget:
        data = runtime.shrink(pkg, budget)
    elasticrec.write_bytes(args.out, data)
    print(f"wrote {args.out}: {elasticrec.format_bytes(len(data))}, stream {args.run_dir.name} "
          f"latest segment, ragged, {args.dtype}; budget {elasticrec.format_bytes(budget)}; "
          f"{time.perf_counter() - t0:.2f} s in all")
    return 0
