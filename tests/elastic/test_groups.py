import numpy as np
import pytest

from elasticrec.elastic.groups import id_range_groups, popularity_groups


def test_popularity_groups_rank_items_and_balance_sizes():
    counts = np.array([5, 50, 0, 7, 50, 1, 9])
    groups = popularity_groups(counts, 3)
    # ranked: 1, 4 (50, ties by id), 6 (9), 3 (7), 0 (5), 5 (1), 2 (0)
    assert groups.tolist() == [1, 0, 2, 1, 0, 2, 0]
    assert sorted(np.bincount(groups).tolist()) == [2, 2, 3]
    for g in range(2):  # every item of a group is at least as popular as the next group's
        assert counts[groups == g].min() >= counts[groups == g + 1].max()


def test_id_range_groups_follow_the_released_split():
    groups = id_range_groups(10, 3)  # chunks of 10 // 3 + 1 = 4
    assert groups.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("n_groups", [0, 8])
def test_group_count_is_checked(n_groups):
    with pytest.raises(ValueError, match="n_groups"):
        popularity_groups(np.ones(7), n_groups)
