"""Reader for a user's own Parquet file of interactions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from elasticrec.data import diagnose
from elasticrec.data.columns import parse_times, string_ids, to_interactions
from elasticrec.data.interactions import Interactions
from elasticrec.errors import ElasticrecError

PARQUET_SUFFIXES = (".parquet", ".pq")


def _parquet_ids(path: Path, column: pa.ChunkedArray, name: str) -> np.ndarray:
    _reject_nulls(path, column, name)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_integer(kind):
        return column.cast(pa.int64()).to_numpy()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        ids = string_ids(column)
        if ids is None:
            row = int(np.flatnonzero(pc.equal(column, "").to_numpy(zero_copy_only=False))[0])
            raise ElasticrecError(f"{path} row {row + 1}: column {name!r} holds an empty id")
        return ids
    raise ElasticrecError(
        f"{path}: column {name!r} has type {kind}; ids must be integers or strings"
    )


def _reject_nulls(path: Path, column: pa.ChunkedArray, name: str) -> None:
    if column.null_count:
        row = int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0])
        raise ElasticrecError(f"{path} row {row + 1}: column {name!r} is missing a value")


_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _parquet_times(path: Path, column: pa.ChunkedArray, name: str) -> np.ndarray:
    _reject_nulls(path, column, name)
    kind = column.type
    if pa.types.is_integer(kind):
        return column.cast(pa.int64()).to_numpy()
    if pa.types.is_timestamp(kind):
        return column.cast(pa.int64()).to_numpy() // _UNITS_PER_SECOND[kind.unit]
    if pa.types.is_date32(kind):
        return column.cast(pa.int32()).to_numpy().astype(np.int64) * 86_400
    if pa.types.is_date64(kind):
        return column.cast(pa.int64()).to_numpy() // 1_000
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        times = parse_times(column)
        if times is not None:
            return times
        for row, value in enumerate(column.to_pylist()):
            problem = diagnose.time_check("timestamp")(value)
            if problem is not None:
                raise ElasticrecError(f"{path} row {row + 1}: {problem}")
        raise ElasticrecError(f"{path}: column {name!r}: could not parse the timestamps")
    raise ElasticrecError(
        f"{path}: column {name!r} has type {kind}; timestamps must be integers (unix seconds), "
        "timestamps, dates or ISO 8601 strings"
    )


def read_parquet(
    path: str | Path, user_col: str, item_col: str, timestamp_col: str | None = None
) -> Interactions:
    """Read a Parquet file with integer or string id columns and an optional time column."""
    path = Path(path)
    if not path.is_file():
        raise ElasticrecError(f"{path}: no such file")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise ElasticrecError(f"{path}: not a readable Parquet file ({exc})") from None
    wanted = [c for c in (user_col, item_col, timestamp_col) if c is not None]
    for name in wanted:
        if name not in names:
            found = ", ".join(repr(c) for c in names)
            raise ElasticrecError(f"{path}: no column {name!r}; columns found: {found}")
    table = pq.read_table(path, columns=wanted)
    if table.num_rows == 0:
        raise ElasticrecError(f"{path}: the file has no rows (no interactions)")
    user = _parquet_ids(path, table.column(user_col), user_col)
    item = _parquet_ids(path, table.column(item_col), item_col)
    timestamp = None
    if timestamp_col is not None:
        timestamp = _parquet_times(path, table.column(timestamp_col), timestamp_col)
    return to_interactions(user, item, timestamp)
