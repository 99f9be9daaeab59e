"""The score-preserving basis: exact at full width, the best prefix at every width, and what
a rotated package ships (scores through the runtime, device shrink against a server build)."""

import numpy as np
import pytest

from elasticrec import runtime
from elasticrec.budget.selection import DenseSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.basis import in_basis, rotate, score_basis
from elasticrec.export.builder import BuildOptions, build, fit


def low_rank_tables(rng, n_users=300, n_items=500, dim=16, rank=4):
    """Tables whose score matrix has ``rank`` strong directions hidden in all positions (a
    random mixing), plus small noise: the trained basis spreads the energy evenly."""
    mix = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    strength = np.r_[np.full(rank, 3.0), np.full(dim - rank, 0.2)]
    user = (rng.normal(size=(n_users, dim)) * strength) @ mix
    item = (rng.normal(size=(n_items, dim)) * strength) @ mix
    return user.astype(np.float32), item.astype(np.float32)


def embeddings(user, item):
    return RunEmbeddings(user=user, item=item, dataset="toy", dataset_fingerprint="f",
                         model="mf", user_labels=[str(i) for i in range(len(user))],
                         item_labels=[str(i) for i in range(len(item))])


def test_full_width_scores_are_unchanged_and_the_maps_are_inverse():
    user, item = low_rank_tables(np.random.default_rng(0))
    basis = score_basis(user, item)
    np.testing.assert_allclose(basis.user_map @ basis.item_map.T, np.eye(16), atol=1e-9)
    rotated = rotate(embeddings(user, item), basis)
    np.testing.assert_allclose(rotated.user @ rotated.item.T, user @ item.T, rtol=1e-4,
                               atol=1e-3)
    assert np.all(np.diff(basis.singular) <= 0)


def test_every_prefix_is_the_best_rank_k_approximation():
    """Prefix k of the rotated tables leaves exactly the energy of the trailing singular
    values, and less than the same prefix of the trained tables."""
    user, item = low_rank_tables(np.random.default_rng(1))
    basis = score_basis(user, item)
    rot = rotate(embeddings(user, item), basis)
    full = user.astype(np.float64) @ item.T
    for k in (1, 2, 4, 8):
        err = np.linalg.norm(full - rot.user[:, :k].astype(np.float64) @ rot.item[:, :k].T)
        trained = np.linalg.norm(full - user[:, :k].astype(np.float64) @ item[:, :k].T)
        assert err == pytest.approx(np.sqrt((basis.singular[k:] ** 2).sum()), rel=1e-3)
        assert err <= trained
        if k >= 4:
            assert err < 0.2 * trained
    assert basis.energy_share[3] > 0.95  # four strong directions hold the score


def test_a_rank_deficient_table_keeps_its_scores():
    rng = np.random.default_rng(2)
    user = rng.normal(size=(50, 8)).astype(np.float32)
    item = rng.normal(size=(80, 8)).astype(np.float32)
    item[:, 5:] = 0.0  # three directions carry no score
    rot = rotate(embeddings(user, item), score_basis(user, item))
    np.testing.assert_allclose(rot.user @ rot.item.T, user @ item.T, rtol=1e-4, atol=1e-4)
    assert np.abs(rot.item[:, 5:]).max() == 0.0


def test_a_new_user_maps_into_the_basis():
    user, item = low_rank_tables(np.random.default_rng(3))
    basis = score_basis(user, item)
    new = np.random.default_rng(4).normal(size=(1, 16))
    np.testing.assert_allclose((new @ basis.user_map) @ (item @ basis.item_map).T,
                               new @ item.T.astype(np.float64), rtol=1e-6, atol=1e-6)


def test_the_basis_is_deterministic_and_checks_its_input():
    user, item = low_rank_tables(np.random.default_rng(5))
    a, b = score_basis(user, item), score_basis(user, item)
    assert np.array_equal(a.item_map, b.item_map)
    with pytest.raises(ElasticrecError, match="same width"):
        score_basis(user, item[:, :8])
    with pytest.raises(ElasticrecError, match="NaN"):
        score_basis(np.full_like(user, np.nan), item)
    with pytest.raises(ElasticrecError, match="basis 'pca'"):
        in_basis(embeddings(user, item), "pca")


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_a_rotated_dense_package_ranks_better_and_shrinks_as_a_server_builds(dtype):
    user, item = low_rank_tables(np.random.default_rng(6))
    emb = embeddings(user, item)
    rot = in_basis(emb, "svd")
    options = BuildOptions(value_dtype=dtype, users=(0, 1, 2))
    itemsize = 4 if dtype == "float32" else 1
    scales = 0 if dtype == "float32" else 500 * 4
    budget = 500 * 4 * itemsize + scales + 2000  # about 4 of 16 positions
    truth = np.argsort(-(user[:3] @ item.T), axis=1)[:, :20]

    def overlap(e):
        pkg = runtime.load_bytes(build(e, fit(e, DenseSelection(16), options, budget), options,
                                       budget_bytes=budget))
        top = np.argsort(-pkg.scores(pkg.tensors["user"]), axis=1)[:, :20]
        hits = [len(np.intersect1d(a, b)) / 20 for a, b in zip(top, truth, strict=True)]
        return float(np.mean(hits)), pkg

    rotated_overlap, pkg = overlap(rot)
    trained_overlap, _ = overlap(emb)
    assert rotated_overlap > trained_overlap + 0.2
    small = budget - 500 * itemsize
    server = build(rot, fit(rot, DenseSelection(16), options, small), options,
                   budget_bytes=small)
    assert runtime.shrink(pkg, small) == server
