import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.eval.ranking import top_k


def reference_top_k(scores: np.ndarray, k: int, excluded: list[set[int]]) -> np.ndarray:
    """The obvious definition: sort each row's remaining items by (-score, item), pad with -1."""
    out = []
    for row, skip in zip(scores.tolist(), excluded, strict=True):
        ranked = sorted((j for j in range(len(row)) if j not in skip), key=lambda j: (-row[j], j))
        out.append(ranked[:k] + [-1] * (k - len(ranked[:k])))
    return np.array(out, dtype=np.int64).reshape(len(scores), k)


def to_csr(excluded: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum([len(e) for e in excluded])]).astype(np.int64)
    indices = np.array([j for e in excluded for j in e], dtype=np.int64)
    return indptr, indices


def random_scores(rng: np.random.Generator, shape: tuple[int, int], ties: int) -> np.ndarray:
    """Continuous scores when ``ties == 0``, else scores from ``ties`` distinct values, with
    occasional infinities and signed zeros."""
    if ties == 0:
        return rng.standard_normal(shape).astype(np.float32)
    scores = rng.integers(-(ties // 2), ties - ties // 2, shape).astype(np.float32)
    scores[rng.random(shape) < 0.1] = -0.0
    scores[rng.random(shape) < 0.05] = np.inf
    scores[rng.random(shape) < 0.05] = -np.inf
    return scores


@settings(max_examples=300, deadline=None)
@given(
    n_rows=st.integers(0, 6),
    n_items=st.integers(1, 50),
    k=st.integers(1, 60),
    ties=st.sampled_from([0, 1, 2, 3, 6]),
    exclude_fraction=st.sampled_from([0.0, 0.2, 0.9, 1.0]),
    blocks=st.one_of(st.none(), st.integers(1, 50)),
    seed=st.integers(0, 2**32 - 1),
)
def test_top_k_matches_reference(n_rows, n_items, k, ties, exclude_fraction, blocks, seed):
    rng = np.random.default_rng(seed)
    scores = random_scores(rng, (n_rows, n_items), ties)
    # Excluded lists are unsorted and may repeat an item.
    excluded = [
        rng.integers(0, n_items, int(exclude_fraction * n_items * 1.5)).tolist()
        for _ in range(n_rows)
    ]
    indptr, indices = to_csr(excluded)
    n_blocks = None if blocks is None else min(blocks, n_items)
    before = scores.copy()
    got = top_k(scores, k, exclude_indptr=indptr, exclude_indices=indices, n_blocks=n_blocks)
    assert got.dtype == np.int64 and got.shape == (n_rows, k)
    np.testing.assert_array_equal(got, reference_top_k(scores, k, [set(e) for e in excluded]))
    np.testing.assert_array_equal(scores, before)  # the input is only read


@settings(max_examples=40, deadline=None)
@given(n_blocks=st.integers(1, 700), k=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_block_count_never_changes_the_answer(n_blocks, k, seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.standard_normal((5, 700)), 1).astype(np.float32)
    excluded = [rng.choice(700, size, replace=False).tolist() for size in (0, 5, 60, 699, 700)]
    indptr, indices = to_csr(excluded)
    expected = top_k(scores, k, exclude_indptr=indptr, exclude_indices=indices, n_blocks=1)
    got = top_k(scores, k, exclude_indptr=indptr, exclude_indices=indices, n_blocks=n_blocks)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, reference_top_k(scores, k, [set(e) for e in excluded]))


def test_known_ranking_ties_and_padding():
    scores = np.array([[0.5, 0.9, 0.1, 0.9, 0.3], [1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(top_k(scores, 3), [[1, 3, 0], [0, 1, 2]])
    indptr, indices = np.array([0, 1, 5]), np.array([1, 4, 0, 2, 1])
    got = top_k(scores, 3, exclude_indptr=indptr, exclude_indices=indices)
    np.testing.assert_array_equal(got, [[3, 0, 4], [3, -1, -1]])


def test_signed_zeros_tie_and_infinities_are_ranked_not_dropped():
    scores = np.array([[-np.inf, 0.0, -0.0, np.inf, -np.inf]], dtype=np.float32)
    np.testing.assert_array_equal(top_k(scores, 6), [[3, 1, 2, 0, 4, -1]])
    got = top_k(scores, 6, exclude_indptr=np.array([0, 2]), exclude_indices=np.array([0, 3]))
    np.testing.assert_array_equal(got, [[1, 2, 4, -1, -1, -1]])


def test_rows_with_many_ties_at_the_cut_are_ranked_exactly():
    # Rows of equal scores, or of few distinct values, put most blocks at the bound; they take
    # the whole-row path while the ordinary rows of the same call do not.
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((6, 2000)).astype(np.float32)
    scores[0] = 0.0
    scores[1] = np.round(scores[1])
    scores[2, ::2] = -np.inf
    scores[2, 1::2] = -0.0
    excluded = [rng.integers(0, 2000, 300).tolist() for _ in range(6)]
    excluded[3] = list(range(1995))  # five items left
    indptr, indices = to_csr(excluded)
    for k in (1, 7, 40):
        got = top_k(scores, k, exclude_indptr=indptr, exclude_indices=indices)
        expected = reference_top_k(scores, k, [set(e) for e in excluded])
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(top_k(scores[:1], 5), [[0, 1, 2, 3, 4]])


def test_excluded_items_never_appear_on_a_larger_problem():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((64, 3000)).astype(np.float32)
    excluded = [np.argsort(-row)[: rng.integers(0, 200)] for row in scores]  # the best items
    indptr, indices = to_csr([e.tolist() for e in excluded])
    got = top_k(scores, 50, exclude_indptr=indptr, exclude_indices=indices)
    for row, skip in zip(got, excluded, strict=True):
        assert not set(row.tolist()) & set(skip.tolist())
    np.testing.assert_array_equal(got, reference_top_k(scores, 50, [set(e) for e in excluded]))


def test_layout_and_writeability_do_not_matter():
    rng = np.random.default_rng(1)
    scores = np.round(rng.standard_normal((7, 300)), 1).astype(np.float32)
    indptr, indices = to_csr([rng.integers(0, 300, 20).tolist() for _ in range(7)])
    expected = top_k(scores, 25, exclude_indptr=indptr, exclude_indices=indices)
    fortran = np.asfortranarray(scores)
    readonly = scores.copy()
    readonly.flags.writeable = False
    for variant in (fortran, readonly):
        got = top_k(variant, 25, exclude_indptr=indptr, exclude_indices=indices)
        np.testing.assert_array_equal(got, expected)


def test_nan_raises_even_where_excluded():
    scores = np.zeros((2, 4), dtype=np.float32)
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        top_k(scores, 2)
    with pytest.raises(ValueError, match="NaN"):
        top_k(scores, 2, exclude_indptr=np.array([0, 0, 1]), exclude_indices=np.array([2]))


@pytest.mark.parametrize(
    ("scores", "k", "kwargs", "match"),
    [
        (np.zeros(3, np.float32), 1, {}, "2-d float32"),
        (np.zeros((2, 3), np.int64), 1, {}, "2-d float32"),
        (np.zeros((2, 3), np.float64), 1, {}, "2-d float32"),
        (np.zeros((2, 3), np.float32), 0, {}, "k=0"),
        (np.zeros((2, 3), np.float32), True, {}, "k=True"),
        (np.zeros((2, 3), np.float32), 1, {"n_blocks": 4}, "n_blocks=4"),
        (np.zeros((2, 3), np.float32), 1, {"exclude_indptr": np.array([0, 0, 0])}, "together"),
        (
            np.zeros((2, 3), np.float32),
            1,
            {"exclude_indptr": np.array([0, 1]), "exclude_indices": np.array([0])},
            "expected 3",
        ),
        (
            np.zeros((2, 3), np.float32),
            1,
            {"exclude_indptr": np.array([0, 2, 1]), "exclude_indices": np.array([0])},
            "never decrease",
        ),
        (
            np.zeros((2, 3), np.float32),
            1,
            {"exclude_indptr": np.array([0, 1, 1]), "exclude_indices": np.array([3])},
            r"\[0, 3\)",
        ),
    ],
)
def test_bad_arguments_are_rejected(scores, k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        top_k(scores, k, **kwargs)


def test_empty_inputs():
    assert top_k(np.zeros((0, 5), np.float32), 3).shape == (0, 3)
    np.testing.assert_array_equal(top_k(np.zeros((2, 0), np.float32), 2), [[-1, -1], [-1, -1]])


@pytest.mark.parametrize("module", ["elasticrec.eval.ranking", "elasticrec.eval.metrics"])
def test_device_side_modules_import_numpy_only(module):
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('torch', 'scipy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
