"""The pq layout on the device: scores through lookup tables equal the scores of the decoded
table, and recommend, seen items, single-user packages and fold-in behave as for a dense
float32 package of that decoded table. No faiss: the codebooks and codes are random."""

from __future__ import annotations

import numpy as np
import pytest

from elasticrec.budget.selection import DenseSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build
from elasticrec.export.pq import PQTables, build_pq
from elasticrec.runtime import load_bytes, shrink
from elasticrec.runtime import pq as pq_kernel

N_ITEMS, DIM, N_USERS, M, K = 700, 16, 5, 4, 256


def tables(seed: int = 0, n_items: int = N_ITEMS, m: int = M, k: int = K) -> PQTables:
    rng = np.random.default_rng(seed)
    codebooks = rng.standard_normal((m, k, DIM // m), dtype=np.float32)
    codes = rng.integers(0, k, (n_items, m)).astype(np.uint8)
    return PQTables(codebooks, codes)


def embeddings(item: np.ndarray) -> RunEmbeddings:
    rng = np.random.default_rng(1)
    return RunEmbeddings(
        user=rng.standard_normal((N_USERS, DIM), dtype=np.float32), item=item,
        dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=[f"u{i}" for i in range(N_USERS)],
        item_labels=[str(10 + i) for i in range(len(item))])


@pytest.fixture(scope="module")
def pair():
    """A pq package of every user and the dense float32 package of its decoded table."""
    t = tables()
    emb = embeddings(t.decoded())
    pq = load_bytes(build_pq(emb, t, BuildOptions(method="pq")))
    dense = load_bytes(build(emb, DenseSelection(DIM), BuildOptions()))
    return t, emb, pq, dense


def test_scores_equal_the_decoded_tables_scores(pair):
    t, emb, pq, dense = pair
    decoded = pq.item_vectors(np.arange(N_ITEMS))
    np.testing.assert_array_equal(decoded, t.decoded())
    for u in emb.user:
        np.testing.assert_allclose(pq.scores(u), decoded @ u, rtol=1e-5, atol=1e-5)
    batch = pq.scores(emb.user)
    assert batch.shape == (N_USERS, N_ITEMS) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, dense.scores(emb.user), rtol=1e-5, atol=1e-5)


def test_scores_come_from_the_lookup_table_without_a_decoded_table(pair, monkeypatch):
    """score_i = sum_j LUT[j, code[i, j]], chunk by chunk: a chunk smaller than the table
    gives the same scores, and the scorer never calls ``decoded``."""
    t, emb, pq, _ = pair
    seg = pq.segments[0]
    lut = seg.lookup_tables(emb.user[:1])[0]
    assert lut.shape == (M, K)
    by_hand = lut[np.arange(M), t.codes].sum(axis=1)
    monkeypatch.setattr(pq_kernel, "CHUNK_ROWS", 64)
    monkeypatch.setattr(type(seg), "decoded", None)
    np.testing.assert_allclose(pq.scores(emb.user[0]), by_hand, rtol=1e-6, atol=1e-6)


def test_recommend_and_exclusion_rank_as_the_dense_package(pair):
    _, _, pq, dense = pair
    for user in pq.users:
        a = pq.recommend(10, user=user, exclude=[3, 5, 8])
        b = dense.recommend(10, user=user, exclude=[3, 5, 8])
        np.testing.assert_array_equal(a.items, b.items)
        assert a.labels == b.labels and not {3, 5, 8} & set(a.items.tolist())
    everything = pq.recommend(N_ITEMS, user=0, exclude=np.arange(N_ITEMS - 2))
    assert set(everything.items.tolist()) == {N_ITEMS - 2, N_ITEMS - 1}


def test_seen_items_are_left_out_and_the_single_user_package_is_a_pq_package():
    t = tables(2)
    emb = embeddings(t.decoded())
    seen = (0, 4, 9)
    data = build_pq(emb, t, BuildOptions(method="pq", users=(1,), seen=seen))
    pkg = load_bytes(data)
    assert pkg.manifest.seen == 3 and pkg.manifest.version == 3
    rec = pkg.recommend(N_ITEMS)
    assert len(rec.items) == N_ITEMS - 3 and not set(seen) & set(rec.items.tolist())
    assert len(pkg.recommend(N_ITEMS, exclude_seen=False).items) == N_ITEMS
    bundle = load_bytes(build_pq(emb, t, BuildOptions(method="pq")))
    one = load_bytes(bundle.for_user("u1"))
    assert one.users == ("u1",) and one.manifest.layout == bundle.manifest.layout
    np.testing.assert_array_equal(one.scores(one.user_vector()),
                                  bundle.scores(bundle.user_vector("u1")))


def test_float16_codebooks_score_as_their_float32_widening():
    t = tables(3)
    t16 = PQTables(t.codebooks.astype(np.float16).astype(np.float32), t.codes)
    emb = embeddings(t16.decoded())
    half = load_bytes(build_pq(emb, t16, BuildOptions(value_dtype="float16", method="pq")))
    full = load_bytes(build_pq(emb, t16, BuildOptions(method="pq")))
    assert half.tensors["codebooks"].dtype == np.float16
    assert half.file_bytes < full.file_bytes
    np.testing.assert_array_equal(half.scores(emb.user), full.scores(emb.user))


def test_fold_in_uses_the_decoded_vectors(pair):
    _, _, pq, dense = pair
    np.testing.assert_allclose(pq.fold_in([1, 2, 30]), dense.fold_in([1, 2, 30]), rtol=1e-5)


def test_a_pq_package_cannot_be_shrunk_on_the_device(pair):
    _, _, pq, _ = pair
    with pytest.raises(ElasticrecError, match="pq package cannot be shrunk"):
        shrink(pq, pq.device_bytes() - 100)
