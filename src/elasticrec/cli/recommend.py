"""`elasticrec recommend`: the top items of a package for its user, as the device computes them."""

from __future__ import annotations

import argparse
from pathlib import Path

from elasticrec.runtime import load


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="recommend items from a package",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("-k", type=int, default=20, help="how many items (default 20)")
    p.add_argument("--user", default=None, metavar="ID",
                   help="which user, for a package holding several (id as in the source data)")
    p.add_argument("--exclude", nargs="+", default=[], metavar="ITEM",
                   help="item ids to leave out (e.g. the user's history)")
    p.add_argument("--history", nargs="+", default=None, metavar="ITEM",
                   help="fold in a new user from these item ids (ridge least squares on the "
                        "shipped item vectors) instead of a shipped user vector; they are "
                        "also left out")
    p.add_argument("--catalogue", type=Path, default=None, metavar="FILE",
                   help="the device's item catalogue (one id per line, in row order), for a "
                        "package exported with --item-ids catalogue")
    p.add_argument("--include-seen", action="store_true",
                   help="do not leave out the seen items the package ships")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"-k {args.k} is not allowed: an int >= 1")
    catalogue = None
    if args.catalogue is not None:
        catalogue = args.catalogue.read_text(encoding="utf-8").splitlines()
    pkg = load(args.file, catalogue=catalogue)
    exclude = pkg.item_index(args.exclude)
    vector = None
    if args.history is not None:
        history = pkg.item_index(args.history)
        vector = pkg.fold_in(history)
        exclude = [*exclude.tolist(), *history.tolist()]
    rec = pkg.recommend(args.k, user=args.user, user_vector=vector, exclude=exclude,
                        exclude_seen=not args.include_seen)
    for rank, (label, score) in enumerate(zip(rec.labels, rec.scores, strict=True), 1):
        print(f"{rank}\t{label}\t{score:.6g}")
    return 0
