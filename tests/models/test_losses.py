"""The contrastive loss against a slow, obvious reference; the sampler's shared negatives."""

import numpy as np
import pytest
import torch

from elasticrec.data.interactions import Interactions
from elasticrec.data.sampling import BPRSampler
from elasticrec.models.base import BatchEmbeddings
from elasticrec.models.config import ModelConfig
from elasticrec.models.factory import build_model
from elasticrec.models.losses import CCLObjective
from elasticrec.models.mf import MF


def slow_ccl(user, pos, neg, margin, weight):
    """SimpleX's CCL written out positive by positive, negative by negative."""
    total = 0.0
    for b in range(len(user)):
        cos = lambda x, y: (x @ y) / (x.norm() * y.norm())  # noqa: E731
        term = 1 - cos(user[b], pos[b])
        hinge = sum(torch.clamp(cos(user[b], neg[j]) - margin, min=0)
                    for j in range(len(neg)))
        total = total + term + weight * hinge / len(neg)
    return total / len(user)


@pytest.mark.parametrize("margin", [-0.5, 0.0, 0.3])
def test_ccl_matches_the_slow_reference_in_value_and_gradient(margin):
    gen = torch.Generator().manual_seed(0)
    user = torch.randn(5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    items = torch.randn(5 + 7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    emb = BatchEmbeddings(user, items, user, items)
    fast = CCLObjective(l2=0.0, n_negatives=7, margin=margin, neg_weight=3.0)(
        emb, torch.arange(5), torch.arange(12))
    slow = slow_ccl(user, items[:5], items[5:], margin, 3.0)
    torch.testing.assert_close(fast, slow)
    g_fast = torch.autograd.grad(fast, [user, items])
    g_slow = torch.autograd.grad(slow_ccl(user, items[:5], items[5:], margin, 3.0),
                                 [user, items])
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b)
    assert any(float(g.abs().max()) > 0 for g in g_fast)


def test_ccl_adds_the_l2_penalty_of_every_row_once():
    gen = torch.Generator().manual_seed(1)
    user, items = torch.randn(3, 4, generator=gen), torch.randn(3 + 5, 4, generator=gen)
    emb = BatchEmbeddings(user, items, user, items)
    plain = CCLObjective(0.0, 5, 0.5, 1.0)(emb, torch.arange(3), torch.arange(8))
    with_l2 = CCLObjective(0.1, 5, 0.5, 1.0)(emb, torch.arange(3), torch.arange(8))
    expected = 0.1 * 0.5 * (user.pow(2).sum() + items.pow(2).sum()) / 3
    torch.testing.assert_close(with_l2 - plain, expected)


def test_shared_negatives_come_once_per_batch():
    inter = Interactions(user=np.repeat(np.arange(4), 3), item=np.arange(12) % 9,
                         n_users=4, n_items=9)
    sampler = BPRSampler.from_interactions(inter)
    batches = list(sampler.epoch(5, np.random.default_rng(0), shared_negatives=20))
    assert sum(len(u) for u, _, _ in batches) == len(inter)
    for users, pos, neg in batches:
        assert len(users) == len(pos) and neg.shape == (20,)
        assert neg.min() >= 0 and neg.max() < 9
    with pytest.raises(ValueError, match="shared_negatives"):
        next(sampler.epoch(5, np.random.default_rng(0), shared_negatives=-1))


def test_a_cosine_model_stores_unit_rows():
    model = MF(3, 4, 5, generator=torch.Generator().manual_seed(0), cosine=True)
    users, items = model.final_embeddings()
    torch.testing.assert_close(users.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(items.norm(dim=1), torch.ones(4))


@pytest.mark.parametrize("cosine, std", [(True, 1e-4), (False, 0.1)])
def test_the_initial_scale_follows_the_loss_unless_given(cosine, std):
    train = Interactions(np.arange(200) % 40, np.arange(200) % 30, 40, 30)
    built = build_model(ModelConfig(model="mf"), train, 0, cosine=cosine)
    # N(0, s) over 70 x 64 values: the sample deviation is within 5% of s
    assert built.embedding.std().item() == pytest.approx(std, rel=0.05)
    given = build_model(ModelConfig(model="mf", init_std=0.5), train, 0, cosine=cosine)
    assert given.embedding.std().item() == pytest.approx(0.5, rel=0.05)
