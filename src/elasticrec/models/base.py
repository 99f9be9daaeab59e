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

    With ``cosine`` (models trained on cosine similarities, ``CCLObjective``), the final
    tables are L2-normalised rows, so that their dot product, which every ranking, package
    and device runtime computes, is the cosine the model was trained on.

    ``set_row_sizes`` gives every row its own width (SCALL): row r uses only its first
    ``sizes[r]`` positions, the rest are masked to zero in every pass (``ego_table``), so they
    neither score nor receive gradients.
    """

    n_users: int
    n_items: int
    embedding: nn.Parameter
    trainable = True  # False: nothing to train (the most-popular ranking)

    def __init__(self, n_users: int, n_items: int, dim: int, *, init_std: float = 0.1,
                 generator: torch.Generator, cosine: bool = False) -> None:
        super().__init__()
        if n_users < 0 or n_items < 0 or dim <= 0:
            raise ValueError(f"a model needs n_users, n_items >= 0 and dim > 0, "
                             f"got {n_users}, {n_items}, {dim}")
        self.n_users, self.n_items = n_users, n_items
        self.cosine = cosine
        self.embedding = nn.Parameter(
            torch.randn(n_users + n_items, dim, generator=generator) * init_std
        )
        self.row_mask: torch.Tensor | None = None  # (rows, dim) in table order, or None

    def table_rows(self) -> torch.Tensor:
        """The table row of every node (users, then items); the identity unless a model
        stores its table in another order."""
        return torch.arange(self.n_users + self.n_items)

    def set_row_sizes(self, sizes: np.ndarray | None) -> None:
        """Per-node widths (users, then items) in ``[0, dim]``; ``None``: every row full."""
        if sizes is None:
            self.row_mask = None
            return
        sizes = torch.as_tensor(np.asarray(sizes, dtype=np.int64))
        n, dim = self.embedding.shape
        if sizes.shape != (n,) or int(sizes.min()) < 0 or int(sizes.max()) > dim:
            raise ValueError(f"row sizes: {n} widths in [0, {dim}] are needed, got shape "
                             f"{tuple(sizes.shape)}")
        mask = torch.empty(n, dim)
        mask[self.table_rows()] = (torch.arange(dim) < sizes[:, None]).float()
        self.row_mask = mask

    def ego_table(self) -> torch.Tensor:
        """The ego table as the model uses it: masked to each row's width, if set."""
        return self.embedding if self.row_mask is None else self.embedding * self.row_mask

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

    def scored(self, users: torch.Tensor, items: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The final tables as they score: unit rows for a cosine model (a zero row stays
        zero), else as they are."""
        if not self.cosine:
            return users, items
        return torch.nn.functional.normalize(users, dim=1), torch.nn.functional.normalize(
            items, dim=1)


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
