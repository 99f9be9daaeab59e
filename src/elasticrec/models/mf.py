"""BPR-MF: a user and an item embedding table, scored by dot product."""

from __future__ import annotations

import torch

from elasticrec.models.base import BatchEmbeddings, Recommender


class MF(Recommender):
    def forward(self, users: torch.Tensor, items: torch.Tensor) -> BatchEmbeddings:
        rows = self.embedding[torch.cat([users, items + self.n_users])]
        u, i = rows[: len(users)], rows[len(users) :]
        return BatchEmbeddings(u, i, u, i)

    @torch.no_grad()
    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.detach().clone(), self.item_emb.detach().clone()
