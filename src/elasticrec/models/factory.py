"""Builds the configured base model for a training set."""

from __future__ import annotations

import torch

from elasticrec.data.graph import normalized_adjacency
from elasticrec.data.interactions import Interactions
from elasticrec.models.base import Recommender
from elasticrec.models.config import ModelConfig
from elasticrec.models.lightgcn import LightGCN
from elasticrec.models.mf import MF


def build_model(config: ModelConfig, train: Interactions, seed: int) -> Recommender:
    gen = torch.Generator().manual_seed(seed)
    if config.model == "mf":
        return MF(train.n_users, train.n_items, config.dim, init_std=config.init_std,
                  generator=gen)
    return LightGCN(
        train.n_users, train.n_items, config.dim, normalized_adjacency(train),
        n_layers=config.n_layers, combine=config.combine, init_std=config.init_std,
        generator=gen,
    )
