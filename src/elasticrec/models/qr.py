"""QR-MF: MF whose item table is compositional (the quotient-remainder trick).

Shi et al., "Compositional Embeddings Using Complementary Partitions for Memory-Efficient
Recommendation Systems" (KDD 2020): item ``i`` is the element-wise product of row ``i // m``
of a quotient table ``Q`` (``ceil(n_items / m)`` rows) and row ``i % m`` of a remainder
table ``R`` (``m`` rows), the paper's default ``mult`` operation. Two items share a vector
only if they share both rows, which the two complementary partitions never allow, so every
item keeps a distinct vector from ``m + ceil(n / m)`` rows instead of ``n``. Users keep a full
table. Item ids are split as given (the paper's choice); nothing reorders them first.

Each factor starts from N(0, sqrt(init_std)), so that an item vector (a product of two)
starts with about the spread of MF's N(0, init_std) rows. The L2 penalty of the objectives
falls on the composed item vectors (``BatchEmbeddings.item_ego``), as it falls on MF's item
rows: a recipe's ``l2`` means the same for both models.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from elasticrec.models.base import BatchEmbeddings, Recommender


def quotient_rows(n_items: int, buckets: int) -> int:
    """Rows of the quotient table: ``ceil(n_items / buckets)``."""
    return -(-n_items // buckets)


class QRMF(Recommender):
    """Users as a full table (``embedding``, users only), items as ``quotient[i // m] *
    remainder[i % m]`` with ``m = buckets``."""

    def __init__(self, n_users: int, n_items: int, dim: int, buckets: int, *,
                 init_std: float = 0.1, generator: torch.Generator,
                 cosine: bool = False) -> None:
        if isinstance(buckets, bool) or not isinstance(buckets, int) or not (
                1 <= buckets <= max(n_items, 1)):
            raise ValueError(f"qr_buckets={buckets!r} is not allowed: an int in [1, "
                             f"n_items={n_items}]")
        super().__init__(n_users, 0, dim, init_std=init_std, generator=generator,
                         cosine=cosine)
        self.n_items, self.buckets = n_items, buckets
        std = math.sqrt(init_std)
        self.quotient = nn.Parameter(
            torch.randn(quotient_rows(n_items, buckets), dim, generator=generator) * std)
        self.remainder = nn.Parameter(torch.randn(buckets, dim, generator=generator) * std)

    def set_row_sizes(self, sizes) -> None:
        if sizes is not None:
            raise ValueError("QR-MF has no item rows of their own to size")

    def items(self, items: torch.Tensor) -> torch.Tensor:
        """The composed vectors of item rows ``items``."""
        return self.quotient[items // self.buckets] * self.remainder[items % self.buckets]

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> BatchEmbeddings:
        u, i = self.embedding[users], self.items(items)
        return BatchEmbeddings(u, i, u, i)

    @torch.no_grad()
    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.items(torch.arange(self.n_items)).detach()
        return self.scored(self.embedding.detach().clone(), items)

    @torch.no_grad()
    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The trained quotient and remainder tables (what a qr package ships)."""
        return self.quotient.detach().clone(), self.remainder.detach().clone()
