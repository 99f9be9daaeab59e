"""Readers for delimited interaction files: the named datasets' and a user's own tables.

Every reader returns ``Interactions`` with raw ids remapped to contiguous 0-based ids in
sorted raw-id order (``preprocess.remap_ids``) and the raw ids kept as labels. Ratings are
ignored: every row is one implicit positive event. Files are parsed with pyarrow; when that
fails, ``diagnose`` rescans the file to name the first bad line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from elasticrec.data import diagnose
from elasticrec.data.columns import parse_times, string_ids, to_interactions
from elasticrec.data.interactions import Interactions
from elasticrec.data.parquet import PARQUET_SUFFIXES, read_parquet
from elasticrec.errors import ElasticrecError

IdKind = Literal["int", "any"]
"""``int``: non-negative integers (named datasets); ``any``: integers or strings."""
TimeKind = Literal["unix", "date", "any"]
"""``unix``: integer seconds; ``date``: YYYY-MM-DD (UTC); ``any``: either, or ISO 8601."""

SEPARATORS = {".csv": ",", ".tsv": "\t"}
BLOCK_BYTES = 1 << 20  # pyarrow's default block; one row must fit in one block
MAX_BLOCK_BYTES = (1 << 31) - 1  # pyarrow's largest block


@dataclass(frozen=True)
class Layout:
    """Where the user, item and timestamp columns are in a delimited file and how to read them.

    ``names`` gives the column names of a file without a header row; ``None`` means the first
    line is a header.
    """

    sep: str
    user: str
    item: str
    timestamp: str | None = None
    names: tuple[str, ...] | None = None
    ids: IdKind = "int"
    time: TimeKind = "unix"

    def checks(self, columns: list[str]) -> dict[int, diagnose.Check]:
        id_check = diagnose.id_check if self.ids == "int" else diagnose.label_check
        out = {
            columns.index(self.user): id_check("user id"),
            columns.index(self.item): id_check("item id"),
        }
        if self.timestamp is not None:
            time_check = {
                "unix": diagnose.unix_seconds_check,
                "date": diagnose.date_check,
                "any": diagnose.time_check,
            }[self.time]
            label = "date" if self.time == "date" else "timestamp"
            out[columns.index(self.timestamp)] = time_check(label)
        return out


def _first_line(path: Path) -> str:
    """The first line, decoded; fails when the file is missing or holds only whitespace."""
    if not path.is_file():
        raise ElasticrecError(f"{path}: no such file")
    with open(path, "rb") as fh:
        first = fh.readline()
        if not first.strip() and not any(line.strip() for line in fh):
            raise ElasticrecError(f"{path}: the file is empty (no interactions)")
    return first.decode("utf-8-sig", errors="replace").rstrip("\r\n")


def _header(path: Path, layout: Layout) -> list[str]:
    first = _first_line(path)
    if layout.names is not None:
        return list(layout.names)
    try:
        columns = next(csv.reader([first], delimiter=layout.sep), [])
    except csv.Error as exc:
        raise ElasticrecError(f"{path} line 1: not a delimited text header ({exc})") from None
    wanted = [c for c in (layout.user, layout.item, layout.timestamp) if c is not None]
    if len(set(wanted)) != len(wanted):
        raise ElasticrecError(
            f"{path}: the user, item and timestamp columns must differ, got "
            f"{', '.join(repr(c) for c in wanted)} (--user-col, --item-col, --time-col)")
    for name in wanted:
        if name not in columns:
            found = ", ".join(repr(c) for c in columns)
            raise ElasticrecError(
                f"{path} line 1: no column {name!r} in the header (separator {layout.sep!r}); "
                f"columns found: {found}"
            )
    return columns


def _failure(path: Path, layout: Layout, columns: list[str], reason: str) -> ElasticrecError:
    message = diagnose.first_bad_row(
        path,
        sep=layout.sep,
        header=layout.names is None,
        n_columns=len(columns),
        checks=layout.checks(columns),
    )
    return ElasticrecError(message or f"{path}: could not be read: {reason}")


def _column_types(layout: Layout) -> dict[str, pa.DataType]:
    id_type = pa.int64() if layout.ids == "int" else pa.string()
    types = {layout.user: id_type, layout.item: id_type}
    if layout.timestamp is not None:
        types[layout.timestamp] = pa.int64() if layout.time == "unix" else pa.string()
    return types


def _parse(path: Path, layout: Layout) -> pa.Table:
    """The wanted columns; a row longer than pyarrow's block (a huge value in any column,
    used or not) is read by retrying with blocks large enough to hold it."""
    wanted = [c for c in (layout.user, layout.item, layout.timestamp) if c is not None]
    block = BLOCK_BYTES
    while True:
        try:
            return pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(column_names=layout.names, block_size=block),
                parse_options=pacsv.ParseOptions(delimiter=layout.sep),
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted,
                    column_types=_column_types(layout),
                    null_values=[],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc) or block >= MAX_BLOCK_BYTES:
                raise
            block = min(block * 16, MAX_BLOCK_BYTES)


def read_delimited(path: str | Path, layout: Layout) -> Interactions:
    """Read a CSV/TSV file described by ``layout``. Blank lines are skipped."""
    path = Path(path)
    columns = _header(path, layout)
    try:
        table = _parse(path, layout)
    except pa.ArrowException as exc:
        raise _failure(path, layout, columns, str(exc)) from None
    if table.num_rows == 0:
        raise ElasticrecError(f"{path}: no interactions after the header")
    raw = []
    for name in (layout.user, layout.item):
        column = table.column(name)
        if layout.ids == "int":
            ids = column.to_numpy()
            ok = not np.any(ids < 0)
        else:
            ids = string_ids(column)
            ok = ids is not None
        if not ok:
            raise _failure(path, layout, columns, f"bad values in column {name!r}")
        raw.append(ids)
    timestamp = None
    if layout.timestamp is not None:
        column = table.column(layout.timestamp)
        if layout.time == "unix":
            timestamp = column.to_numpy()
        elif layout.time == "date":
            try:  # strict ISO parse (pc.strptime would roll 2000-02-30 over to March 1)
                timestamp = pc.cast(column, pa.timestamp("s")).cast(pa.int64()).to_numpy()
                ok = pc.all(pc.equal(pc.utf8_length(column), 10)).as_py() is not False
            except pa.ArrowInvalid:
                ok = False
            if not ok:
                raise _failure(path, layout, columns, "bad dates")
        else:
            timestamp = parse_times(column)
            if timestamp is None:
                raise _failure(path, layout, columns, "bad timestamps")
    return to_interactions(raw[0], raw[1], timestamp)


def _sniff_separator(path: Path) -> str:
    for suffix, sep in SEPARATORS.items():
        if path.name.lower().endswith(suffix):
            return sep
    if path.suffix.lower() == ".txt":
        first = _first_line(path)
        for sep in ("\t", ",", ";", " "):
            if sep in first:
                return sep
        raise ElasticrecError(
            f"{path} line 1: cannot tell the separator (no tab, comma, semicolon or space in "
            "the header); pass sep="
        )
    raise ElasticrecError(
        f"{path}: cannot tell the format from the extension {path.suffix!r}; use .csv, .tsv, "
        ".txt or .parquet, or pass sep= for a delimited file"
    )


def read_table(
    path: str | Path,
    user_col: str = "user",
    item_col: str = "item",
    timestamp_col: str | None = None,
    sep: str | None = None,
) -> Interactions:
    """Read a user's own CSV/TSV/TXT (with a header row) or Parquet file.

    ``sep`` defaults to ``,`` for .csv, tab for .tsv, and for .txt the first of tab, comma,
    semicolon or space found in the header. Ids may be integers (sorted numerically, so "07"
    and "7" are the same id) or strings (sorted by code point). Timestamps may be unix seconds
    or ISO 8601 dates / date-times (naive ones are UTC).
    """
    path = Path(path)
    if sep is None and path.suffix.lower() in PARQUET_SUFFIXES:
        return read_parquet(path, user_col, item_col, timestamp_col)
    if sep is None:
        sep = _sniff_separator(path)
    if len(sep) != 1:
        raise ElasticrecError(f"read_table: sep must be one character, got {sep!r}")
    layout = Layout(
        sep=sep, user=user_col, item=item_col, timestamp=timestamp_col, ids="any", time="any"
    )
    return read_delimited(path, layout)


def read_movielens_100k(path: str | Path) -> Interactions:
    """MovieLens 100K ``u.data``: ``user<TAB>item<TAB>rating<TAB>timestamp``, no header."""
    names = ("user", "item", "rating", "timestamp")
    layout = Layout(sep="\t", user="user", item="item", timestamp="timestamp", names=names)
    return read_delimited(path, layout)


def read_movielens_csv(path: str | Path) -> Interactions:
    """MovieLens ``ratings.csv``: header ``userId,movieId,rating,timestamp``."""
    layout = Layout(sep=",", user="userId", item="movieId", timestamp="timestamp")
    return read_delimited(path, layout)


def read_rechorus(path: str | Path) -> Interactions:
    """ReChorus ``train.csv`` (tab-separated despite its name): header ``user_id item_id time``."""
    layout = Layout(sep="\t", user="user_id", item="item_id", timestamp="time")
    return read_delimited(path, layout)


def read_ciaodvd(path: str | Path) -> Interactions:
    """CiaoDVD ``movie-ratings.txt``: ``user,movie,genre,review,rating,YYYY-MM-DD``, no header.

    Dates become unix seconds at 00:00 UTC.
    """
    names = ("user", "movie", "genre", "review", "rating", "date")
    layout = Layout(sep=",", user="user", item="movie", timestamp="date", names=names, time="date")
    return read_delimited(path, layout)
