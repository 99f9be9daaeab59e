"""Losses as pure functions of scores and embeddings."""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from elasticrec.models.base import BatchEmbeddings


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean of ``-log sigmoid(pos - neg)``."""
    return F.softplus(neg_scores - pos_scores).mean()


def l2_penalty(*tables: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum of squares / batch size`` over the batch's ego embeddings (LightGCN's form)."""
    batch = tables[0].shape[0]
    return 0.5 * sum(t.pow(2).sum() for t in tables) / max(batch, 1)


class Objective(Protocol):
    """What a training step minimises, from one pass of the model over a batch of triples."""

    def __call__(self, emb: BatchEmbeddings, users: torch.Tensor,
                 items: torch.Tensor) -> torch.Tensor:
        """``emb`` is the model's pass over ``users`` (B) and ``items`` (2B: each user's
        positive, then each user's negative)."""
        ...


class BPRObjective:
    """BPR on dot products plus the L2 penalty on the batch's ego embeddings."""

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
