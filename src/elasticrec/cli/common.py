"""Options and helpers shared by several commands: data location, progress, logging."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from elasticrec.data.registry import resolve_data_dir


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="folder holding the datasets (default: $ELASTICREC_DATA, else the user cache)",
    )
    parser.add_argument(
        "--no-download", action="store_true",
        help="never download a missing dataset; fail with instructions instead",
    )


def data_dir_from(args: argparse.Namespace) -> Path:
    return resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                            os.environ.get("XDG_CACHE_HOME"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def show_progress() -> bool:
    return sys.stderr.isatty()
