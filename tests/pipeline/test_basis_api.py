"""The score-preserving basis through the public API: ``svd`` by default, ``trained`` on
request, the same full-width scores in both, one basis per run, a new user folded in within
it, and the CLI's ``--basis``."""

from __future__ import annotations

import numpy as np
import pytest

import elasticrec
from elasticrec import runtime
from elasticrec.cli import main
from toy_data import clustered

QUIET = dict(log=lambda _: None, progress=False)
SMALL = dict(model="mf", epochs=3, dim=16, eval_every=0)
ELASTIC = dict(n_blocks=4, n_groups=4, label_configs=12)



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("basis")
    data = clustered(60, 120, 3000, seed=1)
    return {"full": elasticrec.fit(data, out=base / "full", **SMALL, **QUIET),
            "rule": elasticrec.fit(data, method="rule", out=base / "rule", **SMALL, **ELASTIC,
                                   **QUIET),
            "peel": elasticrec.fit(data, method="peel", out=base / "peel", n_clusters=2,
                                   peel_epochs=1, **SMALL, **ELASTIC, **QUIET)}


def _whole(run) -> dict:
    """Every block at a budget that holds them all (RULE's greedy fill takes every pair that
    fits; its search may stop short where the estimator says more blocks hurt)."""
    return {"strategy": "greedy"} if run.method == "rule" else {}


def _scores(package: bytes) -> np.ndarray:
    pkg = runtime.load_bytes(package)
    return pkg.scores(pkg.tensors["user"])


@pytest.mark.parametrize("method", ["full", "rule", "peel"])
def test_svd_is_the_default_and_keeps_full_width_scores(runs, method):
    run = runs[method]
    user = run.user_ids[7]
    whole = 10 * run.full_table_bytes
    rotated = run.export(whole, user=user, **_whole(run))
    assert rotated == run.export(whole, user=user, basis="svd", **_whole(run))
    trained = run.export(whole, user=user, basis="trained", **_whole(run))
    assert rotated != trained
    assert runtime.load_bytes(rotated).manifest.n_items == run.embeddings.item.shape[0]
    np.testing.assert_allclose(_scores(rotated), _scores(trained), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["full", "rule", "peel"])
def test_a_new_user_is_folded_in_within_the_basis(runs, method):
    run = runs[method]
    whole = 10 * run.full_table_bytes
    history = list(run.item_ids[[0, 3, 5, 40]])
    rotated = _scores(run.export(whole, history=history, **_whole(run)))
    trained = _scores(run.export(whole, history=history, basis="trained", **_whole(run)))
    np.testing.assert_allclose(rotated, trained, rtol=1e-4, atol=1e-4)


def test_the_basis_is_the_runs_not_the_users(runs):
    """One user's package is rotated by the basis of every training user: the vector it
    ships is that user's row of the rotated table, the same in every package."""
    run = runs["full"]
    vectors = run.user_vectors()
    for row in (0, 9):
        pkg = runtime.load_bytes(run.export("30%", user=run.user_ids[row]))
        np.testing.assert_array_equal(pkg.tensors["user"][0], vectors[row])
    np.testing.assert_array_equal(run.user_vectors("trained"), run.embeddings.user)
    with pytest.raises(elasticrec.ElasticrecError, match="basis 'pca'"):
        run.export("30%", user=run.user_ids[0], basis="pca")


@pytest.mark.parametrize("method", ["full", "rule", "peel"])
def test_a_cached_item_part_with_a_shipped_vector_is_the_users_package(runs, method):
    """What the package server relies on: ``with_user`` of ``user_vectors`` rows."""
    run = runs[method]
    vectors = run.user_vectors()
    group = (run.peel_state.user_cluster if method == "peel"
             else np.zeros(len(run.user_ids), dtype=np.int64))
    key = [(int(g), len(str(u))) for g, u in zip(group, run.user_ids, strict=True)]
    pivot, row = next((a, b) for a in range(len(key)) for b in range(a + 1, len(key))
                      if key[a] == key[b])
    first = runtime.load_bytes(run.export("50%", user=run.user_ids[pivot]))
    user = str(run.user_ids[row])
    assert first.with_user(user, vectors[row]) == run.export("50%", user=run.user_ids[row])


def test_small_budgets_keep_more_in_the_svd_basis(runs):
    """At a small budget the rotated dense prefix scores closer to the full model."""
    run = runs["full"]
    full = run.evaluate()["recall@20"]
    rotated = run.evaluate(budget="25%")["recall@20"]
    trained = run.evaluate(budget="25%", basis="trained")["recall@20"]
    assert abs(full - rotated) <= abs(full - trained)
    peel = runs["peel"].evaluate(budget="50%", basis="trained")
    assert peel["basis"] == "trained"


def test_cli_export_takes_a_basis(runs, tmp_path, capsys):
    run = runs["rule"]
    paths = {}
    for basis in ("svd", "trained"):
        paths[basis] = tmp_path / f"{basis}.erpkg"
        assert main(["export", str(run.path), "--budget", "60%", "--user",
                     str(run.user_ids[1]), "--basis", basis, "--out",
                     str(paths[basis])]) == 0
        assert f"{basis} basis" in capsys.readouterr().out
    assert paths["svd"].read_bytes() == run.export("60%", user=run.user_ids[1])
    assert paths["trained"].read_bytes() == run.export("60%", user=run.user_ids[1],
                                                       basis="trained")


def test_popular_items_get_twice_the_width(runs):
    """``export_embeddings(popularity=)``: the 25% most popular items ship about twice the
    positions of the rest, within the budget; at a budget that holds everything, the scores
    are the full model's."""
    run = runs["full"]
    emb = run.embeddings
    counts = np.asarray(run.data().train.to_csr().sum(axis=0)).ravel()
    got = elasticrec.export_embeddings(emb, "30%", user=0, popularity=counts)
    assert len(got.data) <= run.budget_bytes("30%")
    pkg = runtime.load_bytes(got.data)
    assert pkg.manifest.method == "dense-popular"
    layout = pkg.manifest.layout.to_json()
    n_items = len(emb.item)
    assert layout["kind"] == "blocks" and layout["group_sizes"] == [round(0.25 * n_items),
                                                                    n_items - round(0.25 * n_items)]
    shipped = np.bincount([g for g, _ in layout["order"]], minlength=2)
    assert shipped.sum() == got.info["positions"] and shipped[1] >= 1
    assert 2 * shipped[1] - 1 <= shipped[0] <= 2 * shipped[1] + 2  # twice the width
    whole = elasticrec.export_embeddings(emb, 10 * run.full_table_bytes, user=0,
                                         popularity=counts)
    full = elasticrec.export_embeddings(emb, 10 * run.full_table_bytes, user=0,
                                        basis="trained")
    np.testing.assert_allclose(_scores(whole.data), _scores(full.data), rtol=1e-4, atol=1e-4)
    with pytest.raises(elasticrec.ElasticrecError, match="popularity has 3 counts"):
        elasticrec.export_embeddings(emb, "30%", user=0, popularity=counts[:3])
