"""Options and helpers shared by several commands: data location, progress, logging, output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """Option errors in the one-line form every other error takes (``elasticrec train:
    error: argument --dim: invalid int value: 'x'``), exit status 2; ``--help`` shows usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


@contextlib.contextmanager
def about(path: Path) -> Iterator[None]:
    """Errors raised inside name ``path`` first (which of several files was refused)."""
    import elasticrec

    try:
        yield
    except elasticrec.ElasticrecError as exc:
        text = error_text(exc)
        if text.startswith(str(path)):
            raise
        raise elasticrec.ElasticrecError(f"{path}: {text}") from None


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
    import elasticrec

    return elasticrec.resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                            os.environ.get("XDG_CACHE_HOME"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def show_progress() -> bool:
    return sys.stderr.isatty()


def aligned(rows: list[list[str]]) -> str:
    """Rows of cells as text columns two spaces apart (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(v.ljust(w) for v, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def format_table(records: list[dict], ks: tuple[int, ...], extra: tuple[str, ...] = ()) -> str:
    """Evaluation records as a table: identity columns, ``extra``, then every metric at K."""
    cols = ["dataset", "model", "method", *extra] + [
        f"{m}@{k}" for k in ks for m in ("recall", "ndcg", "precision", "hitrate")]
    return table(records, cols)


def table(records: list[dict], cols: list[str]) -> str:
    """Records as aligned columns under a header; a missing value is an empty cell."""
    rows = [[_cell(r.get(c, "")) for c in cols] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    return aligned([cols, ["-" * w for w in widths], *rows])


def dumps(record: dict | list[dict]) -> str:
    return json.dumps(record, indent=2, sort_keys=True)


def _cell(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def error_text(exc: BaseException) -> str:
    """One line for a refused request: an ``OSError`` names its file (``--out x: Permission
    denied``), never a temporary one or a descriptor number; other errors as they read."""
    if isinstance(exc, OSError) and exc.strerror:
        name = exc.filename if isinstance(exc.filename, str | bytes | os.PathLike) else None
        return f"{os.fsdecode(name)}: {exc.strerror}" if name is not None else exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
