"""The elastic training objective: every subset of blocks must rank well (RULE, PEEL).

Each step draws one random non-empty block subset per item group (``sample_block_masks``);
each positive and negative item is scored with its group's subset, and BPR is taken on those
scores as well as on the full embeddings, plus the L2 penalty and the diversity regulariser
on the batch's positive items. METHODS.md decision 3: training must make every subset usable,
since selection for a budget happens later, without gradient steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from elasticrec.elastic.blocks import (
    SubsetSizes,
    block_width,
    masked_scores,
    sample_block_masks,
)
from elasticrec.elastic.diversity import DiversityForm, diversity_penalty
from elasticrec.models.base import BatchEmbeddings
from elasticrec.models.losses import bpr_loss, l2_penalty


@dataclass(eq=False)
class ElasticBPR:
    item_group: torch.Tensor  # (n_items,) group id of every item
    n_groups: int
    n_blocks: int
    l2: float = 1e-4
    diversity: float = 1e-5  # weight of the diversity regulariser (0: off)
    diversity_form: DiversityForm = "consecutive"
    p_full: float = 0.0  # chance that a group trains with all its blocks in the subset pass
    rescale: bool = False  # score a subset by N/|S| times its dot product
    sizes: SubsetSizes = "uniform"  # how subset sizes are drawn (see sample_block_masks)
    generator: torch.Generator | None = None

    def __call__(self, emb: BatchEmbeddings, users: torch.Tensor,
                 items: torch.Tensor) -> torch.Tensor:
        n_pos = len(users)
        block_width(emb.item.shape[1], self.n_blocks)
        gen = self.generator if self.generator is not None else torch.default_generator
        masks = sample_block_masks(self.n_groups, self.n_blocks, gen, self.p_full, self.sizes)
        pos_items, neg_items = emb.item[:n_pos], emb.item[n_pos:]
        groups = self.item_group[items]
        pos_mask, neg_mask = masks[groups[:n_pos]], masks[groups[n_pos:]]
        full = bpr_loss((emb.user * pos_items).sum(1), (emb.user * neg_items).sum(1))
        subset = bpr_loss(masked_scores(emb.user, pos_items, pos_mask, rescale=self.rescale),
                          masked_scores(emb.user, neg_items, neg_mask, rescale=self.rescale))
        loss = full + subset
        if self.l2 > 0:
            loss = loss + self.l2 * l2_penalty(emb.user_ego, emb.item_ego[:n_pos],
                                               emb.item_ego[n_pos:])
        if self.diversity > 0:
            loss = loss + self.diversity * diversity_penalty(pos_items, self.n_blocks,
                                                             self.diversity_form)
        return loss
