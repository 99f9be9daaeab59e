"""LightGCN: embeddings smoothed over the user-item graph, layers combined by mean or concat.

``E^(k+1) = A E^(k)`` with the symmetric normalised adjacency ``A``; the final embedding
combines layers 0..K by their mean (LightGCN) or their concatenation (the released PEEL code).

Training only needs the final embeddings of the batch's users and items, so the last layer is
computed for those rows alone (``A[rows] @ E^(K-1)``); layers 1..K-1 are computed for all
nodes. With K = 3 this needs four full sparse products per step (two forward, two backward)
instead of six, and gives exactly the same values and gradients (tested against a dense
reference).

The embedding table is stored in the graph's reverse Cuthill-McKee order, which keeps each
node's neighbours close in memory: the sparse products run about 1.6-1.9x faster on gowalla
than in the dataset's own numbering. Rows keep their initial values whatever the order;
``final_embeddings``, ``user_emb`` and ``item_emb`` speak the original ids.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import reverse_cuthill_mckee

from elasticrec.models.base import BatchEmbeddings, Recommender, gather_nodes
from elasticrec.models.propagation import Propagator, propagate, propagate_rows

Combine = Literal["mean", "concat"]


class LightGCN(Recommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        adjacency: sp.csr_matrix,
        *,
        n_layers: int = 3,
        combine: Combine = "mean",
        init_std: float = 0.1,
        generator: torch.Generator,
        cosine: bool = False,
        n_threads: int | None = None,
        reorder: bool = True,
    ) -> None:
        super().__init__(n_users, n_items, dim, init_std=init_std, generator=generator,
                         cosine=cosine)
        if adjacency.shape != (n_users + n_items, n_users + n_items):
            raise ValueError(
                f"LightGCN: adjacency shape {adjacency.shape} does not match "
                f"{n_users} users + {n_items} items"
            )
        if n_layers < 0:
            raise ValueError(f"LightGCN: n_layers must be >= 0, got {n_layers}")
        if combine not in ("mean", "concat"):
            raise ValueError(f"LightGCN: combine must be 'mean' or 'concat', got {combine!r}")
        self.n_layers, self.combine = n_layers, combine
        n = n_users + n_items
        order = (reverse_cuthill_mckee(sp.csr_matrix(adjacency), symmetric_mode=True)
                 if reorder else np.arange(n)).astype(np.int64)
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        self.table_row = torch.from_numpy(position)  # original node id -> embedding table row
        with torch.no_grad():
            self.embedding.copy_(self.embedding[torch.from_numpy(order)])
        internal = sp.csr_matrix(adjacency)[order][:, order]
        self.propagator = Propagator(sp.csr_matrix(internal), n_threads)

    def table_rows(self) -> torch.Tensor:
        return self.table_row

    @property
    def user_emb(self) -> torch.Tensor:
        return self.embedding[self.table_row[: self.n_users]]

    @property
    def item_emb(self) -> torch.Tensor:
        return self.embedding[self.table_row[self.n_users :]]

    @property
    def output_dim(self) -> int:
        d = self.embedding.shape[1]
        return d * (self.n_layers + 1) if self.combine == "concat" else d

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> BatchEmbeddings:
        nodes, inverse = gather_nodes(self.table_row[torch.cat([users, items + self.n_users])],
                                      len(self.embedding))
        e0 = self.ego_table()
        ego = e0[nodes]
        if self.n_layers == 0:
            out = ego
        else:
            rows = self.propagator.rows(nodes.numpy())
            h = e0
            if self.combine == "mean":
                # E^K[nodes] = A[nodes] E^(K-1) and the same holds for every layer, so the
                # mean of layers 0..K at the batch's rows is (E0 + A[nodes] sum_{k<K} E^k)/(K+1).
                acc = e0
                for _ in range(self.n_layers - 1):
                    h = propagate(h, self.propagator)
                    acc = acc + h
                out = (ego + propagate_rows(acc, rows)) / (self.n_layers + 1)
            else:
                selected = [ego]
                for _ in range(self.n_layers - 1):
                    h = propagate(h, self.propagator)
                    selected.append(h[nodes])
                selected.append(propagate_rows(h, rows))
                out = torch.cat(selected, dim=1)
        n = len(users)
        out, ego = out[inverse], ego[inverse]
        return BatchEmbeddings(out[:n], out[n:], ego[:n], ego[n:])

    @torch.no_grad()
    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = self.ego_table().detach()
        layers = [ego]
        h = ego.numpy()
        for _ in range(self.n_layers):
            h = self.propagator.matmul(h)
            layers.append(torch.from_numpy(h))
        out = torch.cat(layers, dim=1) if self.combine == "concat" else torch.stack(layers).mean(0)
        out = out[self.table_row]
        return self.scored(out[: self.n_users], out[self.n_users :])
