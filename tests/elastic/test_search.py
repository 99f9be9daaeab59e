import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.elastic.search import (
    BlockCosts,
    Infeasible,
    SearchConfig,
    mutate,
    random_config,
    regularized_evolution,
    repair,
)


def additive(weights):
    """An estimator whose score is the sum of the selected (group, block) weights."""
    return lambda configs: (configs * weights).sum(axis=(-2, -1))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_search_returns_a_feasible_configuration(n_groups, n_blocks, seed, slack):
    rng = np.random.default_rng(seed)
    costs = BlockCosts(block_bytes=rng.integers(1, 50, n_groups), fixed_bytes=100)
    lo, hi = costs.minimum(), int(costs.of(np.ones((n_groups, n_blocks), bool)))
    budget = int(lo + slack * (hi - lo))
    calls = []

    def estimate(configs):
        calls.append(len(configs))
        return additive(rng.random((n_groups, n_blocks)))(configs)

    res = regularized_evolution(estimate, n_groups, n_blocks, costs, budget,
                                SearchConfig(population=6, cycles=10, sample=3), rng)
    assert res.config.shape == (n_groups, n_blocks)
    assert res.config.any(axis=1).all()
    assert res.cost_bytes == costs.of(res.config) <= budget
    assert res.evaluations == sum(calls) == 16


def test_search_finds_the_optimum_of_a_small_additive_problem():
    rng = np.random.default_rng(0)
    weights = rng.random((3, 4))
    costs = BlockCosts(block_bytes=np.array([10, 20, 30]), fixed_bytes=0)
    budget = 120
    best = -1.0
    for bits in itertools.product([False, True], repeat=12):  # brute force
        c = np.array(bits).reshape(3, 4)
        if c.any(axis=1).all() and costs.of(c) <= budget:
            best = max(best, float((c * weights).sum()))
    res = regularized_evolution(additive(weights), 3, 4, costs, budget,
                                SearchConfig(population=20, cycles=300, sample=5), rng)
    assert res.score == pytest.approx(best)


def test_search_beats_random_configurations_of_the_same_budget():
    rng = np.random.default_rng(1)
    weights = rng.random((20, 16)) ** 3
    costs = BlockCosts(block_bytes=np.full(20, 100), fixed_bytes=500)
    budget = 500 + 100 * 60
    res = regularized_evolution(additive(weights), 20, 16, costs, budget, SearchConfig(), rng)
    randoms = [float((random_config(20, 16, costs, budget, rng) * weights).sum())
               for _ in range(200)]
    assert res.score > np.percentile(randoms, 95)


def test_repair_keeps_one_block_per_group_and_reports_infeasible_budgets():
    rng = np.random.default_rng(2)
    costs = BlockCosts(block_bytes=np.array([10, 10]), fixed_bytes=5)
    full = np.ones((2, 3), bool)
    fixed = repair(full, costs, 25, rng)
    assert fixed.sum(axis=1).tolist() == [1, 1]
    with pytest.raises(Infeasible, match="25 bytes"):
        repair(full, costs, 24, rng)
    empty_row = np.array([[True, True, False], [False, False, False]])
    assert repair(empty_row, costs, 100, rng)[1].any()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_mutation_changes_one_group_and_keeps_it_non_empty(n_groups, n_blocks, seed):
    rng = np.random.default_rng(seed)
    config = rng.random((n_groups, n_blocks)) < 0.5
    config[np.arange(n_groups), rng.integers(n_blocks, size=n_groups)] = True
    child = mutate(config, rng)
    assert child.any(axis=1).all()
    assert (child != config).any(axis=1).sum() <= 1
    assert abs(int(child.sum()) - int(config.sum())) <= 1
