"""The lr/L2 search: its plan fits the budget, and it never reads the test split."""

import json

import numpy as np
import pytest

import elasticrec
from elasticrec.pipeline.options import make_configs
from elasticrec.train import config as train_config
from elasticrec.train.config import graph_batch_size
from elasticrec.train.halving import (
    SearchConfig,
    choose_plan,
    parse_duration,
    plan_cost,
    rung_plan,
)

QUIET = dict(log=lambda _: None, progress=False)


def test_rungs_keep_a_third_and_triple_the_epochs():
    assert rung_plan(9, 2, 3) == [(9, 2), (3, 6)]
    assert rung_plan(4, 1, 3) == [(4, 1), (2, 3)]
    assert rung_plan(1, 5, 3) == []
    # 9 trials x 2 epochs, then 3 trials x 4 more epochs; one validation each per rung
    assert plan_cost(9, 2, 3, epoch_s=1.0, eval_s=0.5) == 9 * 2.5 + 3 * 4.5


@pytest.mark.parametrize("budget", [1.0, 20.0, 100.0, 1e6])
def test_the_chosen_plan_fits_the_budget(budget):
    config = SearchConfig(budget_seconds=budget)
    n, r0, eta = choose_plan(config, epoch_s=0.7, eval_s=0.3, horizon=30)
    if n > 1:
        assert plan_cost(n, r0, eta, 0.7, 0.3) <= budget
        assert rung_plan(n, r0, eta)[-1][1] <= 30  # no trial trains past the horizon
    bigger = choose_plan(SearchConfig(budget_seconds=budget * 2), 0.7, 0.3, 30)
    assert bigger[:2] >= (n, r0)  # more budget never buys a smaller search


def test_the_whole_grid_trains_without_halving_when_it_trains_long_enough():
    # 21 trials x (30 epochs x 0.7s + 0.3s) = 447.3s: one rung at the horizon
    assert choose_plan(SearchConfig(budget_seconds=448), 0.7, 0.3, 30) == (21, 30, 21)
    assert rung_plan(21, 30, 21) == [(21, 30)]
    # short of it, the whole grid still trains 29 epochs: later than halving's first cut
    # (21 trials at 3 epochs, 7 at 9, 3 at 27)
    assert choose_plan(SearchConfig(budget_seconds=447), 0.7, 0.3, 30) == (21, 29, 21)
    # 21 x (8 x 0.7 + 0.3) = 123.9s would train the grid 8 epochs: halving's survivors of
    # the first cut reach 9 (21 x 2.4 + 7 x 4.5 + 3 x 12.9 = 120.6s), so it halves
    assert choose_plan(SearchConfig(budget_seconds=121), 0.7, 0.3, 30) == (21, 3, 3)
    # gowalla MF's case (5.7 s an epoch, 4.7 a validation, 600 s): the whole grid would be
    # compared after 4 epochs, halving (1, 3, 9 epochs) compares its last three after 9
    assert choose_plan(SearchConfig(budget_seconds=600), 5.7, 4.7, 100) == (21, 1, 3)


def test_a_short_horizon_cuts_the_grid_rather_than_exceeding_it():
    n, r0, eta = choose_plan(SearchConfig(budget_seconds=1e6, losses=("bpr",),
                                          lrs=(1e-3,)), 0.1, 0.1, horizon=2)
    # halving fits only 3 of the 4 trials (one rung, at the horizon); the whole grid
    # compares as late, so all 4 train to the horizon, one rung
    assert (n, r0, eta) == (4, 2, 4)
    n, r0, eta = choose_plan(SearchConfig(budget_seconds=1.5), 0.1, 0.1, horizon=2)
    assert rung_plan(n, r0, eta)[-1][1] <= 2 and n == 3


def test_durations_and_the_grid():
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600
    assert parse_duration("1.5h") == 5400 and parse_duration(30) == 30
    with pytest.raises(ValueError, match="search_budget='ten'"):
        parse_duration("ten")
    grid = SearchConfig(losses=("bpr",), lrs=(1e-3, 1e-2, 1e-1), l2s=(0, 1e-2, 1)).grid()
    assert grid[0] == ("bpr", 1e-2, 1e-2)  # the pair nearest BPR's CUT_FIRST, then its ring
    assert set(grid[1:5]) == {("bpr", 1e-3, 1e-2), ("bpr", 1e-1, 1e-2), ("bpr", 1e-2, 0),
                              ("bpr", 1e-2, 1)}
    assert sorted(grid) == [("bpr", a, b) for a in (1e-3, 1e-2, 1e-1) for b in (0, 1e-2, 1)]
    both = SearchConfig().grid()  # the losses in turn, each from its CUT_FIRST
    assert [t[0] for t in both[:4]] == ["ccl", "bpr", "ccl", "bpr"]
    assert both[0] == ("ccl", 3e-3, 1e-5) and both[1] == ("bpr", 1e-2, 1e-3)
    assert len(both) == 21 and len(set(both)) == 21
    # a cut to 4 BPR trials (9 in all) still tries BPR's lowest L2 (docs/training.md)
    assert ("bpr", 1e-2, 1e-4) in both[:9]


def test_defaults_search_only_without_schedule_options():
    plain = make_configs("d", "mf", "full", {})
    assert plain.search is not None and plain.data.valid_ratio == 0.1
    assert plain.search.losses == ("ccl", "bpr") and plain.train.loss == "bpr"
    assert make_configs("d", "mf", "full", {"loss": "ccl", "search_budget": 60}
                        ).search.losses == ("ccl",)
    assert make_configs("d", "mf", "full", {"epochs": 5}).search is None
    assert make_configs("d", "mf", "full", {"lr": 0.01}).search is None
    only_l2 = make_configs("d", "mf", "full", {"lr": 0.01, "search_budget": "2m"}).search
    assert only_l2.lrs == (0.01,) and only_l2.budget_seconds == 120
    assert make_configs("d", "mf", "full", {"search_budget": 0}).search is None
    assert make_configs("d", "mf", "full", {"eval_every": 0}).data.valid_ratio == 0
    assert make_configs("d", "pop", "full", {}).search is None
    assert make_configs("d", "mf", "rule", {}).train.loss == "bpr"
    assert (plain.train.epochs, plain.train.lr_plateau) == (200, 0.5)  # a plain run's cap
    assert elasticrec.plain_defaults() == {"loss": "bpr", "epochs": 200, "lr_plateau": 0.5}
    explicit = make_configs("d", "mf", "full", {"epochs": 30, "lr_plateau": 1.0}).train
    assert (explicit.epochs, explicit.lr_plateau) == (30, 1.0)
    rule = make_configs("d", "mf", "rule", {}).train
    assert (rule.epochs, rule.lr_plateau) == (100, 1.0)  # RULE and PEEL keep TrainConfig's
    with pytest.raises(elasticrec.ElasticrecError, match="needs a validation split"):
        make_configs("d", "mf", "full", {"search_budget": "1m", "valid_ratio": 0})
    with pytest.raises(elasticrec.ElasticrecError, match="search_budget='soon'"):
        make_configs("d", "mf", "full", {"search_budget": "soon"})


def write_split(folder, test_items):
    """A LightGCN-format folder: 4 blocks of 8 users x 10 items; the test file as given."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    train, test = [], []
    for u in range(32):
        block = u % 4
        items = rng.choice(10, size=6, replace=False) + 10 * block
        train.append(f"{u} " + " ".join(map(str, items)))
        test.append(f"{u} " + " ".join(map(str, test_items(u, block, rng))))
    (folder / "train.txt").write_text("\n".join(train) + "\n")
    (folder / "test.txt").write_text("\n".join(test) + "\n")
    return folder


def test_the_search_never_reads_the_test_split(tmp_path):
    """Two datasets with the same training file and different test files (the second's test
    events are unrelated to the users): the search's trials and the trained tables must be
    the same, and only the test metrics differ."""
    real = write_split(tmp_path / "real", lambda u, b, rng: [10 * b + 9, 10 * b + 8])
    poisoned = write_split(tmp_path / "poisoned", lambda u, b, rng: [(u * 7) % 39, 39])
    runs = [elasticrec.fit(folder, model="mf", dim=8, search_budget="1h", out=tmp_path /
                           f"run-{folder.name}", **QUIET) for folder in (real, poisoned)]
    searches = [json.loads((r.path / "config.json").read_text())["search"] for r in runs]
    for s in searches:
        s.pop("seconds"), s.pop("cpu_seconds")
    assert searches[0] == searches[1]
    assert len(searches[0]["trials"]) == 21
    np.testing.assert_array_equal(runs[0].embeddings.item, runs[1].embeddings.item)
    np.testing.assert_array_equal(runs[0].embeddings.user, runs[1].embeddings.user)
    assert runs[0].result["recall@20"] != runs[1].result["recall@20"]
    # the run reports the epochs the winner trained in the search and after it
    result = runs[0].result
    assert result["epochs"] >= result["search"]["epochs"] >= 1
    assert [result[k] for k in ("loss", "lr", "l2")] == [result["search"][k]
                                                          for k in ("loss", "lr", "l2")]


def test_a_searched_run_resumes_its_choice_without_searching_again(tmp_path):
    data = write_split(tmp_path / "data", lambda u, b, rng: [10 * b + 9])
    options = dict(model="mf", dim=8, search_budget="1h", eval_every=1, patience=0, **QUIET)
    first = elasticrec.fit(data, out=tmp_path / "run", epochs=8, **options)
    search = json.loads((first.path / "config.json").read_text())["search"]
    # 8 // 2 = 4 epochs: the whole grid fits the budget at the horizon, one rung
    assert search["epochs"] == 4 and len(search["trials"]) == 21 and search["eta"] == 21
    assert first.result["epochs"] == 8
    again = elasticrec.fit(data, out=tmp_path / "run", epochs=10, resume=True, **options)
    assert json.loads((again.path / "config.json").read_text())["search"] == search
    lines = (again.path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == list(range(1, 7))  # 10 - 4 after it
    assert again.result["epochs"] == 10 and again.result["lr"] == search["lr"]


def test_lightgcn_batches_are_sized_by_the_training_events(tmp_path, monkeypatch):
    assert graph_batch_size(100) == 2048 and graph_batch_size(727_869) == 11_373
    assert graph_batch_size(10**9) == 32768
    data = write_split(tmp_path / "data", lambda u, b, rng: [10 * b + 9])  # 192 events
    monkeypatch.setattr(train_config, "GRAPH_STEPS_PER_EPOCH", 4)
    monkeypatch.setattr(train_config, "GRAPH_BATCH_RANGE", (16, 4096))
    options = dict(dim=8, epochs=1, eval_every=0, **QUIET)
    assert elasticrec.fit(data, model="lightgcn", **options).result["batch_size"] == 48
    assert elasticrec.fit(data, model="mf", **options).result["batch_size"] == 2048
    given = elasticrec.fit(data, model="lightgcn", batch_size=5, **options)
    assert given.result["batch_size"] == 5
