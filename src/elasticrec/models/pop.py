"""The most-popular ranking as a model: every user gets the items with most training events.

Its tables are one column wide: every user's row is ``1`` and every item's row its score,
``log(1 + training events)``, so the dot product that every ranking, package and device
runtime computes is the popularity order (the logarithm keeps the scores in a narrow range,
which quantised packages keep apart better than raw counts). Nothing is trained.
"""

from __future__ import annotations

import numpy as np
import torch

from elasticrec.models.base import BatchEmbeddings, Recommender


class Popularity(Recommender):
    trainable = False

    def __init__(self, n_users: int, n_items: int, item_counts: np.ndarray) -> None:
        super().__init__(n_users, n_items, 1, generator=torch.Generator().manual_seed(0))
        counts = np.asarray(item_counts, dtype=np.float64)
        if counts.shape != (n_items,) or np.any(counts < 0):
            raise ValueError(f"Popularity: {n_items} item counts >= 0 are needed, got shape "
                             f"{counts.shape}")
        with torch.no_grad():
            self.embedding[:n_users] = 1.0
            self.embedding[n_users:, 0] = torch.from_numpy(np.log1p(counts).astype(np.float32))
        self.embedding.requires_grad_(False)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> BatchEmbeddings:
        u, i = self.embedding[users], self.embedding[items + self.n_users]
        return BatchEmbeddings(u, i, u, i)

    @torch.no_grad()
    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embedding[: self.n_users].clone(), self.embedding[self.n_users :].clone()
