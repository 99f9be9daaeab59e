"""One user group's refinement: its copy of the tables trained on its own events while a
controller learns a weight per (item group, block), bi-level (PEEL, METHODS.md 4.3).

Scores are gated: an item of group g shipping blocks S scores
``sum_{b in S} w[g, b] * <u_b, i_b>``. Training alternates, per batch,

* a table step on the group's training events (block weights fixed): BPR on the full gated
  score plus BPR on a random block subset per item group (as in pretraining, so that every
  subset the budget may leave stays usable), plus L2 on the batch's rows;
* a weight step on the group's held-out events (tables fixed; first-order, as DARTS' first-
  order variant): BPR on a random subset, plus ``cost`` times the expected share of the full
  table's bytes the weights keep (sigmoid gates only; softmax weights sum to N per group).

Weights are ``sigmoid(a)`` (default) or ``N * softmax(a)`` over a group's blocks. A package
ships the gated values (``w[g, b] * i_b``), so the device's plain dot product over the shipped
positions is exactly this score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from elasticrec.data.interactions import Interactions
from elasticrec.data.sampling import BPRSampler
from elasticrec.elastic.blocks import masked_scores, sample_block_masks
from elasticrec.models.losses import bpr_loss, l2_penalty
from elasticrec.peel.config import PeelConfig

INIT_LOGIT = 3.0  # sigmoid(3) = 0.95: refinement starts close to the pretrained scores


@dataclass(frozen=True, eq=False)
class Refined:
    user: np.ndarray  # (n_group_users, D) refined user vectors, in the order given
    item: np.ndarray  # (n_items, D) the group's refined item table (weights not folded in)
    weights: np.ndarray  # (G, N) normalised block weights
    seconds: float
    steps: int


def block_weights(logits: torch.Tensor, gate: str) -> torch.Tensor:
    if gate == "sigmoid":
        return torch.sigmoid(logits)
    return logits.shape[1] * torch.softmax(logits, dim=1)


def refine_group(user: np.ndarray, item: np.ndarray, item_group: np.ndarray, n_groups: int,
                 n_blocks: int, train: Interactions, valid: Interactions,
                 config: PeelConfig) -> Refined:
    """``train``/``valid`` hold the group's events with users numbered 0..len(user)-1."""
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    u = torch.nn.Parameter(torch.from_numpy(np.array(user, dtype=np.float32)))
    v = torch.nn.Parameter(torch.from_numpy(np.array(item, dtype=np.float32)))
    init = INIT_LOGIT if config.gate == "sigmoid" else 0.0
    logits = torch.nn.Parameter(torch.full((n_groups, n_blocks), init))
    groups = torch.from_numpy(np.asarray(item_group, dtype=np.int64))
    share = torch.bincount(groups, minlength=n_groups).float() / (len(groups) * n_blocks)
    table_opt = torch.optim.Adam([u, v], lr=config.lr)
    weight_opt = torch.optim.Adam([logits], lr=config.weight_lr)
    train_sampler = BPRSampler.from_interactions(train)
    valid_sampler = BPRSampler.from_interactions(valid) if len(valid) else None
    steps = 0

    def subset_weights(w: torch.Tensor) -> torch.Tensor:
        return sample_block_masks(n_groups, n_blocks, gen).float() * w

    for _ in range(config.epochs):
        valid_batches = valid_sampler.epoch(config.batch_size, rng) if valid_sampler else None
        for batch in train_sampler.epoch(config.batch_size, rng):
            users, pos, neg = (torch.from_numpy(x) for x in batch)
            ue, pe, ne = u[users], v[pos], v[neg]
            gp, gn = groups[pos], groups[neg]
            w = block_weights(logits, config.gate).detach()
            loss = (_gated_bpr(ue, pe, ne, gp, gn, w)
                    + _gated_bpr(ue, pe, ne, gp, gn, subset_weights(w))
                    + config.l2 * l2_penalty(ue, pe, ne))
            table_opt.zero_grad()
            loss.backward()
            table_opt.step()
            steps += 1
            if valid_batches is None:
                continue
            batch = next(valid_batches, None)
            if batch is None:
                valid_batches = valid_sampler.epoch(config.batch_size, rng)
                batch = next(valid_batches)
            users, pos, neg = (torch.from_numpy(x) for x in batch)
            w = block_weights(logits, config.gate)
            loss = _gated_bpr(u[users].detach(), v[pos].detach(), v[neg].detach(), groups[pos],
                              groups[neg], subset_weights(w))
            if config.gate == "sigmoid" and config.cost > 0:
                loss = loss + config.cost * (w * share[:, None]).sum()
            weight_opt.zero_grad()
            loss.backward()
            weight_opt.step()
    with torch.no_grad():
        weights = block_weights(logits, config.gate).numpy().astype(np.float64)
    return Refined(user=u.detach().numpy().copy(), item=v.detach().numpy().copy(),
                   weights=weights, seconds=time.perf_counter() - t0, steps=steps)


def _gated_bpr(ue, pe, ne, gp, gn, w) -> torch.Tensor:
    """BPR on scores gated by ``w`` (G, N): each item uses its group's row."""
    return bpr_loss(masked_scores(ue, pe, w[gp]), masked_scores(ue, ne, w[gn]))
