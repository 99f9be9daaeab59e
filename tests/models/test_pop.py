"""The most-popular model end to end: fit, evaluate, export, rank on the device."""

import numpy as np
import pytest

import elasticrec
from elasticrec import runtime
from elasticrec.models.pop import Popularity

QUIET = dict(log=lambda _: None, progress=False)


def events(seed=0, n_users=60, n_items=40, n=900):
    rng = np.random.default_rng(seed)
    # a skewed item distribution, so that popularity is a real ranking
    items = np.minimum(rng.zipf(1.6, n) - 1, n_items - 1)
    return rng.integers(0, n_users, n), items


def given_split(folder, n_users=60, n_items=30, seed=0):
    """A LightGCN-format folder whose training counts are all distinct (item i: 2*(30-i)
    users), so that the popularity order has no ties; 2 unseen test items per user."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    seen = [set() for _ in range(n_users)]
    for i in range(n_items):
        for u in rng.permutation(n_users)[: 2 * (n_items - i)]:
            seen[u].add(i)
    test = [rng.choice(sorted(set(range(n_items)) - s), 2, replace=False) for s in seen]
    (folder / "train.txt").write_text("".join(
        f"{u} {' '.join(map(str, sorted(s)))}\n" for u, s in enumerate(seen)))
    (folder / "test.txt").write_text("".join(
        f"{u} {' '.join(map(str, t))}\n" for u, t in enumerate(test)))
    return folder


def reference_recall(known, test, counts, k):
    """Most popular unseen items per test user, recall averaged over test users."""
    out = []
    for u in np.unique(test.user):
        seen = set(known.item[known.user == u].tolist())
        ranked = [i for i in np.argsort(-counts, kind="stable") if i not in seen][:k]
        truth = set(test.item[test.user == u].tolist())
        out.append(len(truth & set(ranked)) / len(truth))
    return float(np.mean(out))


@pytest.fixture(scope="module")
def pop_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("pop")
    return elasticrec.fit(given_split(base / "data"), model="pop", out=base / "run", **QUIET)


def test_pop_trains_nothing_and_ranks_by_training_counts(pop_run):
    data = pop_run.data()
    assert pop_run.result["model"] == "pop" and pop_run.result["epochs"] == 0
    assert data.valid is None  # nothing to validate: every training event counts
    counts = np.bincount(data.train.item, minlength=data.train.n_items)
    emb = pop_run.embeddings
    assert emb.user.shape == (data.train.n_users, 1) and np.all(emb.user == 1)
    np.testing.assert_allclose(emb.item[:, 0], np.log1p(counts), rtol=1e-6)
    assert len(set(counts.tolist())) == len(counts)  # no ties: one right ranking
    ref = reference_recall(data.known, data.test, counts, 5)
    assert 0 < ref < 1
    assert pop_run.evaluate(5)["recall@5"] == pytest.approx(ref)
    assert pop_run.evaluate(20)["recall@20"] == pytest.approx(pop_run.result["recall@20"])


def test_pop_exports_a_package_that_ranks_the_same(pop_run):
    user = pop_run.user_ids[0]
    package = pop_run.export("4KB", user=user)
    pkg = runtime.load_bytes(package)
    assert pkg.users == (str(user),)
    items, _ = pop_run.recommend([user], k=5)
    counts = pop_run.embeddings.item[:, 0]
    assert np.all(np.diff(counts[[int(np.flatnonzero(pop_run.item_ids == i)[0])
                                  for i in items[0]]]) <= 0)
    full = pop_run.evaluate(20, budget="4KB")
    assert full["recall@20"] == pytest.approx(pop_run.result["recall@20"], abs=1e-6)


def test_pop_refuses_elastic_methods(tmp_path):
    with pytest.raises(elasticrec.ElasticrecError, match="model 'pop'"):
        elasticrec.fit(events(), model="pop", method="rule", out=tmp_path / "r", **QUIET)


def test_popularity_checks_its_counts():
    with pytest.raises(ValueError, match="item counts"):
        Popularity(2, 3, np.array([1, 2]))
