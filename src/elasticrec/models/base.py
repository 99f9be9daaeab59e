"""The contract every base recommender honours. Models score; nothing here trains."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn


class BatchEmbeddings(NamedTuple):
    """What one training step needs, computed in one pass: final and ego (layer-0) rows."""

    user: torch.Tensor
    item: torch.Tensor
    user_ego: torch.Tensor
    item_ego: torch.Tensor


class Recommender(nn.Module):
    """Users and items as embeddings; the score of (u, i) is the dot product of the two.

    One parameter table ``embedding`` holds the ego (layer-0) rows of all users followed by all
    items; ``user_emb`` and ``item_emb`` are views of it. The embeddings a model scores with
    (``final_embeddings``) may be derived from it (LightGCN propagates them over the graph).
    """

    n_users: int
    n_items: int
    embedding: nn.Parameter

    def __init__(self, n_users: int, n_items: int, dim: int, *, init_std: float = 0.1,
                 generator: torch.Generator) -> None:
        super().__init__()
        if n_users < 0 or n_items < 0 or dim <= 0:
            raise ValueError(f"a model needs n_users, n_items >= 0 and dim > 0, "
                             f"got {n_users}, {n_items}, {dim}")
        self.n_users, self.n_items = n_users, n_items
        self.embedding = nn.Parameter(
            torch.randn(n_users + n_items, dim, generator=generator) * init_std
        )

    @property
    def user_emb(self) -> torch.Tensor:
        return self.embedding[: self.n_users]

    @property
    def item_emb(self) -> torch.Tensor:
        return self.embedding[self.n_users :]

    @property
    def output_dim(self) -> int:
        return self.embedding.shape[1]

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> BatchEmbeddings:
        """Final and ego embeddings of the given users and items (rows in the order given)."""
        raise NotImplementedError

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The full final user and item tables, without gradients (for ranking and export)."""
        raise NotImplementedError


def gather_nodes(ids: torch.Tensor, n_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted unique node ids among ``ids`` and each id's position among them.

    A marker array over all nodes replaces a sort: O(n_nodes + batch) and several times faster
    than ``torch.unique`` for the batch sizes used in training.
    """
    ids_np = ids.numpy()
    mark = np.zeros(n_nodes, dtype=bool)
    mark[ids_np] = True
    nodes = np.flatnonzero(mark)
    position = np.cumsum(mark, dtype=np.int64) - 1
    return torch.from_numpy(nodes), torch.from_numpy(position[ids_np])
