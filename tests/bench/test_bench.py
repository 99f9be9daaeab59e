"""`elasticrec bench` on a toy dataset: every method and baseline at two budgets, every
package within its budget on the file, resumable, and a package over budget stops the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import elasticrec
from elasticrec.bench import baselines, runner
from elasticrec.cli import build_parser


def clustered(n_users=50, n_items=160, n=2500, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    items = (users % 4) * (n_items // 4) + rng.integers(0, n_items // 4, n)
    return users, items


def arriving(n=1500, n_users=120, n_items=90, seed=0):
    """Timestamped events whose users and items arrive over time."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.random(n))
    users = np.minimum((t * n_users + rng.integers(0, 15, n)).astype(int), n_users - 1)
    items = np.minimum((t * n_items + rng.integers(0, 10, n)).astype(int), n_items - 1)
    return users, items, (t * 1e6).astype(np.int64)


TOY = elasticrec.BenchSuite(
    name="toy",
    datasets=(elasticrec.BenchData(
        "toy", clustered(),
        recipes={"mf": dict(epochs=2, dim=16, eval_every=0, valid_ratio=0.1, seed=0)},
        rule=dict(n_blocks=4, n_groups=4, label_configs=12),
        peel=dict(n_clusters=2, peel_epochs=1)),),
    budgets=("40%", "70%"), random_seeds=(0, 1),
    stream_only=(elasticrec.BenchData(
        "toy-stream", arriving(),
        streams=(("su", "c=4", dict(segments=2, epochs=1, model="mf", d_max=8)),)),))


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return out, elasticrec.run_bench(TOY, out=out, progress=False, log=lambda _m: None)


def test_every_method_and_baseline_at_every_budget_fits_on_the_file(bench):
    out, records = bench
    packages = [r for r in records if r["kind"] == "package"]
    names = set(baselines.METHODS) | set(baselines.BASELINES)
    for budget in TOY.budgets:
        got = {r["method"] for r in packages if r["budget"] == budget}
        assert got == names, budget
    for r in packages:
        if "infeasible" in r:
            continue
        assert 0 <= r["recall@20"] <= 1 and r["n_test_users"] > 0
        assert r["package_bytes"] <= r["budget_bytes"] and r["device_bytes"] <= r["budget_bytes"]
        assert {"date", "machine", "commit"} <= set(r)
    assert sum("infeasible" not in r for r in packages) >= len(names) + 1
    files = sorted((out / "work" / "packages" / "toy" / "mf").glob("*.erpkg"))
    assert len(files) == sum("infeasible" not in r for r in packages)
    for path in files:
        budget = next(r["budget_bytes"] for r in packages if "infeasible" not in r and
                      path.name.startswith(r["method"] + "-" + r["budget"].replace("%", "pct")))
        assert path.stat().st_size <= budget
        elasticrec.runtime.load(path)
    trained = {r["method"] for r in records if r["kind"] == "train"}
    assert {"full", "rule", "peel"} <= trained and any(m.startswith("uniform-") for m in trained)
    saved = json.loads((out / "toy.json").read_text())["records"]
    assert len(saved) == len(records)


def test_streams_are_units_with_every_segment_within_budget(bench):
    out, records = bench
    (stream,) = [r for r in records if r["kind"] == "stream"]
    assert stream["method"] == "su" and stream["segments"] == 2
    assert stream["max_bytes_over_budget"] <= 1 and 0 <= stream["recall@20"] <= 1
    assert "## Streams under a fixed budget" in (out / "toy.md").read_text()


def test_report_has_a_table_and_a_plot(bench):
    out, _ = bench
    text = (out / "toy.md").read_text()
    assert "## toy, mf" in text and "| method | budget |" in text and "most-popular" in text
    assert "| budget | best_training_free |" in text
    assert (out / "toy-toy-mf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_frontier_compares_rule_and_peel_with_the_best_training_free_baseline():
    from elasticrec.bench.report import best_full, frontier

    def rec(method, budget, recall, model="mf"):
        return {"kind": "package", "dataset": "d", "model": model, "method": method,
                "budget": budget, "recall@20": recall}

    records = [rec("full-model", "full", 0.2), rec("full-model", "full", 0.25, "lightgcn"),
               rec("dense-svd-int4", "5%", 0.1), rec("pq", "5%", 0.12),
               rec("uniform-retrained", "5%", 0.3),  # retrained: not training-free
               rec("rule", "5%", 0.15), rec("peel", "5%", 0.11),
               {**rec("rule", "10%", None), "infeasible": "x"}, rec("pq", "10%", 0.2)]
    best = best_full(records, "d")
    assert best == 0.25  # the strongest full model of the dataset, any base model
    rows = frontier(records, ("5%", "10%"), best)
    assert rows[0] == {"budget": "5%", "best_training_free": "pq", "its_recall@20": 0.12,
                       "rule": 0.15, "peel": 0.11, "rule-plain": None,
                       "rule_of_best_full": 0.6, "peel_of_best_full": 0.44,
                       "rule-plain_of_best_full": None, "methods_at_or_above": "rule"}
    assert rows[1]["rule"] is None and rows[1]["methods_at_or_above"] == "none"


def test_resume_skips_finished_units_and_a_second_run_is_refused(bench, monkeypatch):
    out, records = bench
    with pytest.raises(elasticrec.ElasticrecError, match="resume=True"):
        elasticrec.run_bench(TOY, out=out, progress=False, log=lambda _m: None)

    def no_training(*_a, **_k):
        raise AssertionError("a finished unit was run again")

    monkeypatch.setattr(elasticrec, "fit", no_training)
    again = elasticrec.run_bench(TOY, out=out, resume=True, progress=False,
                                 log=lambda _m: None)
    assert [r["unit"] for r in again] == [r["unit"] for r in records]


def test_rerun_measures_the_named_method_again_and_nothing_else(bench, tmp_path, monkeypatch):
    import shutil

    out, records = bench
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    calls: list[int] = []
    entry = baselines.BASELINES["most-popular"]

    def counted(ctx, budget):
        calls.append(budget)
        return entry(ctx, budget)

    def no_training(*_a, **_k):
        raise AssertionError("a complete run folder was trained again")

    monkeypatch.setitem(baselines.BASELINES, "most-popular", counted)
    monkeypatch.setattr(elasticrec, "fit", no_training)
    said: list[str] = []
    again = elasticrec.run_bench(TOY, out=copy, resume=True, rerun=("most-popular",),
                                 progress=False, log=said.append)
    assert len(calls) == len(TOY.budgets)
    assert sorted(map(tuple, (r["unit"] for r in again))) == sorted(
        map(tuple, (r["unit"] for r in records)))
    assert any("most-popular again" in m for m in said)
    with pytest.raises(elasticrec.ElasticrecError, match="rerun 'nope': no unit"):
        elasticrec.run_bench(TOY, out=copy, resume=True, rerun=("nope",), progress=False,
                             log=lambda _m: None)


def test_parts_running_side_by_side_keep_each_others_records(tmp_path):
    path = tmp_path / "toy.json"
    first, second = (runner.Book(path, "toy", resume=True) for _ in range(2))
    first.add(("package", "a", "mf", "rule", "10%"), {"kind": "package", "recall@20": 0.1})
    second.add(("package", "b", "mf", "rule", "10%"), {"kind": "package", "recall@20": 0.2})
    first.add(("package", "a", "mf", "peel", "10%"), {"kind": "package", "recall@20": 0.3})
    saved = json.loads(path.read_text())["records"]
    assert sorted((r["unit"][1], r["unit"][3]) for r in saved) == [
        ("a", "peel"), ("a", "rule"), ("b", "rule")]
    assert first.records == saved and ("package", "b", "mf", "rule", "10%") in first.done


def test_a_package_over_its_budget_stops_the_run_naming_the_record(bench, tmp_path,
                                                                   monkeypatch):
    out, _ = bench

    def too_big(ctx, budget):
        run = ctx.run("full")
        whole = run.export(run.full_table_bytes * 4, user=run.user_ids[0])
        return baselines.Shipped(whole, run.evaluate(budget=budget), 0.0)

    monkeypatch.setitem(baselines.BASELINES, "too-big", too_big)
    suite = elasticrec.BenchSuite(name="toy", datasets=TOY.datasets, budgets=("40%",),
                                  baselines=("too-big",))
    with pytest.raises(runner.BudgetViolation, match="record toy/mf/too-big/40%"):
        elasticrec.run_bench(suite, out=tmp_path, work=out / "work", progress=False,
                             log=lambda _m: None)  # the trained runs, reused


def test_only_runs_the_named_dataset_and_keeps_the_other_records(bench, tmp_path):
    out, records = bench
    (tmp_path / "toy.json").write_text((out / "toy.json").read_text())
    kept = [r for r in records if r["dataset"] == "toy"]
    drop = {tuple(r["unit"]) for r in records if r["dataset"] == "toy-stream"}
    state = json.loads((tmp_path / "toy.json").read_text())
    state["records"] = [r for r in state["records"] if tuple(r["unit"]) not in drop]
    (tmp_path / "toy.json").write_text(json.dumps(state))
    again = elasticrec.run_bench(TOY, out=tmp_path, work=out / "work", resume=True,
                                 only=["toy/mf"], progress=False, log=lambda _m: None)
    assert [r["unit"] for r in again] == [r["unit"] for r in kept]  # the stream not run
    with pytest.raises(elasticrec.ElasticrecError, match=r"only 'nope'.*'toy/mf'"):
        elasticrec.run_bench(TOY, out=tmp_path, resume=True, only=["nope"])


def test_unknown_suite_and_baseline_are_refused(tmp_path):
    with pytest.raises(elasticrec.ElasticrecError, match="suite 'nope' is not one of"):
        elasticrec.run_bench("nope", out=tmp_path)
    bad = elasticrec.BenchSuite(name="x", datasets=TOY.datasets, baselines=("nope",))
    with pytest.raises(elasticrec.ElasticrecError, match="unknown baseline 'nope'"):
        elasticrec.run_bench(bad, out=tmp_path)


def test_retrained_limits_the_baselines_that_train_again_to_the_models_it_names(tmp_path):
    data = TOY.datasets[0]
    suite = elasticrec.BenchSuite(name="toy", budgets=("70%",), datasets=(
        elasticrec.BenchData("toy", data.data, recipes={"mf": data.recipes["mf"],
                                                        "lightgcn": data.recipes["mf"]},
                             retrained=("mf",)),))
    book = runner.Book(tmp_path / "toy.json", "toy", resume=False)

    def methods(model: str) -> set[str]:
        models = runner.Models(suite, suite.datasets[0], model, tmp_path, book, None, False,
                               print)
        return {u.key[3] for u in models.units() if u.key[0] == "package"}

    retrained = set(baselines.BASELINES) - baselines.TRAINING_FREE
    assert retrained and retrained <= methods("mf")
    assert not retrained & methods("lightgcn")
    assert baselines.TRAINING_FREE | set(baselines.METHODS) <= methods("lightgcn")
    with pytest.raises(elasticrec.ElasticrecError, match="retrained names 'lightgcn'"):
        elasticrec.BenchData("toy", data.data, recipes={"mf": {}}, retrained=("lightgcn",))


def test_the_command_line_takes_the_suites():
    args = build_parser().parse_args(["bench", "quick", "--out", "x", "--resume",
                                      "--only", "ml-100k/mf", "--rerun", "rule",
                                      "--rerun", "peel"])
    assert args.suite == "quick" and args.resume and args.only == ["ml-100k/mf"]
    assert args.rerun == ["rule", "peel"]


@pytest.mark.parametrize("name", ["quick", "full"])
def test_the_named_suites_take_only_options_fit_knows(name):
    from elasticrec.bench.suites import suite_named

    suite = suite_named(name)
    for data in (*suite.datasets, *suite.stream_only):
        for model, recipe in data.recipes.items():
            assert model in elasticrec.option_choices()["model"]
            assert set(recipe) | set(data.rule) <= set(elasticrec.option_names("rule"))
            assert set(data.peel) <= set(elasticrec.option_names("peel"))
        for method, budget, _options in data.streams:
            assert method in ("scall", "su", "mr", "grow")
            elasticrec.parse_stream_budget(budget)
    # quick: three budgets (issue 14); full: the six of the quality-per-byte goal (issue 13)
    expected = {"quick": ("10%", "25%", "50%"), "full": ("1%", "2%", "5%", "10%", "20%", "50%")}
    assert suite.budgets == expected[name]


def test_an_interrupted_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    data = TOY.datasets[0]
    recipe = {"mf": {**data.recipes["mf"], "epochs": 3}}
    suite = elasticrec.BenchSuite(
        name="toy", budgets=("70%",), baselines=("most-popular",),
        datasets=(elasticrec.BenchData("toy", data.data, recipes=recipe, rule=data.rule,
                                       peel=data.peel),))
    seen: list[str] = []

    def stop_at_epoch_2(_self, message: str) -> None:
        seen.append(message)
        if message.startswith("epoch 2"):
            raise RuntimeError("interrupted")

    monkeypatch.setattr(runner.Models, "_quiet", stop_at_epoch_2)
    with pytest.raises(RuntimeError, match="interrupted"):
        elasticrec.run_bench(suite, out=tmp_path, progress=False, log=lambda _m: None)
    folder = tmp_path / "work" / "runs" / "toy" / "mf" / "full"
    assert (folder / "checkpoint.safetensors").is_file() and not (folder / "run.json").exists()

    seen.clear()
    said: list[str] = []
    monkeypatch.setattr(runner.Models, "_quiet", lambda _self, m: seen.append(m))
    records = elasticrec.run_bench(suite, out=tmp_path, resume=True, progress=False,
                                   log=said.append)
    assert "resuming toy mf full" in said
    full_epochs = [m for m in seen[:3] if m.startswith("epoch ")]
    assert full_epochs and not any(m.startswith("epoch 1 ") for m in full_epochs)
    (full,) = [r for r in records if r["unit"] == ["train", "toy", "mf", "full", "-"]]
    assert full["epochs"] == 3
