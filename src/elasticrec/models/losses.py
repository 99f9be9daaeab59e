"""Losses as pure functions of scores and embeddings, and the objectives built from them.

Two objectives train a base model (``TrainConfig.loss``):

- ``BPRObjective``: Bayesian personalised ranking on dot products, one negative per positive.
- ``CCLObjective``: SimpleX's cosine contrastive loss (Mao et al., CIKM 2021) on cosine
  similarities: ``(1 - cos(u, i)) + w * mean_j max(0, cos(u, j) - margin)`` over ``N``
  sampled negatives ``j``. Here the ``N`` negatives are drawn once per batch and shared by
  all its positives (one ``B x N`` product instead of ``B * N`` gathered rows), uniform over
  all items (docs/methods.md states the deviation).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from elasticrec.models.base import BatchEmbeddings


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean of ``-log sigmoid(pos - neg)``."""
    return F.softplus(neg_scores - pos_scores).mean()


def ccl_loss(pos_cos: torch.Tensor, neg_cos: torch.Tensor, margin: float,
             neg_weight: float) -> torch.Tensor:
    """SimpleX's cosine contrastive loss, averaged over the batch.

    ``pos_cos`` (B,): cosine of each user with their positive; ``neg_cos`` (B, N): of each
    user with the N negatives. Per positive: ``1 - pos + neg_weight * mean(relu(neg - m))``.
    """
    return ((1 - pos_cos) + neg_weight * F.relu(neg_cos - margin).mean(1)).mean()


def l2_penalty(*tables: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum of squares / batch size`` over the batch's ego embeddings (LightGCN's form)."""
    batch = tables[0].shape[0]
    return 0.5 * sum(t.pow(2).sum() for t in tables) / max(batch, 1)


class Objective(Protocol):
    """What a training step minimises, from one pass of the model over a batch of triples."""

    def __call__(self, emb: BatchEmbeddings, users: torch.Tensor,
                 items: torch.Tensor) -> torch.Tensor:
        """``emb`` is the model's pass over ``users`` (B) and ``items`` (each user's positive,
        then the negatives: one per user, or ``shared_negatives`` for the whole batch)."""
        ...


class BPRObjective:
    """BPR on dot products plus the L2 penalty on the batch's ego embeddings."""

    shared_negatives = 0  # one negative per positive

    def __init__(self, l2: float) -> None:
        self.l2 = l2

    def __call__(self, emb: BatchEmbeddings, users: torch.Tensor,
                 items: torch.Tensor) -> torch.Tensor:
        n_pos = len(users)
        pos_scores = (emb.user * emb.item[:n_pos]).sum(1)
        neg_scores = (emb.user * emb.item[n_pos:]).sum(1)
        loss = bpr_loss(pos_scores, neg_scores)
        if self.l2 > 0:
            loss = loss + self.l2 * l2_penalty(
                emb.user_ego, emb.item_ego[:n_pos], emb.item_ego[n_pos:]
            )
        return loss


class CCLObjective:
    """The cosine contrastive loss with ``n_negatives`` shared per batch, plus the L2 penalty
    on the batch's ego rows (its users, its positives and each shared negative once)."""

    def __init__(self, l2: float, n_negatives: int, margin: float, neg_weight: float) -> None:
        if n_negatives <= 0:
            raise ValueError(f"CCL needs n_negatives > 0, got {n_negatives}")
        self.l2, self.margin, self.neg_weight = l2, margin, neg_weight
        self.shared_negatives = n_negatives

    def __call__(self, emb: BatchEmbeddings, users: torch.Tensor,
                 items: torch.Tensor) -> torch.Tensor:
        n_pos = len(users)
        u = F.normalize(emb.user, dim=1)
        pos = F.normalize(emb.item[:n_pos], dim=1)
        neg = F.normalize(emb.item[n_pos:], dim=1)
        loss = ccl_loss((u * pos).sum(1), u @ neg.T, self.margin, self.neg_weight)
        if self.l2 > 0:
            loss = loss + self.l2 * l2_penalty(emb.user_ego, emb.item_ego[:n_pos],
                                               emb.item_ego[n_pos:])
        return loss
