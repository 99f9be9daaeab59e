"""Id remapping, duplicate removal and k-core filtering over ``Interactions`` (pure)."""

from __future__ import annotations

import numpy as np

from elasticrec.data.interactions import Interactions
from elasticrec.errors import ElasticrecError


def remap_ids(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous 0-based ids for raw ids, and the raw id of each new id as a string.

    New ids follow the sorted order of the distinct raw ids: numerically for integer arrays,
    by code point for string arrays. ``labels[ids]`` gives back the raw ids (as strings).
    """
    raw = np.asarray(raw)
    if raw.dtype.kind not in "iuUO":
        raise ElasticrecError(f"remap_ids: raw ids must be integers or strings, got {raw.dtype}")
    if raw.dtype.kind == "O":
        raw = raw.astype(str)
    distinct, ids = np.unique(raw, return_inverse=True)
    return ids.astype(np.int64).reshape(-1), distinct.astype(str)


def _default_labels(labels: np.ndarray | None, n: int) -> np.ndarray:
    return np.arange(n).astype(str) if labels is None else labels


def compact(inter: Interactions) -> Interactions:
    """Drop user and item ids that have no event and renumber the rest contiguously.

    The relative order of ids is kept. Labels follow their ids; when the input has no labels,
    the output's labels are the input's internal ids as strings, so the mapping is not lost.
    """
    users, user = np.unique(inter.user, return_inverse=True)
    items, item = np.unique(inter.item, return_inverse=True)
    return Interactions(
        user=user.astype(np.int64).reshape(-1),
        item=item.astype(np.int64).reshape(-1),
        n_users=len(users),
        n_items=len(items),
        timestamp=inter.timestamp,
        user_labels=_default_labels(inter.user_labels, inter.n_users)[users],
        item_labels=_default_labels(inter.item_labels, inter.n_items)[items],
    )


def _time_order(inter: Interactions) -> np.ndarray:
    """Event indices in time order, ties (and data without timestamps) in original order."""
    if inter.timestamp is None:
        return np.arange(len(inter))
    return np.argsort(inter.timestamp, kind="stable")


def drop_duplicates(inter: Interactions) -> Interactions:
    """Keep the earliest event of each (user, item) pair; the survivors keep their order.

    "Earliest" is by timestamp, ties by original order (original order alone without
    timestamps).
    """
    order = _time_order(inter)
    keys = inter.user[order] * inter.n_items + inter.item[order]
    _, first = np.unique(keys, return_index=True)
    return inter.subset(np.sort(order[first]))


def k_core(inter: Interactions, k_user: int, k_item: int) -> Interactions:
    """The largest subset in which every user has >= k_user and every item >= k_item neighbours.

    Degrees count distinct (user, item) pairs, so duplicate events do not inflate them; kept
    events keep their duplicates. Filtering repeats until nothing changes (a fixed point), then
    ids are compacted with ``compact``.
    """
    for field, k in (("k_user", k_user), ("k_item", k_item)):
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 0:
            raise ElasticrecError(f"k_core: {field} must be an integer >= 0, got {k!r}")
    keys = inter.user * inter.n_items + inter.item
    pairs, inverse = np.unique(keys, return_inverse=True)
    pair_user, pair_item = np.divmod(pairs, max(inter.n_items, 1))
    alive = np.ones(len(pairs), dtype=bool)
    while True:
        user_degree = np.bincount(pair_user[alive], minlength=inter.n_users)
        item_degree = np.bincount(pair_item[alive], minlength=inter.n_items)
        keep = alive & (user_degree[pair_user] >= k_user) & (item_degree[pair_item] >= k_item)
        if np.array_equal(keep, alive):
            break
        alive = keep
    return compact(inter.subset(alive[inverse.reshape(-1)]))
