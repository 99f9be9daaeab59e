"""Hypothesis strategies for ``Interactions`` (small id spaces, many ties and duplicates)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from elasticrec.data.interactions import Interactions


@st.composite
def interactions(
    draw: st.DrawFn, *, timestamps: bool | None = None, max_events: int = 40
) -> Interactions:
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 8))
    n = draw(st.integers(0, max_events))
    user = draw(st.lists(st.integers(0, n_users - 1), min_size=n, max_size=n))
    item = draw(st.lists(st.integers(0, n_items - 1), min_size=n, max_size=n))
    with_time = draw(st.booleans()) if timestamps is None else timestamps
    timestamp = None
    if with_time:
        timestamp = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.int64)
    return Interactions(
        user=np.array(user, dtype=np.int64),
        item=np.array(item, dtype=np.int64),
        n_users=n_users,
        n_items=n_items,
        timestamp=timestamp,
    )


def events(inter: Interactions) -> list[tuple[int, int, int | None]]:
    """The events as a sorted list of (user, item, timestamp) tuples: a multiset to compare."""
    ts = [None] * len(inter) if inter.timestamp is None else inter.timestamp.tolist()
    return sorted(zip(inter.user.tolist(), inter.item.tolist(), ts, strict=True), key=repr)
