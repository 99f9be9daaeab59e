"""PEEL: clustering, refinement with block weights, selection by weight, packages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec import runtime
from elasticrec.budget.fit import BudgetExceeded
from elasticrec.data.interactions import Interactions
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, fit
from elasticrec.peel.cluster import fold_in, kmeans, nearest
from elasticrec.peel.config import PeelConfig
from elasticrec.peel.export import gated_items, group_package
from elasticrec.peel.personalise import personalise
from elasticrec.peel.refine import block_weights, refine_group
from elasticrec.peel.select import (
    as_prefix_order,
    one_user,
    priority_order,
    select_for_budget,
    weighted_selection,
)
from elasticrec.peel.state import PeelState, load_peel, save_peel
from elasticrec.runtime.shrink import shrink

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toy_data import block_clusters


def test_kmeans_finds_separated_clusters_and_is_seeded():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 0], [0, 10], [-10, -10]])
    points = np.concatenate([c + rng.standard_normal((50, 2)) for c in centres])
    cents, labels = kmeans(points, 3, np.random.default_rng(1))
    again = kmeans(points, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(labels, again[1])
    assert len({tuple(labels[i * 50:(i + 1) * 50]) for i in range(3)}) == 3
    assert all(len(set(labels[i * 50:(i + 1) * 50])) == 1 for i in range(3))
    np.testing.assert_array_equal(nearest(centres, cents), labels[[0, 50, 100]])
    with pytest.raises(ValueError, match="k=5"):
        kmeans(points[:4], 5, rng)


def test_fold_in_places_a_new_user_near_the_vector_that_explains_the_history():
    rng = np.random.default_rng(1)
    items = rng.standard_normal((200, 8))
    user = rng.standard_normal(8)
    history = np.argsort(-(items @ user))[:30]
    folded = fold_in(items, history)
    assert np.corrcoef(folded, user)[0, 1] > 0.7
    with pytest.raises(ValueError, match="at least one"):
        fold_in(items, np.array([], dtype=int))


def test_priority_order_starts_with_each_groups_best_block_then_follows_the_weights():
    w = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.25], [0.8, 0.7, 0.95]])
    order = priority_order(w)
    assert order[:3] == ((2, 2), (0, 1), (1, 0))
    assert order[3:] == ((2, 0), (2, 1), (0, 2), (1, 2), (1, 1), (0, 0))


def toy(rng, n_users=4, n_items=60, dim=8) -> RunEmbeddings:
    return RunEmbeddings(user=rng.standard_normal((n_users, dim), dtype=np.float32),
                         item=rng.standard_normal((n_items, dim), dtype=np.float32),
                         dataset="toy", dataset_fingerprint="f", model="mf",
                         user_labels=[f"user{i}" for i in range(n_users)],
                         item_labels=[str(i) for i in range(n_items)])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 6000), st.sampled_from(["float32", "int8"]))
def test_selection_is_the_longest_fitting_prefix_exactly_as_fit_finds_it(seed, budget, dtype):
    rng = np.random.default_rng(seed)
    emb = one_user(toy(rng))
    groups = rng.integers(0, 3, 60)
    w = rng.random((3, 4))
    options = BuildOptions(value_dtype=dtype, users=(0,))
    try:
        ref = fit(emb, weighted_selection(w, groups), options, budget)
    except BudgetExceeded:
        ref = None
    if ref is None or ref.level < 3:
        with pytest.raises(BudgetExceeded):
            select_for_budget(emb, w, groups, options, budget)
        return
    got = select_for_budget(emb, w, groups, options, budget)
    assert got.order == ref.order
    assert len(build(emb, got, options, budget_bytes=budget)) <= budget


def test_shipped_gated_values_score_exactly_as_the_refined_model():
    rng = np.random.default_rng(2)
    item, user = rng.standard_normal((10, 8)), rng.standard_normal(8)
    groups, weights = rng.integers(0, 2, 10), rng.random((2, 4))
    gated = gated_items(item, groups, weights)
    import torch

    from elasticrec.elastic.blocks import masked_scores

    t = torch.from_numpy
    refined = masked_scores(t(np.tile(user, (10, 1))), t(item), t(weights[groups]))
    np.testing.assert_allclose(gated @ user, refined.numpy(), rtol=1e-5)


def group_data(seed=0):
    rng = np.random.default_rng(seed)
    train, _ = block_clusters(rng)
    return train


@pytest.mark.parametrize("gate", ["sigmoid", "softmax"])
def test_refinement_learns_weights_and_is_deterministic(gate):
    train = group_data()
    rng = np.random.default_rng(0)
    from elasticrec.data.splits import random_split

    tr, va = random_split(train, 0.25, rng)
    user = rng.standard_normal((train.n_users, 8)).astype(np.float32) * 0.1
    item = rng.standard_normal((train.n_items, 8)).astype(np.float32) * 0.1
    groups = np.arange(train.n_items) % 2
    cfg = PeelConfig(epochs=3, batch_size=64, gate=gate)
    a = refine_group(user, item, groups, 2, 4, tr, va, cfg)
    b = refine_group(user, item, groups, 2, 4, tr, va, cfg)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.item, b.item)
    assert a.weights.shape == (2, 4) and a.steps == 3 * -(-len(tr) // 64)
    assert not np.allclose(a.weights, a.weights[0, 0])  # the controller moved the weights
    if gate == "sigmoid":
        assert ((a.weights > 0) & (a.weights < 1)).all()
    else:
        np.testing.assert_allclose(a.weights.sum(axis=1), 4, rtol=1e-5)
    assert not np.allclose(a.item, item)


def test_block_weights_normalisations():
    import torch

    logits = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    assert torch.allclose(block_weights(logits, "sigmoid"), torch.sigmoid(logits))
    assert torch.allclose(block_weights(logits, "softmax").sum(1), torch.tensor([2.0, 2.0]))


def test_personalise_is_the_same_in_parallel_processes_and_round_trips(tmp_path):
    train = group_data(1)
    rng = np.random.default_rng(3)
    user = rng.standard_normal((train.n_users, 8)).astype(np.float32)
    item = rng.standard_normal((train.n_items, 8)).astype(np.float32)
    groups = np.arange(train.n_items) % 3
    cfg = PeelConfig(n_clusters=3, epochs=2, batch_size=32)
    one = personalise(cfg, user, item, groups, 3, 4, train, log=lambda _m: None)
    two = personalise(cfg, user, item, groups, 3, 4, train, workers=2, log=lambda _m: None)
    for name in ("user_cluster", "user", "item", "weights"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    assert one.item.shape == (3, train.n_items, 8) and one.weights.shape == (3, 3, 4)
    save_peel(tmp_path, one)
    back = load_peel(tmp_path)
    assert back.config == cfg and back.report["cluster_sizes"] == one.report["cluster_sizes"]
    np.testing.assert_array_equal(back.weights, one.weights)
    (tmp_path / "peel.safetensors").write_bytes(b"junk")
    with pytest.raises(ElasticrecError, match=r"peel\.safetensors: unreadable"):
        load_peel(tmp_path)


def test_on_device_shrink_ships_what_the_server_selects_for_the_smaller_budget():
    rng = np.random.default_rng(4)
    emb = toy(rng, n_items=120, dim=16)
    groups = rng.integers(0, 4, 120)
    state = PeelState(PeelConfig(n_clusters=1), centroids=np.zeros((1, 16), np.float32),
                      user_cluster=np.zeros(4, np.int64), user=emb.user,
                      item=emb.item[None], weights=rng.random((1, 4, 8)), report={})
    big, _, _ = group_package(emb, state, groups, 0, np.array([2]), 8000)
    for small_budget in (7000, 6000, 5000, 4500):
        server, selection, seconds = group_package(emb, state, groups, 0, np.array([2]),
                                                   small_budget)
        assert shrink(runtime.load_bytes(big), small_budget) == server
        assert len(server) <= small_budget and selection.level >= 4 and seconds < 1


def test_interactions_helper_is_what_personalise_splits():
    from elasticrec.peel.personalise import group_events

    train = Interactions(user=np.array([0, 0, 1, 2, 2, 2]), item=np.array([0, 1, 2, 0, 1, 3]),
                         n_users=3, n_items=4)
    tr, va = group_events(train, np.array([0, 2]), 0.5, np.random.default_rng(0))
    assert tr.n_users == va.n_users == 2
    assert sorted(zip(np.concatenate([tr.user, va.user]),
                      np.concatenate([tr.item, va.item]), strict=True)) == [
        (0, 0), (0, 1), (1, 0), (1, 1), (1, 3)]


def test_prefix_order_keeps_each_groups_count_at_every_level_and_ships_leading_blocks():
    w = np.random.default_rng(5).random((3, 6))
    order = priority_order(w)
    prefix = as_prefix_order(order)
    for level in range(len(order) + 1):
        counts = np.bincount([g for g, _ in order[:level]], minlength=3)
        got = [sorted(b for g, b in prefix[:level] if g == grp) for grp in range(3)]
        assert got == [list(range(c)) for c in counts]


def svd_state(rng, n_users=40, n_items=120, dim=16):
    """One user group whose tables have a few strong score directions mixed into every
    position, with random block weights."""
    mix = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    strength = np.r_[np.full(3, 3.0), np.full(dim - 3, 0.2)]
    emb = toy(rng, n_users=n_users, n_items=n_items, dim=dim)
    emb = RunEmbeddings(user=((emb.user * strength) @ mix).astype(np.float32),
                        item=((emb.item * strength) @ mix).astype(np.float32),
                        dataset="toy", dataset_fingerprint="f", model="mf",
                        user_labels=emb.user_labels, item_labels=emb.item_labels)
    state = PeelState(PeelConfig(n_clusters=1), centroids=np.zeros((1, dim), np.float32),
                      user_cluster=np.zeros(n_users, np.int64), user=emb.user,
                      item=emb.item[None], weights=np.ones((1, 4, 8)) + rng.random((1, 4, 8)),
                      report={})
    return emb, state


def test_a_group_package_in_the_svd_basis_scores_as_trained_at_full_width_and_better_below():
    rng = np.random.default_rng(6)
    emb, state = svd_state(rng)
    groups = rng.integers(0, 4, 120)
    rows = np.arange(40)
    gated = gated_items(emb.item, groups, state.weights[0])
    truth = emb.user @ gated.T
    full, _, _ = group_package(emb, state, groups, 0, rows, 10**6, basis="svd")
    pkg = runtime.load_bytes(full)
    np.testing.assert_allclose(pkg.scores(pkg.tensors["user"]), truth, rtol=1e-3, atol=1e-3)

    def overlap(data):
        p = runtime.load_bytes(data)
        top = np.argsort(-p.scores(p.tensors["user"]), axis=1)[:, :10]
        best = np.argsort(-truth, axis=1)[:, :10]
        return np.mean([len(np.intersect1d(a, b)) for a, b in zip(top, best, strict=True)])

    budget = 120 * 2 * 2 * 4 + 3000  # about two of eight blocks
    svd, sel, _ = group_package(emb, state, groups, 0, rows, budget, basis="svd")
    trained, _, _ = group_package(emb, state, groups, 0, rows, budget)
    assert overlap(svd) > overlap(trained) + 2
    assert all(list(b) == list(range(len(b))) for b in sel.groups)
    with pytest.raises(ElasticrecError, match="basis 'pca'"):
        group_package(emb, state, groups, 0, rows, budget, basis="pca")


def test_an_svd_group_package_shrinks_to_what_the_server_builds():
    rng = np.random.default_rng(7)
    emb, state = svd_state(rng)
    groups = rng.integers(0, 4, 120)
    int8 = BuildOptions(value_dtype="int8", method="peel")
    big, _, _ = group_package(emb, state, groups, 0, np.array([3]), 3300, basis="svd",
                              options=int8)
    for small in (3000, 2700, 2400):
        server, _, _ = group_package(emb, state, groups, 0, np.array([3]), small, basis="svd",
                                     options=int8)
        assert shrink(runtime.load_bytes(big), small) == server
