import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.data.interactions import Interactions
from elasticrec.data.sampling import BPRSampler


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(3, 12), st.integers(1, 80), st.integers(0, 10**6),
       st.integers(1, 17))
def test_epoch_covers_every_pair_once_with_true_negatives(n_users, n_items, n, seed, batch):
    rng = np.random.default_rng(seed)
    user = rng.integers(0, n_users, n)
    item = rng.integers(0, n_items - 1, n)  # item n_items-1 is never positive: a negative exists
    inter = Interactions(user=user, item=item, n_users=n_users, n_items=n_items)
    sampler = BPRSampler.from_interactions(inter)
    positives = set(zip(user.tolist(), item.tolist(), strict=True))
    seen = []
    for u, p, q in sampler.epoch(batch, np.random.default_rng(seed), mode="pairs"):
        assert len(u) <= batch
        seen += list(zip(u.tolist(), p.tolist(), strict=True))
        assert not any((a, b) in positives for a, b in zip(u.tolist(), q.tolist(), strict=True))
        assert q.min() >= 0 and q.max() < n_items
    assert sorted(seen) == sorted(positives)


def test_negatives_are_uniform_over_non_positives():
    inter = Interactions(user=np.zeros(2, np.int64), item=np.array([0, 1]), n_users=1, n_items=6)
    sampler = BPRSampler.from_interactions(inter)
    neg = sampler.negatives(np.zeros(40000, np.int64), np.random.default_rng(0))
    counts = np.bincount(neg, minlength=6)
    assert counts[:2].sum() == 0
    assert np.all(np.abs(counts[2:] / 40000 - 0.25) < 0.01)


def test_same_seed_same_batches():
    rng = np.random.default_rng(3)
    inter = Interactions(user=rng.integers(0, 5, 50), item=rng.integers(0, 9, 50),
                         n_users=5, n_items=10)
    s = BPRSampler.from_interactions(inter)
    a = [np.concatenate(b) for b in s.epoch(7, np.random.default_rng(1))]
    b = [np.concatenate(b) for b in s.epoch(7, np.random.default_rng(1))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_user_with_every_item_is_refused():
    inter = Interactions(user=np.zeros(3, np.int64), item=np.arange(3), n_users=1, n_items=3)
    with pytest.raises(ValueError, match="every item"):
        BPRSampler.from_interactions(inter)


def test_user_uniform_sampling_draws_true_pairs_with_equal_user_weight():
    rng = np.random.default_rng(7)
    # user 0 has 1 item, user 1 has 30, user 2 none: users 0 and 1 must be drawn equally often
    user = np.array([0] + [1] * 30)
    item = np.array([5, *range(30)])
    inter = Interactions(user=user, item=item, n_users=3, n_items=40)
    sampler = BPRSampler.from_interactions(inter)
    positives = set(zip(user.tolist(), item.tolist(), strict=True))
    counts = np.zeros(3)
    total = 0
    for _ in range(300):
        for u, p, q in sampler.epoch(8, rng, mode="users"):
            assert all((a, b) in positives for a, b in zip(u.tolist(), p.tolist(), strict=True))
            assert not any((a, b) in positives for a, b in zip(u.tolist(), q.tolist(),
                                                                 strict=True))
            counts += np.bincount(u, minlength=3)
            total += len(u)
    assert total == 300 * len(user)
    assert counts[2] == 0
    assert abs(counts[0] / total - 0.5) < 0.02
