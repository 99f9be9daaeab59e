"""`elasticrec datasets`: each known dataset, where it was found, or what is missing."""

from __future__ import annotations

import argparse

from elasticrec.cli.common import aligned, data_dir_from


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the known datasets and where they were found",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--data-dir", default=None,
                   help="folder holding the datasets (default: $ELASTICREC_DATA, else the "
                        "user cache)")
    p.add_argument("--no-verify", action="store_true",
                   help="check file sizes only, not sha256 checksums")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticrec import dataset_status

    root = data_dir_from(args)
    print(f"data folder: {root}")
    rows = []
    for st in dataset_status(root, verify=not args.no_verify):
        if st.state == "ok":
            where = str(st.folder)
        elif st.state == "missing":
            how = "downloadable" if st.downloadable else "provide the files by hand"
            where = f"missing {', '.join(st.missing)} ({how})"
        else:
            where = "; ".join(f"{name}: {problem}" for name, problem in st.problems)
        rows.append([st.name, st.state, st.format, where])
    print(aligned(rows))
    return 0
