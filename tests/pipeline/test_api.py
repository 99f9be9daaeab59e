"""The public API: ``fit`` on every kind of data, ``Run`` and its exports, ``load_run``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import elasticrec
from elasticrec import runtime
from elasticrec.budget.selection import DenseSelection
from elasticrec.elastic.select import rule_selection
from elasticrec.export.basis import in_basis
from elasticrec.export.builder import BuildOptions, build, fit
from elasticrec.peel.export import group_package
from toy_data import clustered

QUIET = dict(log=lambda _: None, progress=False)
SMALL = dict(model="mf", epochs=2, dim=16, eval_every=0)
ELASTIC = dict(n_blocks=4, n_groups=4, label_configs=12)



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    users, items = clustered()
    base = tmp_path_factory.mktemp("api")
    frame = pd.DataFrame({"who": users + 1000, "what": [f"i{x}" for x in items],
                          "when": np.arange(len(users))})
    return {
        "frame": elasticrec.fit(frame, user_col="who", item_col="what", timestamp_col="when",
                                out=base / "frame", **SMALL, **QUIET),
        "sparse": elasticrec.fit(sp.csr_matrix((np.ones(len(users)), (users, items))),
                                 method="rule", out=base / "sparse", **SMALL, **ELASTIC,
                                 **QUIET),
        "arrays": elasticrec.fit((users, items), method="peel", out=base / "arrays",
                                 n_clusters=2, peel_epochs=1, **SMALL, **ELASTIC, **QUIET),
    }


@pytest.mark.parametrize("kind", ["frame", "sparse", "arrays"])
def test_fit_export_recommend_on_every_input(runs, kind):
    run = runs[kind]
    user = run.user_ids[3]
    package = run.export("60%", user=user)
    assert len(package) <= run.budget_bytes("60%")
    pkg = runtime.load_bytes(package)
    assert pkg.users == (str(user),)
    items, scores = run.recommend([user, run.user_ids[0]], k=5)
    assert items.shape == scores.shape == (2, 5)
    assert np.all(np.diff(scores, axis=1) <= 0)
    seen = set(run.data().known.to_csr()[3].indices)
    assert not seen & {int(np.flatnonzero(run.item_ids == i)[0]) for i in items[0]}
    similar, sims = run.similar_items([run.item_ids[0]], k=3)
    assert similar.shape == (1, 3) and run.item_ids[0] not in similar[0]
    assert np.all(sims <= 1 + 1e-6)
    record = run.evaluate()
    assert 0 <= record["recall@20"] <= 1 and record["n_test_users"] > 0
    shipped = run.evaluate(budget="60%")
    assert shipped["device_bytes"] <= run.budget_bytes("60%")


def test_ids_come_back_as_the_callers(runs):
    run = runs["frame"]
    assert run.user_ids.dtype == np.int64 and run.user_ids.min() >= 1000
    assert run.item_ids.dtype == object and str(run.item_ids[0]).startswith("i")
    items, _ = run.recommend(int(run.user_ids[0]), k=2)
    assert all(str(i).startswith("i") for i in items[0])


def test_load_run_gives_the_same_answers(runs):
    run = runs["arrays"]
    again = elasticrec.load_run(run.path)
    assert again.method == "peel" and again.config == run.config
    np.testing.assert_array_equal(again.recommend([1, 2], k=4)[0], run.recommend([1, 2], k=4)[0])
    assert again.export("60%", user=2) == run.export("60%", user=2)
    fresh, first = again.evaluate(), run.evaluate()
    assert {k: v for k, v in fresh.items() if k != "seconds"} == {
        k: v for k, v in first.items() if k != "seconds"}


@pytest.mark.parametrize("basis", ["trained", "svd"])
def test_packages_are_the_builders_bytes(runs, basis):
    """``Run.export`` composes exactly the pieces the builder offers: same bytes (``trained``:
    the bytes of the builds before the basis existed; ``svd``: the tables rotated by the
    run's basis first, RULE and PEEL shipping each item group's leading blocks)."""
    svd = basis == "svd"
    dense = runs["frame"]
    options = BuildOptions(users=(3,), method="dense-truncate")
    emb = in_basis(dense.embeddings, basis)
    budget = dense.budget_bytes("40%")
    selection = fit(emb, DenseSelection(emb.item.shape[1]), options, budget)
    assert dense.export("40%", user=dense.user_ids[3], basis=basis) == build(
        emb, selection, options, budget_bytes=budget)
    rule = runs["sparse"]
    options = BuildOptions(users=(5,), method="rule-search")
    budget = rule.budget_bytes("70%")
    emb = in_basis(rule.embeddings, basis)
    selection, _ = rule_selection(emb, rule.elastic_state, budget, options, prefixes=svd)
    assert rule.export("70%", user=rule.user_ids[5], basis=basis) == build(
        emb, selection, options, budget_bytes=budget)
    peel = runs["arrays"]
    state = peel.peel_state
    budget = peel.budget_bytes("70%")
    data, _, _ = group_package(peel.embeddings, state, peel.elastic_state.item_group,
                               int(state.user_cluster[5]), np.array([5]), budget, basis=basis)
    assert peel.export("70%", user=peel.user_ids[5], basis=basis) == data


def test_a_new_user_from_history_on_every_method(runs):
    for run in runs.values():
        package = run.export("60%", history=list(run.item_ids[:3]))
        assert runtime.load_bytes(package).users == ("new",)


def test_bundle_and_export_all(runs, tmp_path):
    run = runs["sparse"]
    bundle = runtime.load_bytes(run.export_bundle("70%"))
    assert len(bundle.users) == len(run.user_ids)
    assert bundle.device_bytes() <= run.budget_bytes("70%")
    paths = run.export_all("70%", users=run.user_ids[:3], out_dir=tmp_path / "many")
    assert [p.name for p in paths] == [f"user{u}.erpkg" for u in run.user_ids[:3]]
    assert all(p.stat().st_size <= run.budget_bytes("70%") for p in paths)
    with pytest.raises(elasticrec.ElasticrecError, match="per user group"):
        runs["arrays"].export_bundle("70%")


@pytest.mark.parametrize("call, message", [
    (lambda out: elasticrec.fit(clustered(), out=out, epochz=3), "unknown option 'epochz'"),
    (lambda out: elasticrec.fit(clustered(), out=out, n_blocks=4), "needs another method"),
    (lambda out: elasticrec.fit({"a": 1}, out=out), "not understood"),
    (lambda out: elasticrec.fit(clustered(), out=out, method="nope"), "method 'nope'"),
    (lambda out: elasticrec.fit(clustered(), out=out, method="rule", valid_ratio=0, **SMALL),
     "validation split"),
    (lambda out: elasticrec.fit(clustered(), out=out, lr=-1.0), "lr=-1.0"),
])
def test_bad_calls_leave_nothing_behind(tmp_path, call, message):
    out = tmp_path / "run"
    with pytest.raises((elasticrec.ElasticrecError, ValueError), match=message):
        call(out)
    assert not out.exists()


def test_bad_requests_name_the_input(runs):
    run = runs["frame"]
    with pytest.raises(elasticrec.ElasticrecError, match="user 'nobody' is not in this run"):
        run.export("50%", user="nobody")
    with pytest.raises(elasticrec.ElasticrecError, match="give user= or history="):
        run.export("50%")
    with pytest.raises(elasticrec.ElasticrecError, match="budget"):
        run.export("lots", user=run.user_ids[0])
    with pytest.raises(elasticrec.ElasticrecError, match="not both"):
        run.export("50%", user=run.user_ids[0], history=[run.item_ids[0]])


def test_a_run_folder_states_what_it_is(runs, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs["sparse"].path, copy)
    assert elasticrec.load_run(copy).method == "rule"
    with open(copy / "elastic.safetensors", "r+b") as fh:  # same size, other bytes
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    with pytest.raises(elasticrec.ElasticrecError, match=r"elastic\.safetensors: its sha256"):
        elasticrec.load_run(copy)
    (copy / "elastic.safetensors").unlink()
    with pytest.raises(elasticrec.ElasticrecError, match=r"elastic\.safetensors: missing"):
        elasticrec.load_run(copy)
    (copy / "run.json").unlink()
    with pytest.raises(elasticrec.ElasticrecError, match="unfinished run"):
        elasticrec.load_run(copy)


def test_a_finished_out_is_not_overwritten(runs):
    with pytest.raises(elasticrec.ElasticrecError, match="already holds a run"):
        elasticrec.fit(clustered(), out=runs["frame"].path, **SMALL, **QUIET)


def test_out_none_keeps_a_temporary_run():
    run = elasticrec.fit(clustered(), **SMALL, **QUIET)
    assert run.path.is_dir() and len(run.export(4000, user=run.user_ids[0])) <= 4000
    path = run.path
    del run
    import gc

    gc.collect()
    assert not path.exists()


def test_stream_runs_and_exports(tmp_path):
    rng = np.random.default_rng(1)
    t = np.sort(rng.random(2000))
    users = np.minimum((t * 200 + rng.integers(0, 20, 2000)).astype(int), 199)
    items = np.minimum((t * 120 + rng.integers(0, 15, 2000)).astype(int), 119)
    result = elasticrec.stream((users, items, (t * 1e6).astype(np.int64)), budget="c=4",
                               method="mr", segments=3, model="mf", d_max=8, epochs=2,
                               out=tmp_path / "s", log=lambda _: None)
    assert len(result.segments) == 3 and result.summary["within_budget"]
    user = result.user_ids[-1]
    package = runtime.load_bytes(result.export(user))
    assert package.manifest.layout.to_json()["kind"] == "ragged"
    assert package.users == (user,)
    with pytest.raises(elasticrec.ElasticrecError, match="c=inf"):
        elasticrec.stream((users, items, t.astype(np.int64)), budget="c=inf", method="su",
                          out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
