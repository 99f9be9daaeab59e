"""SCALL's streaming protocol (METHODS.md 2.4): time-ordered segments, a replay reservoir and a
per-segment temporal split, over one ``Interactions`` sorted by time.

Rows are always referred to by their position in the time-sorted interactions. Pure NumPy;
loops run per segment, never per interaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elasticrec.data.interactions import Interactions

NEW_ENTITIES = 15_000  # the released rule: a new segment after this many new users + items
RESERVOIR = 0.2  # replayed rows, as a share of the segment
TRAIN_SHARE = 0.8


def time_sorted(inter: Interactions) -> Interactions:
    """The interactions in time order (stable: ties keep their order in the file)."""
    if not inter.has_timestamps:
        raise ValueError("streaming needs timestamps: give a dataset with a time column")
    return inter.subset(np.argsort(inter.timestamp, kind="stable"))


def cuts_by_new_entities(inter: Interactions, threshold: int = NEW_ENTITIES) -> np.ndarray:
    """Segment start rows: a segment ends after the row at which the number of users and
    items first seen since its start exceeds ``threshold`` (the released rule)."""
    new = _first_seen(inter.user, inter.n_users) + _first_seen(inter.item, inter.n_items)
    seen = np.cumsum(new)  # new entities up to and including each row
    starts, base = [0], 0
    while True:
        over = int(np.searchsorted(seen, base + threshold, side="right"))  # first row > threshold
        if over >= len(inter) - 1:
            return np.array(starts)
        starts.append(over + 1)
        base = int(seen[over])


def cuts_equal(n_rows: int, n_segments: int) -> np.ndarray:
    """Segment start rows for ``n_segments`` windows of (nearly) equal numbers of rows."""
    if not 1 <= n_segments <= max(n_rows, 1):
        raise ValueError(f"n_segments={n_segments} is not allowed: in [1, {n_rows}]")
    return np.linspace(0, n_rows, n_segments + 1).astype(np.int64)[:-1]


@dataclass(frozen=True, eq=False)
class StreamSegment:
    index: int
    rows: np.ndarray  # the segment's own rows
    replay: np.ndarray  # earlier rows replayed (users of this segment), before ``rows``
    train_current: np.ndarray  # the first 80% of [replay; rows]
    test: np.ndarray  # the rest, restricted to users and items known in training
    train: np.ndarray  # every earlier row plus ``train_current`` (deduplicated rows)


def segments(inter: Interactions, starts: np.ndarray, rng: np.random.Generator,
             reservoir: float = RESERVOIR, train_share: float = TRAIN_SHARE) -> list[StreamSegment]:
    """The segments of time-sorted ``inter`` beginning at rows ``starts``."""
    bounds = [*(int(s) for s in starts), len(inter)]
    out = []
    for t in range(len(starts)):
        rows = np.arange(bounds[t], bounds[t + 1])
        replay = np.zeros(0, dtype=np.int64)
        if t > 0 and reservoir > 0:
            capacity = int(reservoir * len(rows))
            earlier = np.arange(bounds[t])
            candidates = earlier[np.isin(inter.user[earlier], inter.user[rows])]
            # Algorithm R over (a 1.1x random subsample of) the candidates keeps a uniform
            # random subset of ``capacity`` rows: drawn here directly, in time order
            if len(candidates) > capacity:
                candidates = np.sort(rng.choice(candidates, size=capacity, replace=False))
            replay = candidates
        stream = np.concatenate([replay, rows])
        split = round(train_share * len(stream))
        train_current, test = stream[:split], stream[split:]
        train = np.union1d(np.arange(bounds[t]), train_current)
        known_u = np.zeros(inter.n_users, bool)
        known_i = np.zeros(inter.n_items, bool)
        known_u[inter.user[train]] = True
        known_i[inter.item[train]] = True
        test = test[known_u[inter.user[test]] & known_i[inter.item[test]]]
        test = np.setdiff1d(test, train)  # a replayed row is never its own test
        out.append(StreamSegment(t, rows, replay, train_current, test, train))
    return out


def current_frequency(inter: Interactions, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events per user and per item in ``rows`` (the current segment's training rows): what
    ranks entities for sizes."""
    return (np.bincount(inter.user[rows], minlength=inter.n_users),
            np.bincount(inter.item[rows], minlength=inter.n_items))


def _first_seen(ids: np.ndarray, n: int) -> np.ndarray:
    """1 at the row where each id appears first, else 0."""
    first = np.full(n, len(ids))
    np.minimum.at(first, ids, np.arange(len(ids)))
    out = np.zeros(len(ids), dtype=np.int64)
    out[first[first < len(ids)]] = 1
    return out
