"""What the benchmarks measure through the public API: a run's training history, evaluation
on either split with per-user values, PEEL on a trained RULE run, dense packages straight
from tables, and per-step training times."""

from __future__ import annotations

import numpy as np
import pytest

import elasticrec
from elasticrec import runtime
from toy_data import clustered

NO_LOG = lambda _: None  # noqa: E731
QUIET = dict(log=NO_LOG, progress=False)
SMALL = dict(model="mf", epochs=2, dim=16, eval_every=1)
ELASTIC = dict(n_blocks=4, n_groups=4, label_configs=12)
PEEL = dict(n_clusters=2, peel_epochs=1, cost=0.1)



@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Trainings compared bit for bit run on one PyTorch thread: with several, the sums of
    sparse gradients may be added in another order (differences in the last bit)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("measure")
    data = clustered()
    return {
        "rule": elasticrec.fit(data, method="rule", out=base / "rule", **SMALL, **ELASTIC,
                               **QUIET),
        "peel": elasticrec.fit(data, method="peel", out=base / "peel", **SMALL, **ELASTIC,
                               **PEEL, **QUIET),
        "base": base,
    }


def test_history_is_every_epoch_in_order(runs):
    history = runs["rule"].history
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["train_seconds"] > 0 and "valid/recall@20" in h for h in history)
    assert elasticrec.load_run(runs["rule"].path).history == history


def test_evaluate_per_user_matches_the_mean_on_both_splits(runs):
    run = runs["rule"]
    for split in ("test", "valid"):
        for budget in (None, "60%"):
            res = run.evaluate(budget=budget, split=split, per_user=True)
            values = res["per_user"]["recall@20"]
            assert values.shape == (len(run.user_ids),)
            assert np.isfinite(values).sum() == res["n_test_users"]
            assert np.nanmean(values) == pytest.approx(res["recall@20"])
    assert "per_user" not in run.evaluate()
    valid = run.evaluate(split="valid")
    assert valid["split"] == "valid" and valid["recall@20"] != run.evaluate()["recall@20"]
    with pytest.raises(elasticrec.ElasticrecError, match="split 'train' is not one of"):
        run.evaluate(split="train")


def test_evaluate_peel_per_user(runs):
    res = runs["peel"].evaluate(budget="60%", per_user=True)
    assert np.nanmean(res["per_user"]["ndcg@20"]) == pytest.approx(res["ndcg@20"])
    assert res["device_bytes"] <= runs["peel"].budget_bytes("60%")


def test_personalise_a_rule_run_gives_the_peel_run_fit_trains(runs):
    """The same options through fit(method='peel') and RULE + personalise: the same PEEL
    state (its timing report aside), config and packages, byte for byte."""
    peel, rule = runs["peel"], runs["rule"]
    again = rule.personalise(out=runs["base"] / "personalised", **PEEL, log=NO_LOG)
    def identity_aside(config: dict) -> dict:  # each run folder has its own run_id
        return {k: v for k, v in config.items() if k != "run_id"}

    assert again.method == "peel"
    assert identity_aside(again.config) == identity_aside(peel.config)
    for name in ("centroids", "user_cluster", "user", "item", "weights"):
        np.testing.assert_array_equal(getattr(again.peel_state, name),
                                      getattr(peel.peel_state, name))
    assert again.result["personalised"] == peel.result["personalised"]
    for user in peel.user_ids[:3]:
        assert again.export("60%", user=user) == peel.export("60%", user=user)
    assert elasticrec.load_run(again.path).peel_state.weights.shape == (2, 4, 4)
    with pytest.raises(elasticrec.ElasticrecError, match="already holds a run"):
        rule.personalise(out=again.path, **PEEL, log=NO_LOG)
    with pytest.raises(elasticrec.ElasticrecError, match="unknown PEEL option 'epochs'"):
        rule.personalise(epochs=3, log=NO_LOG)


def test_personalise_refuses_a_full_run(tmp_path):
    full = elasticrec.fit(clustered(), out=tmp_path / "full", **SMALL, **QUIET)
    with pytest.raises(elasticrec.ElasticrecError, match="no elastic blocks"):
        full.personalise(log=NO_LOG)


def test_export_bundle_released_search_is_the_released_setting(runs):
    run = runs["rule"]
    released = run.export_detailed("60%", released_search=True, bundle=True)
    assert run.export_bundle("60%", released_search=True) == released.data
    default = run.export_detailed("60%", bundle=True)
    assert released.info["estimator_calls"] != default.info["estimator_calls"]
    assert released.info["device_bytes"] <= run.budget_bytes("60%")


def test_export_embeddings_is_the_dense_package_of_a_full_run(tmp_path):
    full = elasticrec.fit(clustered(), out=tmp_path / "full", **SMALL, **QUIET)
    emb = full.embeddings
    for budget in ("30%", 5000):
        got = elasticrec.export_embeddings(emb, budget, user=3)
        assert got.data == full.export(budget, user=full.user_ids[3])
        assert len(got.data) <= full.budget_bytes(budget)
        assert runtime.load_bytes(got.data).manifest.method == "dense-truncate"
    bundle = elasticrec.export_embeddings(emb, "30%")
    assert bundle.data == full.export_bundle("30%")
    assert bundle.info["device_bytes"] <= full.budget_bytes("30%")
    with pytest.raises(elasticrec.ElasticrecError, match="user row 999"):
        elasticrec.export_embeddings(emb, "30%", user=999)
    with pytest.raises(elasticrec.ElasticrecError, match="not a positive number of bytes"):
        elasticrec.export_embeddings(emb, 0)


def test_profile_steps_times_the_batch_and_the_table_parts():
    got = elasticrec.profile_steps(clustered(), model="mf", dim=8, batch_sizes=(256, 128),
                                   steps=3, warmup=1)
    assert [g["batch_size"] for g in got] == [256, 128]
    assert all(g["batch_seconds"] > 0 and g["table_seconds"] > 0 for g in got)
    assert got[0]["rows"] == 50 + 160 and got[0]["dim"] == 8
    assert got[0]["n_batches"] == -(-got[0]["triples"] // 256)
    with pytest.raises(elasticrec.ElasticrecError, match="only 1 steps"):
        elasticrec.profile_steps(clustered(), model="mf", batch_sizes=(4096,), warmup=1)
