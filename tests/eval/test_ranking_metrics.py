import math

import numpy as np
import pytest

from elasticrec.eval.metrics import METRIC_NAMES, hit_matrix, metric_key, ranking_metrics


def one_user(top: list[int], test: list[int], ks: tuple[int, ...]) -> dict[str, float]:
    hits = hit_matrix(np.array([top]), np.array([0, len(test)]), np.array(test))
    return {key: float(v[0]) for key, v in ranking_metrics(hits, np.array([len(test)]), ks).items()}


def test_known_answer_one_user_five_items():
    # Scores [0.5, 0.9, 0.1, 0.7, 0.3] rank the items 1, 3, 0, 4, 2; the test items are 3 and 2,
    # hit at ranks 2 and 5.
    got = one_user([1, 3, 0, 4, 2], [3, 2], (1, 3, 5))
    assert got["recall@1"] == 0 and got["ndcg@1"] == 0 and got["hitrate@1"] == 0
    assert got["recall@3"] == 0.5
    assert got["precision@3"] == pytest.approx(1 / 3, abs=1e-15)
    assert got["hitrate@3"] == 1
    # DCG@3 = 1/log2(3); IDCG@3 = 1 + 1/log2(3); their ratio is 1/(log2(3) + 1) = 1/log2(6).
    assert got["ndcg@3"] == pytest.approx(1 / math.log2(6), abs=1e-15)
    assert got["recall@5"] == 1 and got["precision@5"] == 0.4
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    assert got["ndcg@5"] == pytest.approx(dcg / (1 + 1 / math.log2(3)), abs=1e-15)


def test_ideal_dcg_counts_all_test_items_truncated_at_k():
    # Three test items, K = 2: both ranked items hit, which is ideal.
    assert one_user([7, 8], [7, 8, 9], (2,))["ndcg@2"] == 1
    # One test item ranked second of two: DCG = IDCG / log2(3).
    assert one_user([5, 4], [4], (2,))["ndcg@2"] == pytest.approx(1 / math.log2(3), abs=1e-15)


def test_padding_never_hits_and_precision_divides_by_k():
    got = one_user([2, -1, -1], [2], (3,))
    assert got["recall@3"] == 1 and got["precision@3"] == pytest.approx(1 / 3, abs=1e-15)
    assert got["ndcg@3"] == 1


def test_keys_and_order():
    hits = np.zeros((2, 4), dtype=bool)
    out = ranking_metrics(hits, np.array([1, 2]), (4, 2))
    assert list(out) == [metric_key(name, k) for name in METRIC_NAMES for k in (4, 2)]
    assert list(out)[:2] == ["recall@4", "recall@2"]
    assert all(v.dtype == np.float64 and v.shape == (2,) for v in out.values())


def test_hit_matrix_rows_do_not_leak_into_each_other():
    top = np.array([[0, 1, 2], [0, 1, 2]])
    hits = hit_matrix(top, np.array([0, 1, 3]), np.array([2, 1, 0]))
    np.testing.assert_array_equal(hits, [[False, False, True], [True, True, False]])


@pytest.mark.parametrize(
    ("n_test", "ks", "match"),
    [(np.array([0]), (1,), "at least one test item"), (np.array([1]), (3,), "ks contains 3")],
)
def test_bad_arguments_are_rejected(n_test, ks, match):
    with pytest.raises(ValueError, match=match):
        ranking_metrics(np.zeros((1, 2), dtype=bool), n_test, ks)
