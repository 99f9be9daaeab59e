"""SCALL's size sampler: the budget is never exceeded, sizes stay in bounds, skew follows alpha."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.scall.sampler import (
    BudgetTooSmall,
    assign_by_frequency,
    expected_sorted_profile,
    fit_to_budget,
    sizes_from_action,
    total_params,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 2000), st.floats(0, 1), st.floats(0, 1),
       st.floats(0, 1), st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_sizes_never_exceed_the_budget_and_stay_in_bounds(n_users, n_items, w, a_u, a_i,
                                                           mean, seed):
    budget = mean * (n_users + n_items)
    users, items = sizes_from_action(np.array([w, a_u, a_i]), n_users, n_items, budget,
                                     np.random.default_rng(seed), draws=5)
    assert len(users) == n_users and len(items) == n_items
    total = int(users.sum() + items.sum())
    assert total <= budget
    assert total == min(budget, 256 * (n_users + n_items))  # the budget is used
    for s in (users, items):
        assert s.size == 0 or (s.min() >= 1 and s.max() <= 256)
        assert np.all(np.diff(s) <= 1)  # sorted descending up to remainder units


def test_small_alpha_is_skewed_and_large_alpha_near_uniform():
    rng = np.random.default_rng(0)
    skewed = fit_to_budget(expected_sorted_profile(0.1, 20000, rng), 32 * 20000)
    flat = fit_to_budget(expected_sorted_profile(30.0, 20000, rng), 32 * 20000)
    assert skewed.max() == 256 and (skewed == 1).mean() > 0.4
    assert 20 <= flat.min() and flat.max() <= 34
    assert skewed.sum() == flat.sum() == 32 * 20000


def test_profile_is_sorted_and_sums_to_one():
    p = expected_sorted_profile(1.0, 500, np.random.default_rng(1))
    assert np.all(np.diff(p) <= 0) and p.sum() == pytest.approx(1.0)


def test_too_small_a_budget_is_refused_and_too_large_caps_at_d_max():
    with pytest.raises(BudgetTooSmall, match="10 entities"):
        fit_to_budget(np.full(10, 0.1), 9)
    assert fit_to_budget(np.full(10, 0.1), 10**6).tolist() == [256] * 10


def test_the_user_share_is_respected():
    users, items = sizes_from_action(np.array([0.25, 1.0, 1.0]), 1000, 1000, 32000,
                                     np.random.default_rng(2))
    assert users.sum() == 8000 and items.sum() == 24000


def test_sizes_go_to_the_most_frequent_entities_first():
    sizes = np.array([9, 5, 5, 1])
    freq = np.array([3, 10, 3, 0])
    got = assign_by_frequency(sizes, freq)
    assert got[1] == 9 and got[3] == 1 and sorted(got[[0, 2]]) == [5, 5]
    assert got[2] >= got[0]  # ties: the larger id first


def test_budget_units():
    assert total_params("c=16", 100, 50) == 2400
    assert total_params("B=10", 1, 1) == 2_500_000
    for bad in ("c=0", "B=x", "16", "d=3"):
        with pytest.raises(ValueError, match="budget"):
            total_params(bad, 1, 1)
