"""Command-line interface: `elasticrec COMMAND ...` and `python -m elasticrec COMMAND ...`.

Each command lives in its own module exposing ``add_parser(subparsers)`` and ``run(args) -> int``;
``COMMANDS`` below is the one explicit mapping from command names to those modules (with the
one-line help ``elasticrec --help`` lists). Only the module of the command being run is
imported, so the device commands (``inspect``, ``recommend``, ``shrink``) work in an install
with NumPy alone; a command whose extra is missing says which one to install.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import sys
from collections.abc import Collection

from elasticrec import ElasticrecError, __version__
from elasticrec.cli.common import OneLineParser, error_text

COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("elasticrec.cli.datasets", "list the known datasets and where they were found"),
    "train": ("elasticrec.cli.train", "train a base model (BPR-MF or LightGCN)"),
    "evaluate": ("elasticrec.cli.evaluate", "evaluate a trained run on its test split"),
    "demo": ("elasticrec.cli.demo", "PEEL end to end on the default dataset"),
    "export": ("elasticrec.cli.export", "package a trained run for a device within a budget"),
    "serve": ("elasticrec.cli.serve", "serve device packages of a trained run over HTTP"),
    "inspect": ("elasticrec.cli.inspect", "show a package's manifest and byte breakdown"),
    "recommend": ("elasticrec.cli.recommend", "recommend items from a package"),
    "shrink": ("elasticrec.cli.shrink", "cut a package to a smaller budget on the device"),
    "onnx": ("elasticrec.cli.onnx", "export a package as an ONNX model"),
    "stream": ("elasticrec.cli.stream", "streaming recommendation under a fixed budget"),
    "bench": ("elasticrec.cli.bench", "run a benchmark suite (quick or full)"),
}

# The top-level module a missing import names -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "torch": "train", "scipy": "train", "safetensors": "train", "tqdm": "train",
    "pyarrow": "train", "onnx": "onnx", "onnxruntime": "onnx", "starlette": "serve",
    "uvicorn": "serve", "matplotlib": "plot",
}


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with every option's default shown unless its help already
    states one (flags, ``None`` defaults and positional arguments show none)."""

    def add_argument(self, action: argparse.Action) -> None:
        if action.help is None and _shows_default(action):
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        super().add_argument(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if _shows_default(action) and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


def _shows_default(action: argparse.Action) -> bool:
    return (bool(action.option_strings) and action.default not in (None, False, True)
            and action.default is not argparse.SUPPRESS and action.nargs != 0)


class Parser(OneLineParser):
    """The one-line-error parser whose help shows defaults (every command's parser is one)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser with ``commands`` (default: every command) in full; the others are listed
    by name and help, their modules left unimported."""
    parser = Parser(
        prog="elasticrec",
        description="Train recommenders once; ship every device a model that fits its budget.",
    )
    parser.add_argument("--version", action="version", version=f"elasticrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        if commands is None or name in commands:
            importlib.import_module(module_name).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    """The command ``argv`` names (its first word that is not an option), if any."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The install line for the extra that provides the module ``exc`` could not import."""
    extra = EXTRAS.get((exc.name or "").split(".")[0])
    return None if extra is None else f'pip install "elasticrec[{extra}]"'


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = chosen_command(argv)
    try:
        args = build_parser([command] if command else []).parse_args(argv)
        return int(args.run(args) or 0)
    except ModuleNotFoundError as exc:
        install = missing_extra(exc)
        if install is None:
            raise
        print(f"elasticrec {command}: error: this command needs {exc.name!r}, which is not "
              f"installed; {install}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`elasticrec datasets | head`)
        sys.stdout = open(os.devnull, "w")
        return 0
    except (ElasticrecError, OSError, ValueError, ArithmeticError, MemoryError) as exc:
        print(f"elasticrec {command}: error: {error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"elasticrec {command}: interrupted", file=sys.stderr)
        return 130
