"""MF: a user and an item embedding table, scored by dot product (or cosine)."""

from __future__ import annotations

import torch

from elasticrec.models.base import BatchEmbeddings, Recommender


class MF(Recommender):
    def forward(self, users: torch.Tensor, items: torch.Tensor) -> BatchEmbeddings:
        idx = torch.cat([users, items + self.n_users])
        rows = self.embedding[idx]
        if self.row_mask is not None:
            rows = rows * self.row_mask[idx]
        u, i = rows[: len(users)], rows[len(users) :]
        return BatchEmbeddings(u, i, u, i)

    @torch.no_grad()
    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        table = self.ego_table().detach()
        return self.scored(table[: self.n_users].clone(), table[self.n_users :].clone())
