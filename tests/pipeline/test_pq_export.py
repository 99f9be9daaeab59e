"""``elasticrec.export_pq``: a pq package within a budget from a pair of tables, in the
score-preserving basis by default; the bundle's single-user packages fit the budget too."""

from __future__ import annotations

import numpy as np
import pytest

import elasticrec
from elasticrec import runtime

pytest.importorskip("faiss")

N_USERS, N_ITEMS, DIM = 30, 400, 16


@pytest.fixture(scope="module")
def emb() -> elasticrec.RunEmbeddings:
    rng = np.random.default_rng(0)
    user = rng.standard_normal((N_USERS, 4), dtype=np.float32) @ rng.standard_normal(
        (4, DIM), dtype=np.float32)
    item = rng.standard_normal((N_ITEMS, DIM), dtype=np.float32)
    return elasticrec.RunEmbeddings(user=user, item=item, dataset="toy",
                                    dataset_fingerprint="0123456789abcdef", model="mf",
                                    user_labels=[f"u{i}" for i in range(N_USERS)],
                                    item_labels=[str(i) for i in range(N_ITEMS)])


def test_the_largest_m_that_fits_and_every_users_package_within_the_budget(emb):
    budget = 25_000  # 39% of the float32 table (25,600 bytes): codebooks 8,192 + 400 m
    one = elasticrec.export_pq(emb, budget, user=0, dtype="float16")
    assert one.info["m"] == 16 and len(one.data) <= budget
    assert len(elasticrec.export_pq(emb, budget - 2_000, user=0, dtype="float16").data) <= (
        budget - 2_000)
    bundle = elasticrec.export_pq(emb, budget, dtype="float16")
    every = runtime.load_bytes(bundle.data)
    assert bundle.info["device_bytes"] <= budget and every.manifest.layout.m == 16
    assert max(len(every.for_user(u)) for u in every.users) == bundle.info["device_bytes"]
    assert every.manifest.method == "pq" and every.manifest.version == 3


def test_the_rotated_basis_keeps_the_scores_better_than_nothing(emb):
    """In the svd basis the user vectors are rotated too: the pq scores approximate the
    trained scores (rank-4 users), here within a fifth of their spread."""
    got = runtime.load_bytes(elasticrec.export_pq(emb, None, m=4, seed=1).data)
    exact = emb.user @ emb.item.T
    err = got.scores(got.tensors["user"]) - exact
    assert np.sqrt((err ** 2).mean()) < 0.2 * exact.std()


def test_budgets_and_m_are_checked(emb):
    with pytest.raises(elasticrec.ElasticrecError, match="m=1"):
        elasticrec.export_pq(emb, 5_000, user=0)
    with pytest.raises(elasticrec.ElasticrecError, match="give a budget"):
        elasticrec.export_pq(emb, None)
    got = elasticrec.export_pq(emb, None, m=2, user=1, basis="trained")
    assert runtime.load_bytes(got.data).manifest.layout.m == 2 and got.info["m"] == 2
