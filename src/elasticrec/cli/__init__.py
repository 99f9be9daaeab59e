"""Command-line interface: `elasticrec COMMAND ...` and `python -m elasticrec COMMAND ...`.

Each command lives in its own module exposing ``add_parser(subparsers)`` and ``run(args) -> int``;
``COMMANDS`` below is the one explicit mapping from command names to those modules.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from elasticrec import ElasticrecError, __version__
from elasticrec.cli.common import OneLineParser, error_text

COMMANDS: dict[str, str] = {
    "datasets": "elasticrec.cli.datasets",
    "train": "elasticrec.cli.train",
    "evaluate": "elasticrec.cli.evaluate",
    "demo": "elasticrec.cli.demo",
    "export": "elasticrec.cli.export",
    "inspect": "elasticrec.cli.inspect",
    "recommend": "elasticrec.cli.recommend",
    "shrink": "elasticrec.cli.shrink",
    "onnx": "elasticrec.cli.onnx",
    "stream": "elasticrec.cli.stream",
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="elasticrec",
        description="Train recommenders once; ship every device a model that fits its budget.",
    )
    parser.add_argument("--version", action="version", version=f"elasticrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # the reader went away (`elasticrec datasets | head`)
        sys.stdout = open(os.devnull, "w")
        return 0
    except (ElasticrecError, OSError, ValueError, ArithmeticError, MemoryError) as exc:
        print(f"elasticrec {args.command}: error: {error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"elasticrec {args.command}: interrupted", file=sys.stderr)
        return 130
