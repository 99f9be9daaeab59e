"""Id remapping, compaction, duplicate removal and k-core filtering."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from data_strategies import events, interactions
from hypothesis import given
from hypothesis import strategies as st

from elasticrec.data.interactions import Interactions
from elasticrec.data.preprocess import compact, drop_duplicates, k_core, remap_ids
from elasticrec.errors import ElasticrecError


@given(st.lists(st.integers(-(2**62), 2**62)))
def test_remap_integer_round_trip_in_numeric_order(raw):
    ids, labels = remap_ids(np.array(raw, dtype=np.int64))
    assert labels[ids].tolist() == [str(r) for r in raw]
    assert [int(x) for x in labels] == sorted(set(raw))
    assert ids.dtype == np.int64


# NumPy fixed-width strings drop trailing NUL characters; ids never end in one.
@given(st.lists(st.text(st.characters(exclude_characters="\0"), min_size=1, max_size=4)))
def test_remap_string_round_trip_in_code_point_order(raw):
    ids, labels = remap_ids(np.array(raw, dtype=str))
    assert labels[ids].tolist() == raw
    assert labels.tolist() == sorted(set(raw))


def test_remap_rejects_floats():
    with pytest.raises(ElasticrecError, match="integers or strings"):
        remap_ids(np.array([1.5]))


def labelled(user, item, n_users, n_items, timestamp=None) -> Interactions:
    return Interactions(
        user=np.array(user, dtype=np.int64),
        item=np.array(item, dtype=np.int64),
        n_users=n_users,
        n_items=n_items,
        timestamp=None if timestamp is None else np.array(timestamp, dtype=np.int64),
        user_labels=np.array([f"u{i}" for i in range(n_users)]),
        item_labels=np.array([f"i{i}" for i in range(n_items)]),
    )


def test_compact_drops_unused_ids_and_keeps_labels():
    out = compact(labelled([3, 1, 3], [0, 4, 4], n_users=5, n_items=6))
    assert (out.n_users, out.n_items) == (2, 2)
    assert out.user.tolist() == [1, 0, 1] and out.item.tolist() == [0, 1, 1]
    assert out.user_labels.tolist() == ["u1", "u3"]
    assert out.item_labels.tolist() == ["i0", "i4"]


def test_drop_duplicates_keeps_the_earliest_event():
    inter = labelled([0, 0, 1, 0], [1, 1, 1, 1], 2, 2, timestamp=[5, 3, 9, 3])
    out = drop_duplicates(inter)
    # pair (0, 1) occurs at times 5, 3, 3: the first of the two events at time 3 stays
    assert out.user.tolist() == [0, 1] and out.timestamp.tolist() == [3, 9]


def reference_k_core(inter: Interactions, k_user: int, k_item: int) -> set[tuple[int, int]]:
    """Obvious slow k-core over distinct pairs."""
    pairs = set(zip(inter.user.tolist(), inter.item.tolist(), strict=True))
    while True:
        users = Counter(u for u, _ in pairs)
        items = Counter(i for _, i in pairs)
        keep = {(u, i) for u, i in pairs if users[u] >= k_user and items[i] >= k_item}
        if keep == pairs:
            return pairs
        pairs = keep


@given(interactions(), st.integers(0, 4), st.integers(0, 4))
def test_k_core_matches_reference_and_is_a_fixed_point(inter, k_user, k_item):
    inter = Interactions(
        user=inter.user,
        item=inter.item,
        n_users=inter.n_users,
        n_items=inter.n_items,
        timestamp=inter.timestamp,
        user_labels=np.array([f"u{i}" for i in range(inter.n_users)]),
        item_labels=np.array([f"i{i}" for i in range(inter.n_items)]),
    )
    out = k_core(inter, k_user, k_item)
    expected = reference_k_core(inter, k_user, k_item)
    got = {
        (int(out.user_labels[u][1:]), int(out.item_labels[i][1:]))
        for u, i in zip(out.user.tolist(), out.item.tolist(), strict=True)
    }
    assert got == expected
    # duplicates of kept pairs survive as events
    pairs = zip(inter.user.tolist(), inter.item.tolist(), strict=True)
    assert len(out) == sum(1 for pair in pairs if pair in expected)
    # compact: every id is used; a second pass changes nothing
    assert out.n_users == len(np.unique(out.user)) and out.n_items == len(np.unique(out.item))
    again = k_core(out, k_user, k_item)
    assert events(again) == events(out)


def test_k_core_rejects_bad_k():
    inter = labelled([0], [0], 1, 1)
    with pytest.raises(ElasticrecError, match="k_user must be an integer >= 0, got -1"):
        k_core(inter, -1, 1)
