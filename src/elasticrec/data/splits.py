"""Train/test splits of one ``Interactions`` (pure and vectorised).

Every split returns ``(train, test)`` in the input's id space, each holding its events in
input order; together they hold every input event exactly once. Duplicate events are split
like any other events, so a (user, item) pair may appear on both sides; call
``preprocess.drop_duplicates`` first to prevent that. Counts like ``ratio * n`` are rounded
half up.
"""

from __future__ import annotations

import numbers

import numpy as np

from elasticrec.data.config import SPLITS  # noqa: F401 - the splits this module offers
from elasticrec.data.interactions import Interactions
from elasticrec.errors import ElasticrecError


def _check_ratio(where: str, test_ratio: float) -> None:
    ok = isinstance(test_ratio, numbers.Real) and not isinstance(test_ratio, bool)
    if not ok or not 0.0 < float(test_ratio) < 1.0:
        raise ElasticrecError(
            f"{where}: test_ratio must be a number strictly between 0 and 1, got {test_ratio!r}"
        )


def _require_timestamps(where: str, inter: Interactions) -> np.ndarray:
    if inter.timestamp is None:
        raise ElasticrecError(f"{where} needs timestamps; these interactions have none")
    return inter.timestamp


def _half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _by_mask(inter: Interactions, is_test: np.ndarray) -> tuple[Interactions, Interactions]:
    return inter.subset(~is_test), inter.subset(is_test)


def random_split(
    inter: Interactions, test_ratio: float, rng: np.random.Generator
) -> tuple[Interactions, Interactions]:
    """Per user, a random ``round(test_ratio * n)`` of the user's n events go to test.

    Users with at least 2 events put at least 1 in test and keep at least 1 in train; users
    with a single event keep it in train. The same ``rng`` state gives the same split.
    """
    _check_ratio("random_split", test_ratio)
    if not isinstance(rng, np.random.Generator):
        raise ElasticrecError(f"random_split: rng must be a numpy Generator, got {type(rng)}")
    counts = np.bincount(inter.user, minlength=inter.n_users)
    n_test = np.where(counts >= 2, np.clip(_half_up(test_ratio * counts), 1, counts - 1), 0)
    perm = rng.permutation(len(inter))
    order = perm[np.argsort(inter.user[perm], kind="stable")]  # by user, random within
    user = inter.user[order]
    rank = np.arange(len(inter)) - (np.cumsum(counts) - counts)[user]
    is_test = np.zeros(len(inter), dtype=bool)
    is_test[order] = rank < n_test[user]
    return _by_mask(inter, is_test)


def temporal_split(inter: Interactions, test_ratio: float) -> tuple[Interactions, Interactions]:
    """The latest ``round(test_ratio * n)`` events (at least 1, at most n - 1) go to test.

    No test event is earlier than any train event. Events sharing the boundary timestamp are
    ordered by their position in the input: earlier rows go to train, later rows to test, so
    the test size is exact and the split deterministic.
    """
    _check_ratio("temporal_split", test_ratio)
    timestamp = _require_timestamps("temporal_split", inter)
    n = len(inter)
    if n < 2:
        raise ElasticrecError(f"temporal_split needs at least 2 events, got {n}")
    n_test = int(np.clip(_half_up(np.float64(test_ratio) * n), 1, n - 1))
    order = np.argsort(timestamp, kind="stable")
    is_test = np.zeros(n, dtype=bool)
    is_test[order[n - n_test :]] = True
    return _by_mask(inter, is_test)


def leave_last_out(inter: Interactions, n: int = 1) -> tuple[Interactions, Interactions]:
    """Each user's last ``n`` events by timestamp go to test, keeping at least one in train.

    A user with c events puts ``min(n, c - 1)`` in test. Ties in time are broken by input
    order (a later row counts as later).
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ElasticrecError(f"leave_last_out: n must be an integer >= 1, got {n!r}")
    timestamp = _require_timestamps("leave_last_out", inter)
    size = len(inter)
    order = np.lexsort((np.arange(size), timestamp, inter.user))
    counts = np.bincount(inter.user, minlength=inter.n_users)
    user = inter.user[order]
    from_end = np.cumsum(counts)[user] - 1 - np.arange(size)
    n_test = np.minimum(n, np.maximum(counts - 1, 0))
    is_test = np.zeros(size, dtype=bool)
    is_test[order] = from_end < n_test[user]
    return _by_mask(inter, is_test)
