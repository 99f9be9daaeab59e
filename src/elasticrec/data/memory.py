"""Datasets from data already in memory: a DataFrame, a ``scipy.sparse`` user-item matrix, or
``(users, items[, timestamps])`` arrays. Pure: nothing here reads or writes files.

Ids are remapped as the file readers do (``remap_ids``: sorted, numerically for integers, by
code point for strings) and kept as labels, so packages and recommendations speak the
caller's ids. A DataFrame is read through its columns only (``frame[name]``), so any object
with named columns works, pandas or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from elasticrec.data.columns import to_interactions
from elasticrec.data.dataset import Dataset
from elasticrec.data.interactions import Interactions
from elasticrec.errors import ElasticrecError


def from_arrays(users: Sequence, items: Sequence, timestamps: Sequence | None = None, *,
                name: str = "arrays") -> Dataset:
    """One event per position: ``users[k]`` interacted with ``items[k]`` (at ``timestamps[k]``,
    unix seconds). Ids may be integers or strings."""
    user, item = _ids(users, "users"), _ids(items, "items")
    if len(user) != len(item):
        raise ElasticrecError(f"{name}: {len(user)} users but {len(item)} items given; one "
                              "of each per event")
    if not len(user):
        raise ElasticrecError(f"{name}: no events")
    times = None
    if timestamps is not None:
        times = np.asarray(timestamps)
        if times.ndim != 1 or len(times) != len(user):
            raise ElasticrecError(f"{name}: timestamps must be one number per event "
                                  f"({len(user)}), got shape {times.shape}")
        if times.dtype.kind == "M":
            times = times.astype("datetime64[s]").astype(np.int64)
        elif times.dtype.kind not in "iu":
            if times.dtype.kind != "f" or not np.isfinite(times).all():
                raise ElasticrecError(f"{name}: timestamps must be integers (unix seconds) or "
                                      f"datetimes, got {times.dtype}")
            times = times.astype(np.int64)
    return Dataset.of(name, to_interactions(user, item, times))


def from_frame(frame, *, user_col: str = "user", item_col: str = "item",
               timestamp_col: str | None = None, name: str = "dataframe") -> Dataset:
    """The events of a DataFrame with user and item (and optionally timestamp) columns."""
    columns = [str(c) for c in getattr(frame, "columns", [])]
    wanted = [c for c in (user_col, item_col, timestamp_col) if c is not None]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ElasticrecError(f"{name}: no column {missing[0]!r}; columns are {columns}; name "
                              "them with user_col=, item_col=, timestamp_col=")
    times = None if timestamp_col is None else _column(frame, timestamp_col)
    return from_arrays(_column(frame, user_col), _column(frame, item_col), times, name=name)


def from_sparse(matrix, *, name: str = "matrix") -> Dataset:
    """The events of a users x items matrix: every stored non-zero entry is one event; rows
    and columns are the ids (``0..n-1``, every row and column kept, empty or not)."""
    coo = matrix.tocoo()
    keep = coo.data != 0
    if not keep.any():
        raise ElasticrecError(f"{name}: the matrix has no non-zero entry")
    n_users, n_items = coo.shape
    inter = Interactions(user=coo.row[keep].astype(np.int64), item=coo.col[keep].astype(np.int64),
                         n_users=int(n_users), n_items=int(n_items),
                         user_labels=np.arange(n_users).astype(str),
                         item_labels=np.arange(n_items).astype(str))
    return Dataset.of(name, inter)


def _column(frame, name: str) -> np.ndarray:
    values = frame[name]
    return np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)


def _ids(values: Sequence, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ElasticrecError(f"{what} must be one id per event (1-d), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ElasticrecError(f"{what}: ids must be integers or strings, got non-integral "
                                  "numbers")
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and v != v) for v in arr.tolist()):
            raise ElasticrecError(f"{what}: an id is missing (None or NaN)")
        arr = arr.astype(str)
    if arr.dtype.kind not in "iuU":
        raise ElasticrecError(f"{what}: ids must be integers or strings, got {arr.dtype}")
    return arr
