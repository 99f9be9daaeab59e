"""Split invariants: a partition of the input, per-user counts, no future leakage, determinism."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from data_strategies import events, interactions
from hypothesis import given
from hypothesis import strategies as st

from elasticrec.data.interactions import Interactions
from elasticrec.data.splits import leave_last_out, random_split, temporal_split
from elasticrec.errors import ElasticrecError

ratios = st.floats(0.01, 0.99)


def half_up(x: float) -> int:
    return math.floor(x + 0.5)


def assert_partition(inter: Interactions, train: Interactions, test: Interactions) -> None:
    """Union equals the input as a multiset; same id space; each side keeps input order."""
    assert sorted(events(train) + events(test), key=repr) == events(inter)
    for side in (train, test):
        assert (side.n_users, side.n_items) == (inter.n_users, inter.n_items)
        assert side.user_labels is inter.user_labels


def per_user(inter: Interactions) -> Counter:
    return Counter(inter.user.tolist())


@given(interactions(), ratios, st.integers(0, 2**32))
def test_random_split(inter, ratio, seed):
    train, test = random_split(inter, ratio, np.random.default_rng(seed))
    assert_partition(inter, train, test)
    counts, in_test = per_user(inter), per_user(test)
    for user, c in counts.items():
        expected = 0 if c < 2 else min(max(half_up(ratio * c), 1), c - 1)
        assert in_test[user] == expected
    again_train, again_test = random_split(inter, ratio, np.random.default_rng(seed))
    assert np.array_equal(again_test.user, test.user)
    assert np.array_equal(again_test.item, test.item)
    assert np.array_equal(again_train.item, train.item)


def test_random_split_keeps_input_order_and_uses_the_generator():
    n = 200
    inter = Interactions(
        user=np.zeros(n, dtype=np.int64),
        item=np.arange(n, dtype=np.int64),
        n_users=1,
        n_items=n,
    )
    _, a = random_split(inter, 0.5, np.random.default_rng(1))
    _, b = random_split(inter, 0.5, np.random.default_rng(2))
    assert len(a) == 100 and np.all(np.diff(a.item) > 0)
    assert not np.array_equal(a.item, b.item)


@given(interactions(timestamps=True), ratios)
def test_temporal_split(inter, ratio):
    if len(inter) < 2:
        with pytest.raises(ElasticrecError, match="at least 2 events"):
            temporal_split(inter, ratio)
        return
    train, test = temporal_split(inter, ratio)
    assert_partition(inter, train, test)
    assert len(test) == min(max(half_up(ratio * len(inter)), 1), len(inter) - 1)
    assert train.timestamp.max() <= test.timestamp.min()  # no future leakage
    again = temporal_split(inter, ratio)[1]
    assert np.array_equal(again.item, test.item)


def test_temporal_split_breaks_boundary_ties_by_input_order():
    inter = Interactions(
        user=np.arange(4, dtype=np.int64),
        item=np.zeros(4, dtype=np.int64),
        n_users=4,
        n_items=1,
        timestamp=np.array([7, 5, 7, 7], dtype=np.int64),
    )
    train, test = temporal_split(inter, 0.5)
    # time order with ties by row: rows 1, 0, 2, 3; the last two go to test
    assert train.user.tolist() == [0, 1] and test.user.tolist() == [2, 3]


@given(interactions(timestamps=True), st.integers(1, 4))
def test_leave_last_out(inter, n):
    train, test = leave_last_out(inter, n)
    assert_partition(inter, train, test)
    counts, in_test = per_user(inter), per_user(test)
    for user, c in counts.items():
        assert in_test[user] == min(n, c - 1)
    for user in in_test:  # every test event is no earlier than the user's train events
        assert train.timestamp[train.user == user].max() <= test.timestamp[test.user == user].min()


def test_leave_last_out_breaks_ties_by_input_order():
    inter = Interactions(
        user=np.array([0, 0, 0, 1], dtype=np.int64),
        item=np.array([0, 1, 2, 3], dtype=np.int64),
        n_users=2,
        n_items=4,
        timestamp=np.array([9, 9, 1, 4], dtype=np.int64),
    )
    train, test = leave_last_out(inter)
    assert test.item.tolist() == [1]  # rows 0 and 1 tie at time 9; row 1 is later
    assert train.item.tolist() == [0, 2, 3]  # user 1 has one event: it stays in train


@pytest.mark.parametrize("bad", [0, 1, -0.5, 1.5, float("nan"), True, "0.2"])
def test_ratio_is_validated(bad):
    inter = Interactions(
        user=np.zeros(3, dtype=np.int64),
        item=np.zeros(3, dtype=np.int64),
        n_users=1,
        n_items=1,
        timestamp=np.zeros(3, dtype=np.int64),
    )
    with pytest.raises(ElasticrecError, match="test_ratio must be a number strictly between"):
        random_split(inter, bad, np.random.default_rng(0))
    with pytest.raises(ElasticrecError, match="test_ratio"):
        temporal_split(inter, bad)


def test_time_based_splits_need_timestamps():
    inter = Interactions(
        user=np.zeros(3, dtype=np.int64), item=np.zeros(3, dtype=np.int64), n_users=1, n_items=1
    )
    with pytest.raises(ElasticrecError, match="temporal_split needs timestamps"):
        temporal_split(inter, 0.2)
    with pytest.raises(ElasticrecError, match="leave_last_out needs timestamps"):
        leave_last_out(inter)
    with pytest.raises(ElasticrecError, match="n must be an integer >= 1, got 0"):
        leave_last_out(inter, 0)
    with pytest.raises(ElasticrecError, match="rng must be a numpy Generator"):
        random_split(inter, 0.2, 42)
