"""Builds the configured base model for a training set."""

from __future__ import annotations

import numpy as np
import torch

from elasticrec.data.graph import normalized_adjacency
from elasticrec.data.interactions import Interactions
from elasticrec.models.base import Recommender
from elasticrec.models.config import ModelConfig
from elasticrec.models.lightgcn import LightGCN
from elasticrec.models.mf import MF
from elasticrec.models.mixed import item_widths
from elasticrec.models.pop import Popularity
from elasticrec.models.qr import QRMF


def build_model(config: ModelConfig, train: Interactions, seed: int, *,
                cosine: bool = False) -> Recommender:
    """``cosine``: the model scores by cosine (trained with ``CCLObjective``)."""
    if config.model == "pop":
        return Popularity(train.n_users, train.n_items,
                          np.bincount(train.item, minlength=train.n_items))
    gen = torch.Generator().manual_seed(seed)
    if config.model == "mf" and config.qr_buckets:
        if cosine:
            raise ValueError("qr_buckets: a compositional item table is trained with BPR "
                             "(a cosine model's normalised rows are not products of two)")
        return QRMF(train.n_users, train.n_items, config.dim, config.qr_buckets,
                    init_std=config.init_std_for(cosine), generator=gen)
    if config.model == "mf":
        model = MF(train.n_users, train.n_items, config.dim,
                   init_std=config.init_std_for(cosine), generator=gen, cosine=cosine)
        if config.item_widths:  # mixed dimensions by training popularity (models/mixed.py)
            widths = item_widths(np.bincount(train.item, minlength=train.n_items),
                                 config.item_widths)
            model.set_row_sizes(np.concatenate([np.full(train.n_users, config.dim), widths]))
        return model
    return LightGCN(
        train.n_users, train.n_items, config.dim, normalized_adjacency(train),
        n_layers=config.n_layers, combine=config.combine, init_std=config.init_std_for(cosine),
        generator=gen, cosine=cosine,
    )
