"""RULE's pieces: configuration sampling and labels, the estimator, costs and selection."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec import runtime
from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.estimator import (
    EstimatorConfig,
    fit_estimator,
    predict,
    spearman,
    within_budget_spearman,
)
from elasticrec.elastic.labels import config_quality, restricted_items, sample_configs
from elasticrec.elastic.search import BlockCosts, Infeasible, SearchConfig
from elasticrec.elastic.select import (
    as_prefixes,
    block_costs,
    choose,
    fill_prefixes,
    joint_rule_selection,
    rule_selection,
    to_selection,
)
from elasticrec.elastic.state import ElasticState, load_elastic, save_elastic
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, plan, write_package
from elasticrec.export.evaluate import evaluate_package
from elasticrec.format.sizes import device_bytes


def toy_embeddings(rng, n_users=30, n_items=120, dim=16) -> RunEmbeddings:
    return RunEmbeddings(
        user=rng.standard_normal((n_users, dim), dtype=np.float32),
        item=rng.standard_normal((n_items, dim), dtype=np.float32), dataset="toy",
        dataset_fingerprint="f", model="mf", user_labels=[f"u{i}" for i in range(n_users)],
        item_labels=[str(i) for i in range(n_items)])


def random_csr(rng, shape, density):
    return sp.csr_matrix((rng.random(shape) < density).astype(np.float32))


def test_sampled_configurations_cover_budgets_with_one_block_per_group():
    rng = np.random.default_rng(0)
    configs = sample_configs(5, 8, 400, rng)
    assert configs.shape == (400, 5, 8) and configs.any(axis=2).all()
    totals = configs.sum(axis=(1, 2))
    assert 5 <= totals.min() < 8
    assert totals.max() > 35 and len(np.unique(totals)) > 25
    assert len({c.tobytes() for c in configs}) > 370  # repeats only near the extremes


def test_restricted_items_zero_unshipped_positions_and_rescale():
    item = np.arange(24, dtype=np.float32).reshape(3, 8) + 1
    config = np.array([[True, False, False, False], [False, True, True, True]])
    groups = np.array([0, 1, 1])
    out = restricted_items(item, groups, config)
    assert (out[0, :2] == item[0, :2]).all() and (out[0, 2:] == 0).all()
    assert (out[1, :2] == 0).all() and (out[1, 2:] == item[1, 2:]).all()
    scaled = restricted_items(item, groups, config, rescale=True)
    np.testing.assert_allclose(scaled[0], out[0] * 4)
    np.testing.assert_allclose(scaled[2], out[2] * 4 / 3)


@pytest.mark.parametrize(("rescale", "dtype"), [(False, "float32"), (True, "float32"),
                                               (False, "float16"), (False, "int8")])
def test_labels_equal_the_quality_of_the_package_that_ships_the_configuration(tmp_path, rescale,
                                                                              dtype):
    """The estimator learns exactly what a device would measure on the package, at the
    value dtype the label was measured at."""
    rng = np.random.default_rng(1)
    emb = toy_embeddings(rng)
    known, target = random_csr(rng, (30, 120), 0.1), random_csr(rng, (30, 120), 0.05)
    groups = rng.integers(0, 4, 120)
    configs = sample_configs(4, 4, 3, rng)
    labels = config_quality(emb.user, emb.item, groups, configs, known, target, "recall@10",
                            None, rescale=rescale, precisions=np.array([dtype] * 3))
    for config, label in zip(configs, labels, strict=True):
        path = tmp_path / "p.erpk"
        write_package(path, build(emb, to_selection(config, groups, rescale=rescale),
                                  BuildOptions(value_dtype=dtype)))
        got = evaluate_package(runtime.load(path), known, target, (10,)).metrics["recall@10"]
        assert got == pytest.approx(label, abs=1e-12)


@pytest.mark.parametrize("kind", ["additive", "nfm"])
def test_estimator_ranks_held_out_configurations_of_a_known_quality(kind):
    rng = np.random.default_rng(2)
    weights = rng.random((6, 8)) ** 2
    configs = sample_configs(6, 8, 300, rng)
    # diminishing returns per group: what more blocks of an already rich group add shrinks
    labels = np.sqrt((configs * weights).sum(axis=2)).sum(axis=1)
    params = fit_estimator(configs[:240], labels[:240], EstimatorConfig(epochs=300), kind)
    predicted = predict(params, configs[240:])
    assert spearman(predicted, labels[240:]) > 0.95
    assert within_budget_spearman(configs[240:], predicted, labels[240:]) > 0.6
    assert predict(params, configs[:1]).shape == (1,)


def test_estimator_prediction_in_numpy_matches_torch():
    import torch

    from elasticrec.elastic.estimator import _forward, features

    rng = np.random.default_rng(3)
    configs = sample_configs(3, 4, 50, rng)
    params = fit_estimator(configs, rng.random(50), EstimatorConfig(epochs=20), "nfm")
    mean, std = params["label_scale"]
    t = {k: torch.from_numpy(v) for k, v in params.items() if k != "label_scale"}
    torch_out = _forward(torch, t, torch.from_numpy(features(configs))).numpy() * std + mean
    np.testing.assert_allclose(predict(params, configs), torch_out, rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["float32", "float16", "int8"]),
       st.booleans())
def test_block_costs_never_underestimate_the_package(seed, dtype, rescale):
    rng = np.random.default_rng(seed)
    emb = toy_embeddings(rng, n_users=3, n_items=int(rng.integers(20, 90)))
    n_groups, n_blocks = int(rng.integers(1, 25)), int(rng.choice([1, 2, 4, 8, 16]))
    groups = rng.integers(0, n_groups, len(emb.item))
    options = BuildOptions(value_dtype=dtype)
    costs = block_costs(emb, groups, n_groups, n_blocks, rescale=rescale, options=options)
    for config in sample_configs(n_groups, n_blocks, 5, rng):
        real = device_bytes(plan(emb, to_selection(config, groups, rescale=rescale), options))
        # tight: a few header bytes per pair, and never the header of every block
        assert real <= costs.of(config) <= real + 8 * int(config.sum()) + 64


@pytest.mark.parametrize("strategy", ["search", "greedy", "random"])
def test_every_strategy_fits_the_budget_and_search_and_greedy_beat_random(strategy):
    rng = np.random.default_rng(4)
    emb = toy_embeddings(rng, n_items=200, dim=16)
    groups = np.repeat(np.arange(5), 40)
    costs = block_costs(emb, groups, 5, 8, rescale=False, options=BuildOptions())
    weights = np.linspace(1, 0.01, 5)[:, None] * np.ones(8)  # group 0 matters most
    estimate = lambda c: (c * weights).sum(axis=(-2, -1))  # noqa: E731
    budget = costs.minimum() + 12 * int(costs.block_bytes[0])
    config, info = choose(strategy, estimate, 5, 8, costs, budget, np.random.default_rng(0),
                          SearchConfig(cycles=200))
    assert config.any(axis=1).all() and info["cost_bytes"] == costs.of(config) <= budget
    if strategy != "random":
        assert config[0].sum() >= 7  # the valuable group gets the spare blocks
    with pytest.raises(Infeasible):
        choose(strategy, estimate, 5, 8, costs, costs.minimum() - 1, np.random.default_rng(0))


def test_rule_selection_round_trips_through_the_run_directory(tmp_path):
    rng = np.random.default_rng(5)
    emb = toy_embeddings(rng)
    cfg = ElasticConfig(n_blocks=4, n_groups=3, label_configs=20)
    groups = rng.integers(0, 3, 120)
    configs = sample_configs(3, 4, 30, rng)
    values = configs.sum(axis=(1, 2)) * 1.0
    state = ElasticState(cfg, groups, fit_estimator(configs, values), {"x": 1},
                         label_configs=configs, label_values=values)
    save_elastic(tmp_path, state)
    back = load_elastic(tmp_path)
    assert back.config == cfg and back.report == {"x": 1}
    np.testing.assert_array_equal(back.item_group, groups)
    np.testing.assert_array_equal(back.label_configs, configs)
    np.testing.assert_array_equal(back.label_values, values)
    np.testing.assert_allclose(predict(back.estimator, configs), predict(state.estimator, configs))
    budget = 6000
    selection, info = rule_selection(emb, back, budget, BuildOptions(users=(0,)))
    assert len(build(emb, selection, BuildOptions(users=(0,)), budget_bytes=budget)) <= budget
    assert info["strategy"] == "search" and info["estimator_calls"] > 1020  # greedy + 1000
    released = rule_selection(emb, back, budget, BuildOptions(users=(0,)),
                              search=SearchConfig.released())[1]
    assert released["estimator_calls"] == 70


def test_a_damaged_elastic_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "elastic.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ElasticrecError, match=r"elastic\.safetensors"):
        load_elastic(tmp_path)
    with pytest.raises(ElasticrecError, match="method rule"):
        load_elastic(tmp_path / "nowhere")


def test_prefix_form_keeps_the_counts_and_ships_each_groups_leading_blocks():
    configs = sample_configs(5, 8, 50, np.random.default_rng(8))
    prefixes = as_prefixes(configs)
    np.testing.assert_array_equal(prefixes.sum(axis=2), configs.sum(axis=2))
    counts = configs.sum(axis=2)
    np.testing.assert_array_equal(prefixes, np.arange(8) < counts[..., None])


def test_rule_selection_in_prefix_form_ships_leading_blocks_and_fills_the_budget():
    """With prefixes, every group ships blocks 0..k-1, at least the count the search chose,
    and the budget left is filled until no group's next block fits."""
    rng = np.random.default_rng(9)
    emb = toy_embeddings(rng)
    cfg = ElasticConfig(n_blocks=4, n_groups=3, label_configs=20)
    groups = rng.integers(0, 3, 120)
    configs = as_prefixes(sample_configs(3, 4, 30, rng))
    values = configs.sum(axis=(1, 2)) * 1.0
    state = ElasticState(cfg, groups, fit_estimator(configs, values), {})
    options = BuildOptions(users=(0,))
    plain, info = rule_selection(emb, state, 6000, options)
    prefix, info_p = rule_selection(emb, state, 6000, options, prefixes=True)
    assert all(len(p) >= len(b) for b, p in zip(plain.groups, prefix.groups, strict=True))
    assert all(list(b) == list(range(len(b))) for b in prefix.groups)
    assert info["cost_bytes"] <= info_p["cost_bytes"] <= 6000
    assert len(build(emb, prefix, options, budget_bytes=6000)) <= 6000
    costs = block_costs(emb, groups, 3, 4, rescale=cfg.rescale, options=options)
    spare = 6000 - info_p["cost_bytes"]
    assert all(len(b) == 4 or costs.block_bytes[g] > spare
               for g, b in enumerate(prefix.groups))


def test_filling_adds_leading_blocks_best_gain_first_even_where_the_estimate_falls():
    costs = BlockCosts(block_bytes=np.array([10, 20, 10]), fixed_bytes=100)
    start = np.zeros((3, 4), bool)
    start[:, 0] = True  # 140 bytes

    def estimate(c):  # group 2's blocks look harmful, group 0's best
        counts = np.asarray(c).sum(axis=-1)
        return counts[..., 0] * 2.0 + counts[..., 1] * 1.0 - counts[..., 2] * 0.5

    filled = fill_prefixes(start, estimate, costs, 190)  # 50 bytes to spend
    assert filled.sum(axis=1).tolist() == [4, 2, 1]  # group 0 to full width, then group 1
    np.testing.assert_array_equal(filled, as_prefixes(filled))
    everything = fill_prefixes(start, estimate, costs, 10**6)
    assert everything.all()  # a budget that holds every block ships every block


def test_precision_is_a_feature_the_estimator_learns_and_the_joint_selection_uses():
    """Labels at int8 are worth 30% less here: the estimator learns the offset, and the
    joint selection takes int8 only where its extra blocks outweigh it."""
    rng = np.random.default_rng(10)
    configs = sample_configs(3, 4, 300, rng)
    precisions = rng.choice(np.array(["float32", "int8"], dtype=object), 300)
    labels = configs.sum(axis=(1, 2)) * np.where(precisions == "int8", 0.7, 1.0)
    params = fit_estimator(configs, labels, precisions=precisions)
    full = np.ones((1, 3, 4), bool)
    assert predict(params, full, "int8")[0] < predict(params, full, "float32")[0] - 2
    emb = toy_embeddings(rng)
    groups = rng.integers(0, 3, 120)
    state = ElasticState(ElasticConfig(n_blocks=4, n_groups=3, label_configs=20,
                                       label_precisions=("float32", "int8")),
                         groups, params, {})
    options = BuildOptions(users=(0,))
    for budget, expected in ((120 * 16 * 4 + 3000, "float32"), (120 * 4 * 4 + 1500, "int8")):
        selection, opts, info = joint_rule_selection(emb, state, budget, options)
        assert opts.value_dtype == expected, info["estimates"]
        assert info["estimate"] == max(info["estimates"].values())
        assert len(build(emb, selection, opts, budget_bytes=budget)) <= budget
    with pytest.raises(Infeasible, match="every value dtype"):
        joint_rule_selection(emb, state, 500, options)


def test_label_precisions_are_drawn_apart_from_the_configurations_and_checked():
    cfg = ElasticConfig(label_precisions=["float32", "int8"])
    assert cfg.label_precisions == ("float32", "int8")
    assert cfg.to_json()["label_precisions"] == ["float32", "int8"]
    assert ElasticConfig(**cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="label_precisions"):
        ElasticConfig(label_precisions=("int4",))


def test_label_precisions_round_trip_through_the_run_directory(tmp_path):
    rng = np.random.default_rng(11)
    configs = sample_configs(3, 4, 30, rng)
    precisions = rng.choice(np.array(["float32", "float16", "int8"], dtype=object), 30)
    values = configs.sum(axis=(1, 2)) * 1.0
    cfg = ElasticConfig(n_blocks=4, n_groups=3, label_configs=20,
                        label_precisions=("float32", "float16", "int8"))
    state = ElasticState(cfg, rng.integers(0, 3, 120),
                         fit_estimator(configs, values, precisions=precisions), {},
                         label_configs=configs, label_values=values,
                         label_precisions=precisions)
    save_elastic(tmp_path, state)
    back = load_elastic(tmp_path)
    assert back.config == cfg and list(back.label_precisions) == list(precisions)
    np.testing.assert_allclose(predict(back.estimator, configs, "int8"),
                               predict(state.estimator, configs, "int8"))
