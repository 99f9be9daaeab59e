"""Per-row widths (SCALL): masked positions never score and never learn."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from elasticrec.models.lightgcn import LightGCN
from elasticrec.models.mf import MF


def graph(n_users, n_items, rng):
    r = (rng.random((n_users, n_items)) < 0.3).astype(np.float32)
    a = sp.bmat([[None, sp.csr_matrix(r)], [sp.csr_matrix(r.T), None]]).tocsr()
    deg = np.asarray(a.sum(1)).ravel()
    d = sp.diags(np.power(deg, -0.5, where=deg > 0, out=np.zeros_like(deg)))
    return sp.csr_matrix(d @ a @ d)


@pytest.mark.parametrize("kind", ["mf", "lightgcn"])
def test_masked_positions_neither_score_nor_learn(kind):
    rng = np.random.default_rng(0)
    n_users, n_items, dim = 6, 9, 8
    gen = torch.Generator().manual_seed(0)
    model = (MF(n_users, n_items, dim, generator=gen) if kind == "mf" else
             LightGCN(n_users, n_items, dim, graph(n_users, n_items, rng), generator=gen))
    sizes = rng.integers(0, dim + 1, n_users + n_items)
    model.set_row_sizes(sizes)
    users, items = torch.arange(n_users), torch.arange(n_items)
    emb = model(users, items[:n_users])
    (emb.user * emb.item).sum().backward()
    grad = model.embedding.grad[model.table_rows()]  # node order
    masked = torch.from_numpy(np.arange(dim) >= sizes[:, None])
    assert (grad[masked] == 0).all() and (grad[~masked] != 0).any()
    with torch.no_grad():
        ref = model.embedding[model.table_rows()] * (~masked).float()
        model.set_row_sizes(None)
        model.embedding[model.table_rows()] = ref  # the same values, zeros beyond each width
    u_plain, i_plain = model.final_embeddings()
    model.set_row_sizes(sizes)
    u_masked, i_masked = model.final_embeddings()
    torch.testing.assert_close(u_masked, u_plain)
    torch.testing.assert_close(i_masked, i_plain)
    if kind == "mf":
        assert (u_masked[masked[:n_users]] == 0).all()
    with pytest.raises(ValueError, match="widths"):
        model.set_row_sizes(np.full(n_users + n_items, dim + 1))
