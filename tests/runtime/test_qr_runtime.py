"""The qr layout on the device: scores from the two tables equal the composed table's dot
products, chunk by chunk and without composing it; recommend, seen items, single-user
packages and fold-in behave as for a dense float32 package of the composed table."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from elasticrec.budget.selection import DenseSelection
from elasticrec.embeddings import QRFactors, RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build
from elasticrec.export.qr import build_qr
from elasticrec.runtime import load_bytes, shrink
from elasticrec.runtime import qr as qr_kernel

N_ITEMS, DIM, N_USERS, M = 703, 16, 5, 27  # 27 quotient rows, the last holding 1 item


def factors(n_items: int = N_ITEMS, m: int = M, dim: int = DIM, seed: int = 0) -> QRFactors:
    rng = np.random.default_rng(seed)
    return QRFactors(rng.standard_normal((-(-n_items // m), dim), dtype=np.float32),
                     rng.standard_normal((m, dim), dtype=np.float32))


def embeddings(f: QRFactors, n_items: int = N_ITEMS, n_users: int = N_USERS) -> RunEmbeddings:
    rng = np.random.default_rng(1)
    dim = f.quotient.shape[1]
    return RunEmbeddings(
        user=rng.standard_normal((n_users, dim), dtype=np.float32),
        item=f.items(np.arange(n_items)), dataset="toy",
        dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=[f"u{i}" for i in range(n_users)],
        item_labels=[str(10 + i) for i in range(n_items)])


@pytest.fixture(scope="module")
def pair():
    """A qr package of every user and the dense float32 package of its composed table."""
    f = factors()
    emb = embeddings(f)
    qr = load_bytes(build_qr(emb, f, BuildOptions(method="qr")))
    dense = load_bytes(build(emb, DenseSelection(DIM), BuildOptions()))
    return f, emb, qr, dense


def test_scores_equal_the_composed_tables_dot_products(pair):
    f, emb, qr, dense = pair
    composed = qr.item_vectors(np.arange(N_ITEMS))
    rows = np.arange(N_ITEMS)
    np.testing.assert_array_equal(composed, f.quotient[rows // M] * f.remainder[rows % M])
    for u in emb.user:
        np.testing.assert_allclose(qr.scores(u), composed @ u, rtol=1e-5, atol=1e-5)
    batch = qr.scores(emb.user)
    assert batch.shape == (N_USERS, N_ITEMS) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, dense.scores(emb.user), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, M, 2 * M + 3, 10_000])
def test_chunks_of_any_size_give_the_same_scores_without_composing(pair, monkeypatch, chunk):
    f, emb, qr, _ = pair
    seg = qr.segments[0]
    want = f.items(np.arange(N_ITEMS)) @ emb.user.T
    monkeypatch.setattr(qr_kernel, "CHUNK_ROWS", chunk)
    monkeypatch.setattr(type(seg), "decoded", None)  # the scorer never composes items
    np.testing.assert_allclose(qr.scores(emb.user), want.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(qr.scores(emb.user[2]), want[:, 2], rtol=1e-5, atol=1e-5)


def test_scoring_allocates_far_less_than_the_composed_table():
    n, dim = 200_000, 32  # a composed float32 table of 25.6 MB
    f = factors(n_items=n, m=448, dim=dim)
    emb = embeddings(f, n_items=n, n_users=1)
    pkg = load_bytes(build_qr(emb, f, BuildOptions(method="qr")))
    u = emb.user[0]
    pkg.scores(u)  # warm
    tracemalloc.start()
    try:
        scores = pkg.scores(u)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * n + 4 * qr_kernel.CHUNK_ROWS * dim + (1 << 20) < 4 * n * dim / 4
    rows = np.arange(0, n, 997)
    np.testing.assert_allclose(scores[rows], f.items(rows) @ u, rtol=1e-4, atol=1e-4)


def test_recommend_and_exclusion_rank_as_the_dense_package(pair):
    _, _, qr, dense = pair
    for user in qr.users:
        a = qr.recommend(10, user=user, exclude=[3, 5, 8])
        b = dense.recommend(10, user=user, exclude=[3, 5, 8])
        np.testing.assert_array_equal(a.items, b.items)
        assert a.labels == b.labels and not {3, 5, 8} & set(a.items.tolist())
    everything = qr.recommend(N_ITEMS, user=0, exclude=np.arange(N_ITEMS - 2))
    assert set(everything.items.tolist()) == {N_ITEMS - 2, N_ITEMS - 1}


def test_seen_items_are_left_out_of_a_single_user_package(pair):
    f, emb, _, _ = pair
    full = load_bytes(build_qr(emb, f, BuildOptions(method="qr", users=(1,))))
    top = full.recommend(5).items
    seen = tuple(sorted(top[:3].tolist()))
    pkg = load_bytes(build_qr(emb, f, BuildOptions(method="qr", users=(1,), seen=seen)))
    assert pkg.manifest.seen == 3 and pkg.manifest.version == 4
    got = pkg.recommend(5).items
    assert not set(seen) & set(got.tolist())
    np.testing.assert_array_equal(got[:2], top[3:5])
    np.testing.assert_array_equal(pkg.recommend(5, exclude_seen=False).items, top)


def test_single_user_packages_and_fold_in_match_the_dense_package(pair):
    _, _, qr, dense = pair
    one = load_bytes(qr.for_user("u3"))
    assert one.users == ("u3",) and len(qr.for_user("u3")) == qr.device_bytes()
    np.testing.assert_allclose(one.scores(one.user_vector()), dense.scores(
        dense.user_vector("u3")), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(qr.fold_in([1, 40, 700]), dense.fold_in([1, 40, 700]),
                               rtol=1e-4, atol=1e-5)


def test_a_qr_package_is_not_shrunk_on_the_device(pair):
    _, _, qr, _ = pair
    with pytest.raises(ElasticrecError, match="a qr package cannot be shrunk on the device"):
        shrink(load_bytes(qr.for_user("u0")), 1000)
