import numpy as np
import pytest
import torch

from elasticrec.data.sampling import BPRSampler
from elasticrec.elastic.blocks import block_width, masked_scores, sample_block_masks
from elasticrec.elastic.diversity import diversity_penalty, mean_block_similarity
from elasticrec.elastic.objective import ElasticBPR
from elasticrec.models.base import BatchEmbeddings
from elasticrec.models.losses import BPRObjective
from elasticrec.models.mf import MF
from elasticrec.train.config import TrainConfig
from elasticrec.train.trainer import Trainer
from toy_data import block_clusters


def test_masked_scores_sum_the_shipped_blocks_only():
    user = torch.arange(8.0).view(1, 8)
    item = torch.ones(1, 8)
    mask = torch.tensor([[True, False, False, True]])  # blocks of width 2: positions 0,1,6,7
    assert masked_scores(user, item, mask).item() == 0 + 1 + 6 + 7
    assert masked_scores(user, item, mask, rescale=True).item() == 14 * 4 / 2
    full = torch.ones(1, 4, dtype=torch.bool)
    assert masked_scores(user, item, full).item() == (user * item).sum().item()


def test_block_width_must_divide():
    assert block_width(64, 16) == 4
    with pytest.raises(ValueError, match="divisor"):
        block_width(64, 5)


def test_sampled_masks_are_non_empty_and_cover_subsets():
    gen = torch.Generator().manual_seed(0)
    masks = torch.stack([sample_block_masks(50, 3, gen, sizes="bernoulli") for _ in range(40)])
    assert masks.any(dim=-1).all()
    seen = {tuple(row.tolist()) for row in masks.view(-1, 3)}
    assert len(seen) == 7  # every non-empty subset of 3 blocks occurs
    full = sample_block_masks(1000, 4, gen, p_full=1.0)
    assert full.all()


def test_uniform_subset_sizes_train_small_subsets_as_often_as_large_ones():
    gen = torch.Generator().manual_seed(0)
    masks = torch.cat([sample_block_masks(1000, 16, gen) for _ in range(20)])
    sizes = masks.sum(dim=1)
    assert sizes.min() >= 1 and sizes.max() <= 16
    counts = torch.bincount(sizes, minlength=17)[1:].float() / len(sizes)
    assert torch.allclose(counts, torch.full((16,), 1 / 16), atol=0.01)
    # the blocks of a given size are a uniform subset: every block equally often
    per_block = masks.float().mean(dim=0)
    assert torch.allclose(per_block, torch.full((16,), 8.5 / 16), atol=0.02)
    with pytest.raises(ValueError, match="sizes"):
        sample_block_masks(2, 2, gen, sizes="zipf")


def test_elastic_objective_without_subsets_is_bpr_plus_full_pass():
    gen = torch.Generator().manual_seed(1)
    u, i = torch.randn(6, 8, generator=gen), torch.randn(12, 8, generator=gen)
    emb = BatchEmbeddings(u, i, u, i)
    users, items = torch.arange(6), torch.arange(12)
    elastic = ElasticBPR(item_group=torch.zeros(12, dtype=torch.long), n_groups=1,
                         n_blocks=4, l2=1e-3, diversity=0.0, p_full=1.0, generator=gen)
    bpr_only = BPRObjective(l2=0)(emb, users, items)
    penalty = BPRObjective(l2=1e-3)(emb, users, items) - bpr_only
    # with every block shipped, the subset pass equals the full pass: BPR counted twice
    assert elastic(emb, users, items).item() == pytest.approx((2 * bpr_only + penalty).item())


def test_consecutive_diversity_rewards_distinct_blocks():
    same = torch.ones(3, 8)
    distinct = torch.tensor([[1.0, 1, -1, -1, 1, 1, -1, -1]]).repeat(3, 1)
    assert diversity_penalty(same, 4).item() == 0
    assert diversity_penalty(distinct, 4).item() < 0
    assert diversity_penalty(distinct, 4, "cosine") > diversity_penalty(
        torch.tensor([[1.0, 0, 0, 1, 1, 1, 1, -1]]), 4, "cosine")
    assert mean_block_similarity(same, 4) == pytest.approx(1.0)


def _in_block_hits_with_one_block(model, train, n_blocks):
    """Share of top-3 items (train excluded) in the user's own cluster, scoring block 0 only."""
    with torch.no_grad():
        users, items = model.final_embeddings()
    w = users.shape[1] // n_blocks
    scores = (users[:, :w] @ items[:, :w].T).numpy()
    scores[train.user, train.item] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :3]
    return float(np.mean(top // 10 == (np.arange(train.n_users) // 12)[:, None]))


def test_elastic_training_makes_a_single_block_rank_well():
    rng = np.random.default_rng(0)
    train, _ = block_clusters(rng)
    cfg = TrainConfig(epochs=150, batch_size=64, lr=0.02, eval_every=0, seed=0)
    results = {}
    for name in ("plain", "elastic"):
        model = MF(train.n_users, train.n_items, 16, generator=torch.Generator().manual_seed(0))
        objective = None
        if name == "elastic":
            objective = ElasticBPR(item_group=torch.zeros(train.n_items, dtype=torch.long),
                                   n_groups=1, n_blocks=4, diversity=0.0, sizes="bernoulli",
                                   generator=torch.Generator().manual_seed(0))
        Trainer(model, BPRSampler.from_interactions(train), cfg, objective=objective).fit()
        results[name] = _in_block_hits_with_one_block(model, train, 4)
    # one block of four: elastic training ranks clearly better with it than plain training
    assert results["elastic"] > results["plain"] + 0.15
