import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.eval.evaluate import EvalResult, evaluate_ranking, score_fn_from_embeddings


def reference_evaluate(scores, train, test, ks):
    """Python loops over users and items: ranking by (-score, item), then the textbook metrics."""
    names = ("recall", "ndcg", "precision", "hitrate")
    per_user = {f"{name}@{k}": [] for name in names for k in ks}
    users = []
    for u in range(scores.shape[0]):
        held = set(test[u].indices.tolist())
        if not held:
            continue
        users.append(u)
        seen = set(train[u].indices.tolist())
        row = scores[u].tolist()
        ranked = sorted((j for j in range(len(row)) if j not in seen), key=lambda j: (-row[j], j))
        for k in ks:
            hit = [j in held for j in ranked[:k]]
            dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hit) if h)
            idcg = sum(1 / math.log2(i + 2) for i in range(min(len(held), k)))
            per_user[f"recall@{k}"].append(sum(hit) / len(held))
            per_user[f"ndcg@{k}"].append(dcg / idcg)
            per_user[f"precision@{k}"].append(sum(hit) / k)
            per_user[f"hitrate@{k}"].append(float(any(hit)))
    return np.array(users), {key: np.array(v) for key, v in per_user.items()}


def random_split(rng, n_users, n_items, density):
    """Disjoint random train and test matrices; some users get no test items."""
    which = rng.random((n_users, n_items))
    train = sp.csr_matrix((which < density).astype(np.float32))
    test = sp.csr_matrix(((which >= density) & (which < 1.6 * density)).astype(np.float32))
    return train, test


@settings(max_examples=60, deadline=None)
@given(
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 30),
    density=st.sampled_from([0.1, 0.3, 0.5]),
    ks=st.lists(st.integers(1, 35), min_size=1, max_size=4, unique=True),
    chunk_size=st.integers(1, 14),
    ties=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference(n_users, n_items, density, ks, chunk_size, ties, seed):
    rng = np.random.default_rng(seed)
    train, test = random_split(rng, n_users, n_items, density)
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    if ties:
        scores = np.round(scores).astype(np.float32)  # a handful of distinct values
    users, expected = reference_evaluate(scores, train, test, ks)
    if not len(users):
        with pytest.raises(ValueError, match="no user to evaluate"):
            evaluate_ranking(lambda ids: scores[ids], train, test, ks, chunk_size=chunk_size)
        return
    result = evaluate_ranking(
        lambda ids: scores[ids], train, test, ks, chunk_size=chunk_size, per_user=True
    )
    assert result.n_users == len(users)
    np.testing.assert_array_equal(result.users, users)
    assert list(result.metrics) == list(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(result.per_user[key], values, rtol=0, atol=1e-12)
        assert result.metrics[key] == pytest.approx(values.mean(), abs=1e-12)


def test_known_answer_with_training_items_excluded():
    scores = np.array([[0.5, 0.9, 0.1, 0.7, 0.3]], dtype=np.float32)
    train = sp.csr_matrix(np.array([[0, 1, 0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 1, 0]], dtype=np.float32))
    # Item 1 is excluded, so the ranking is 3, 0, 4, 2: hits at ranks 1 and 4.
    result = evaluate_ranking(lambda ids: scores[ids], train, test, (1, 4))
    assert result.metrics["recall@1"] == 0.5 and result.metrics["ndcg@1"] == 1
    assert result.metrics["precision@1"] == 1 and result.metrics["hitrate@1"] == 1
    assert result.metrics["recall@4"] == 1 and result.metrics["precision@4"] == 0.5
    idcg = 1 + 1 / math.log2(3)
    assert result.metrics["ndcg@4"] == pytest.approx((1 + 1 / math.log2(5)) / idcg, abs=1e-15)
    assert result.n_users == 1 and result.users is None and result.per_user is None


def test_only_users_with_test_items_are_scored_in_bounded_chunks():
    rng = np.random.default_rng(3)
    train, test = random_split(rng, 40, 25, 0.2)
    test = sp.lil_matrix(test)
    test[::3] = 0  # every third user loses its test items
    test = sp.csr_matrix(test)
    asked = []

    def score(ids):
        asked.append(ids.copy())
        return np.zeros((len(ids), 25), dtype=np.float32)

    result = evaluate_ranking(score, train, test, (5,), chunk_size=7, per_user=True)
    has_test = np.flatnonzero(np.diff(test.indptr))
    np.testing.assert_array_equal(np.concatenate(asked), has_test)
    assert max(len(a) for a in asked) == 7 and result.n_users == len(has_test)
    assert not set(result.users.tolist()) & set(range(0, 40, 3))


def test_explicit_users_and_their_checks():
    rng = np.random.default_rng(4)
    train, test = random_split(rng, 10, 20, 0.3)
    scores = rng.standard_normal((10, 20)).astype(np.float32)
    has_test = np.flatnonzero(np.diff(test.indptr))
    subset = has_test[::-2]
    result = evaluate_ranking(lambda ids: scores[ids], train, test, users=subset, per_user=True)
    full = evaluate_ranking(lambda ids: scores[ids], train, test, per_user=True)
    np.testing.assert_array_equal(result.users, subset)
    where = np.searchsorted(full.users, subset)
    np.testing.assert_array_equal(result.per_user["ndcg@20"], full.per_user["ndcg@20"][where])
    with pytest.raises(ValueError, match="repeated"):
        evaluate_ranking(lambda ids: scores[ids], train, test, users=subset[[0, 0]])
    test_free = np.setdiff1d(np.arange(10), has_test)
    if test_free.size:
        with pytest.raises(ValueError, match="without test items"):
            evaluate_ranking(lambda ids: scores[ids], train, test, users=test_free[:1])
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        evaluate_ranking(lambda ids: scores[ids], train, test, users=np.array([10]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ks": ()}, "ks=()"),
        ({"ks": (5, 5)}, "distinct"),
        ({"ks": (0,)}, "ks=\\(0,\\)"),
        ({"chunk_size": 0}, "chunk_size=0"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    train = sp.csr_matrix(np.eye(3, dtype=np.float32))
    test = sp.csr_matrix(np.eye(3, dtype=np.float32)[::-1])
    with pytest.raises(ValueError, match=match):
        evaluate_ranking(lambda ids: np.zeros((len(ids), 3), np.float32), train, test, **kwargs)


def test_shape_mismatches_are_rejected():
    train = sp.csr_matrix(np.eye(3, dtype=np.float32))
    test = sp.csr_matrix(np.eye(3, dtype=np.float32)[::-1])
    with pytest.raises(ValueError, match="score_fn returned float32 scores of shape"):
        evaluate_ranking(lambda ids: np.zeros((len(ids), 4), np.float32), train, test)
    with pytest.raises(ValueError, match="score_fn returned float64"):
        evaluate_ranking(lambda ids: np.zeros((len(ids), 3)), train, test)
    with pytest.raises(ValueError, match="test has shape"):
        evaluate_ranking(lambda ids: None, train, sp.csr_matrix((3, 4)))


def test_nan_scores_raise():
    train = sp.csr_matrix((2, 3), dtype=np.float32)
    test = sp.csr_matrix(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_ranking(lambda ids: np.full((len(ids), 3), np.nan, np.float32), train, test)


def test_score_fn_from_embeddings_and_progress_bar():
    rng = np.random.default_rng(5)
    user_emb, item_emb = rng.standard_normal((6, 4)), rng.standard_normal((9, 4))
    score = score_fn_from_embeddings(user_emb, item_emb)
    ids = np.array([4, 0, 4])
    got = score(ids)
    assert got.dtype == np.float32 and got.shape == (3, 9)
    np.testing.assert_allclose(got, user_emb[ids] @ item_emb.T, rtol=1e-5, atol=1e-5)
    train, test = random_split(rng, 6, 9, 0.3)
    if test.nnz:
        result = evaluate_ranking(score, train, test, (3,), progress=True)
        assert set(result.metrics) == {"recall@3", "ndcg@3", "precision@3", "hitrate@3"}
    reused = score_fn_from_embeddings(user_emb, item_emb, reuse_output=True)
    first = reused(ids)
    np.testing.assert_array_equal(first, got)
    second = reused(ids[:2])
    assert np.shares_memory(first, second)  # documented: valid until the next call
    np.testing.assert_array_equal(second, got[:2])
    np.testing.assert_array_equal(reused(np.arange(6)), score(np.arange(6)))
    with pytest.raises(ValueError, match="equal widths"):
        score_fn_from_embeddings(user_emb, item_emb[:, :3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_users": 0}, "n_users=0"),
        ({"seconds": -1.0}, "seconds=-1.0"),
        ({"metrics": {"mrr@5": 0.1}}, "'mrr@5'"),
        ({"metrics": {"recall@0": 0.1}}, "'recall@0'"),
        ({"users": np.arange(2)}, "go together"),
        ({"users": np.arange(3), "per_user": {"recall@5": np.zeros(2)}}, "shape"),
        ({"users": np.arange(2), "per_user": {"ndcg@5": np.zeros(2)}}, "differ"),
    ],
)
def test_eval_result_validation(kwargs, match):
    fields = {"metrics": {"recall@5": 0.5}, "n_users": 2, "seconds": 0.1} | kwargs
    with pytest.raises(ValueError, match=match):
        EvalResult(**fields)


def test_a_score_fn_that_reuses_its_output_buffer_gives_the_same_result():
    rng = np.random.default_rng(6)
    user_emb, item_emb = rng.standard_normal((20, 4)), rng.standard_normal((15, 4))
    train, test = random_split(rng, 20, 15, 0.3)
    results = [
        evaluate_ranking(
            score_fn_from_embeddings(user_emb, item_emb, reuse_output=reuse),
            train,
            test,
            (2, 5),
            chunk_size=3,
            per_user=True,
        )
        for reuse in (False, True)
    ]
    for key in results[0].metrics:
        np.testing.assert_array_equal(results[0].per_user[key], results[1].per_user[key])
