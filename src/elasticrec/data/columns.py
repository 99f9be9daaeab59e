"""From pyarrow columns of raw ids and times to ``Interactions`` (shared by the readers)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from elasticrec.data import diagnose
from elasticrec.data.interactions import Interactions
from elasticrec.data.preprocess import remap_ids


def string_ids(column: pa.ChunkedArray) -> np.ndarray | None:
    """Integers when every id parses as one, else strings; None when an id is empty."""
    try:
        return pc.cast(column, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        pass
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)
    return None if np.any(values == "") else values


def parse_times(column: pa.ChunkedArray) -> np.ndarray | None:
    """Unix seconds from strings holding integers or ISO 8601 dates; None when one fails."""
    for target in (pa.int64(), pa.timestamp("s"), pa.timestamp("s", tz="UTC")):
        try:
            return pc.cast(column, target).cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:
            continue
    try:
        return np.array([diagnose.parse_iso(v) for v in column.to_pylist()], dtype=np.int64)
    except ValueError:
        return None


def to_interactions(
    user_raw: np.ndarray, item_raw: np.ndarray, timestamp: np.ndarray | None
) -> Interactions:
    """Remap raw ids to contiguous ids in sorted raw-id order, keeping them as labels."""
    user, user_labels = remap_ids(user_raw)
    item, item_labels = remap_ids(item_raw)
    return Interactions(
        user=user,
        item=item,
        n_users=len(user_labels),
        n_items=len(item_labels),
        timestamp=None if timestamp is None else np.ascontiguousarray(timestamp, dtype=np.int64),
        user_labels=user_labels,
        item_labels=item_labels,
    )
