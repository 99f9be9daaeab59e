"""`elasticrec bench`: a benchmark suite: every method and baseline on the same data and
budgets, measured on the packages that ship (quick: ml-100k and ml-latest-small, minutes;
full: gowalla and yelp2018, hours). Resumable with --resume: finished units are skipped.
`elasticrec.run_bench` does the work; OUT gets SUITE.json, SUITE.md and the plots.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import elasticrec
from elasticrec.cli.common import add_data_options, data_dir_from, log, show_progress

SUITES = ("quick", "full")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite (quick or full)",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("suite", choices=SUITES, metavar="SUITE", help="quick or full")
    p.add_argument("--out", type=Path, default=Path("bench"),
                   help="the folder of records, tables and plots")
    p.add_argument("--work", type=Path, default=None,
                   help="run folders and checked packages (default: OUT/work)")
    p.add_argument("--resume", action="store_true",
                   help="continue a suite in OUT, skipping its finished units")
    p.add_argument("--only", action="append", default=[], metavar="DATASET[/MODEL]",
                   help="run only these units (repeatable), e.g. gowalla/mf; the report "
                        "covers every record in OUT")
    p.add_argument("--rerun", action="append", default=[], metavar="METHOD",
                   help="with --resume, measure this method's or baseline's units again "
                        "(repeatable), e.g. rule after a change to RULE")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    records = elasticrec.run_bench(args.suite, out=args.out, work=args.work,
                                   resume=args.resume, only=args.only, rerun=args.rerun,
                                   data_dir=data_dir_from(args), download=not args.no_download,
                                   progress=show_progress(), log=log)
    packages = [r for r in records if r["kind"] == "package" and "infeasible" not in r]
    log(f"bench {args.suite}: {len(records)} records, {len(packages)} packages within their "
        f"budgets; report: {args.out / (args.suite + '.md')}")
    return 0
