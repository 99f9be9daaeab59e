"""Evaluating a package through the runtime: at the full float32 budget it is the evaluation
of the raw embeddings; smaller packages are measured on what ships."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from package_strategies import embeddings_from

from elasticrec.budget.selection import DenseSelection
from elasticrec.errors import ElasticrecError
from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
from elasticrec.export.builder import BuildOptions, build, fit, plan
from elasticrec.export.evaluate import evaluate_package
from elasticrec.format.sizes import device_bytes
from elasticrec.runtime import load_bytes


def split(rng, n_users: int, n_items: int):
    dense = rng.random((n_users, n_items)) < 0.05
    test = dense & (rng.random((n_users, n_items)) < 0.3)
    return sp.csr_matrix(dense & ~test), sp.csr_matrix(test)


def test_full_float32_package_evaluates_as_the_raw_embeddings():
    rng = np.random.default_rng(0)
    emb = embeddings_from(rng, 400, 16, 150)
    train, test = split(rng, 150, 400)
    full = load_bytes(build(emb, DenseSelection(16), BuildOptions()))
    budget = full.device_bytes()
    package = load_bytes(build(emb, fit(emb, DenseSelection(16), BuildOptions(), budget),
                               BuildOptions(), budget_bytes=budget))
    got = evaluate_package(package, train, test, ks=(10, 20), chunk_size=64)
    want = evaluate_ranking(score_fn_from_embeddings(emb.user, emb.item), train, test,
                            ks=(10, 20), chunk_size=64)
    assert got.metrics == want.metrics
    assert got.n_users == want.n_users


def test_smaller_packages_are_measured_on_what_ships():
    rng = np.random.default_rng(1)
    emb = embeddings_from(rng, 400, 16, 150)
    train, test = split(rng, 150, 400)
    options = BuildOptions(value_dtype="int8")
    budget = device_bytes(plan(emb, DenseSelection(4), options))
    selection = fit(emb, DenseSelection(16), options, budget)
    assert selection.width == 4
    package = load_bytes(build(emb, selection, options))
    got = evaluate_package(package, train, test)
    truncated = emb.item.copy()
    truncated[:, 4:] = 0
    raw = evaluate_ranking(score_fn_from_embeddings(emb.user, truncated), train, test)
    assert abs(got.metrics["recall@20"] - raw.metrics["recall@20"]) < 0.05


def test_single_user_packages_cannot_be_evaluated_on_a_split():
    rng = np.random.default_rng(2)
    emb = embeddings_from(rng, 50, 4, 10)
    train, test = split(rng, 10, 50)
    package = load_bytes(build(emb, DenseSelection(4), BuildOptions(users=(0,))))
    with pytest.raises(ElasticrecError, match="without --user"):
        evaluate_package(package, train, test)
