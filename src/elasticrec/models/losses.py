"""Losses as pure functions of scores and embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean of ``-log sigmoid(pos - neg)``."""
    return F.softplus(neg_scores - pos_scores).mean()


def l2_penalty(*tables: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum of squares / batch size`` over the batch's ego embeddings (LightGCN's form)."""
    batch = tables[0].shape[0]
    return 0.5 * sum(t.pow(2).sum() for t in tables) / max(batch, 1)
