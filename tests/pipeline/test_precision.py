"""``dtype="auto"``: the value type is the one whose package scores best on validation."""

from __future__ import annotations

from dataclasses import replace

import pytest

import elasticrec
from elasticrec.pipeline.precision import CANDIDATES, best_dtype, choose_dtype, split_candidate
from toy_data import clustered

QUIET = dict(log=lambda _: None, progress=False)
SMALL = dict(model="mf", epochs=3, dim=16, eval_every=0, valid_ratio=0.2)
ELASTIC = dict(n_blocks=4, n_groups=4, label_configs=12)


def test_the_best_score_wins_and_ties_keep_the_wider_type():
    assert best_dtype({"float32": 0.2, "int8": 0.3, "int4": 0.1}) == "int8"
    assert best_dtype({"int4": 0.3, "float16": 0.3, "int8": 0.3}) == "float16"
    with pytest.raises(ValueError):
        best_dtype({})


def test_a_type_that_does_not_fit_is_skipped_and_none_fitting_is_an_error():
    def score(dtype):
        if dtype in ("float32", "float16", "int8-column"):
            raise elasticrec.ElasticrecError(f"{dtype} does not fit")
        return {"int8": 0.1, "int4": 0.2, "int4-column": 0.15}[dtype]

    assert choose_dtype(score, 100) == ("int4", {"int8": 0.1, "int4": 0.2,
                                                 "int4-column": 0.15})

    def never(dtype):
        raise elasticrec.ElasticrecError(f"{dtype} does not fit")

    with pytest.raises(elasticrec.ElasticrecError, match=r"no value type .* fits"):
        choose_dtype(never, 100)


class Unread:
    """A test split that fails the moment anything reads it."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was read ({name})")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data = clustered()
    base = tmp_path_factory.mktemp("auto")
    full = elasticrec.fit(data, out=base / "full", **SMALL, **QUIET)
    rule = elasticrec.fit(data, method="rule", out=base / "rule", **SMALL, **ELASTIC, **QUIET)
    peel = rule.personalise(out=base / "peel", n_clusters=2, peel_epochs=1, log=QUIET["log"])
    return {"full": full, "rule": rule, "peel": peel}


@pytest.mark.parametrize("kind", ["full", "rule", "peel"])
def test_auto_ships_the_type_with_the_best_validation_score(runs, kind):
    run = runs[kind]
    budget = "40%"
    chosen, scores = run.choose_dtype(budget)
    assert set(scores) <= set(CANDIDATES) and chosen == best_dtype(scores)
    assert {"int4", "int4-column"} <= set(scores)  # both scales tried
    for name, value in scores.items():
        dtype, scales = split_candidate(name)
        valid = run.evaluate(budget=budget, dtype=dtype, scales=scales,
                             split="valid")["recall@20"]
        assert value == pytest.approx(valid)
    dtype, scales = split_candidate(chosen)
    user = run.user_ids[0]
    got = run.export_detailed(budget, user=user, dtype="auto")
    assert got.data == run.export(budget, user=user, dtype=dtype, scales=scales)
    assert (got.info["value_dtype"], got.info["scales"]) == (dtype, scales)
    assert got.info["dtype_scores"] == scores
    assert f"{chosen} chosen on validation" in got.summary
    assert len(got.data) <= run.budget_bytes(budget)
    test = run.evaluate(budget=budget, dtype="auto")
    fixed = run.evaluate(budget=budget, dtype=dtype, scales=scales)
    assert {k: v for k, v in test.items() if "@" in k} == {
        k: v for k, v in fixed.items() if "@" in k}


def test_candidates_name_their_type_and_scales():
    assert split_candidate("int4-column") == ("int4", "column")
    assert split_candidate("int8") == ("int8", "row")
    assert split_candidate("float16") == ("float16", "row")  # scales unused for floats


def test_the_choice_never_reads_the_test_split(runs, tmp_path):
    run = elasticrec.load_run(runs["rule"].path)
    run._data = replace(runs["rule"].data(), test=Unread())
    dtype, scales = split_candidate(run.choose_dtype("30%")[0])
    assert run.export("30%", user=run.user_ids[1], dtype="auto") == run.export(
        "30%", user=run.user_ids[1], dtype=dtype, scales=scales)


def test_auto_without_a_validation_split_is_refused(tmp_path):
    run = elasticrec.fit(clustered(), out=tmp_path / "run", **{**SMALL, "valid_ratio": 0.0},
                         **QUIET)
    with pytest.raises(elasticrec.ElasticrecError, match="validation split"):
        run.export("40%", user=run.user_ids[0], dtype="auto")

