"""How a RULE run trains: its item groups and its elastic objective, built from the configs."""

from __future__ import annotations

import numpy as np
import torch

from elasticrec.data.interactions import Interactions
from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.groups import id_range_groups, popularity_groups
from elasticrec.elastic.objective import ElasticBPR
from elasticrec.train.config import TrainConfig


def elastic_groups(config: ElasticConfig, train: Interactions) -> np.ndarray:
    """The item group of every item, by training popularity or by id range."""
    if config.grouping == "popularity":
        counts = np.bincount(train.item, minlength=train.n_items)
        return popularity_groups(counts, config.n_groups)
    return id_range_groups(train.n_items, config.n_groups)


def elastic_objective(config: ElasticConfig, item_group: np.ndarray,
                      train_config: TrainConfig) -> ElasticBPR:
    return ElasticBPR(
        item_group=torch.from_numpy(item_group), n_groups=config.n_groups,
        n_blocks=config.n_blocks, l2=train_config.l2, diversity=config.diversity,
        diversity_form=config.diversity_form, rescale=config.rescale,
        sizes=config.subset_sizes,
        generator=torch.Generator().manual_seed(train_config.seed + 1),
    )
