"""SCALL's streaming protocol: segments, replay, per-segment temporal split."""

import numpy as np
import pytest

from elasticrec.data.interactions import Interactions
from elasticrec.scall.stream import (
    current_frequency,
    cuts_by_new_entities,
    cuts_equal,
    segments,
    time_sorted,
)
from toy_data import arriving_stream as stream


def test_cuts_follow_the_released_new_entity_rule():
    inter = Interactions(user=np.array([0, 1, 0, 2, 3, 3, 4]), item=np.array([0, 0, 1, 1, 2, 2, 3]),
                         n_users=5, n_items=4, timestamp=np.arange(7))
    # new entities per row: 2, 1, 1, 1, 2, 0, 2. With threshold 3 the first segment ends at
    # row 2 (4 new > 3); the second would end at row 6 (5 more), the last row: no third
    assert cuts_by_new_entities(inter, 3).tolist() == [0, 3]
    assert cuts_by_new_entities(inter, 100).tolist() == [0]


def test_segments_partition_time_and_never_leak_the_future():
    rng = np.random.default_rng(0)
    inter = time_sorted(stream(rng))
    starts = cuts_by_new_entities(inter, 60)
    assert len(starts) >= 4
    segs = segments(inter, starts, np.random.default_rng(1))
    assert np.array_equal(np.concatenate([s.rows for s in segs]), np.arange(len(inter)))
    for s in segs:
        first = s.rows[0]
        assert (s.replay < first).all() and (s.train <= s.rows[-1]).all()
        assert len(s.replay) <= int(0.2 * len(s.rows))
        assert set(inter.user[s.replay]) <= set(inter.user[s.rows])
        assert not np.intersect1d(s.test, s.train).size
        # the test rows are the latest of the segment, and their entities were seen in training
        assert not len(s.test) or s.test.min() >= s.train_current.max() - len(s.replay)
        assert np.isin(inter.user[s.test], inter.user[s.train]).all()
        assert np.isin(inter.item[s.test], inter.item[s.train]).all()
        if s.index > 0:
            assert np.isin(np.arange(first), s.train).all()  # warm: every earlier row trains


def test_equal_windows_and_frequencies():
    assert cuts_equal(10, 3).tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="n_segments"):
        cuts_equal(2, 5)
    inter = Interactions(user=np.array([0, 0, 1]), item=np.array([2, 1, 2]), n_users=3,
                         n_items=3, timestamp=np.arange(3))
    users, items = current_frequency(inter, np.array([0, 2]))
    assert users.tolist() == [1, 1, 0] and items.tolist() == [0, 0, 2]


def test_streaming_needs_timestamps():
    with pytest.raises(ValueError, match="timestamps"):
        time_sorted(Interactions(user=np.array([0]), item=np.array([0]), n_users=1, n_items=1))
