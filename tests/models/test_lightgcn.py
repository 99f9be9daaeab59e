import numpy as np
import pytest
import scipy.sparse as sp
import torch

from elasticrec.data.graph import normalized_adjacency
from elasticrec.data.interactions import Interactions
from elasticrec.models.lightgcn import LightGCN
from elasticrec.models.mf import MF
from elasticrec.models.propagation import Propagator


def reference_final_embeddings(
    user_emb: np.ndarray, item_emb: np.ndarray, adjacency: sp.csr_matrix, n_layers: int,
    combine: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Straightforward full propagation, for tests of the fast paths."""
    e = np.concatenate([user_emb, item_emb]).astype(np.float64)
    layers = [e]
    for _ in range(n_layers):
        layers.append(adjacency.astype(np.float64) @ layers[-1])
    out = np.concatenate(layers, axis=1) if combine == "concat" else np.mean(layers, axis=0)
    return out[: len(user_emb)], out[len(user_emb) :]


def random_interactions(rng, n_users=13, n_items=17, n=60):
    return Interactions(
        user=rng.integers(0, n_users, n), item=rng.integers(0, n_items, n),
        n_users=n_users, n_items=n_items,
    )


def test_normalized_adjacency_is_symmetric_and_matches_formula():
    rng = np.random.default_rng(0)
    inter = random_interactions(rng)
    adj = normalized_adjacency(inter).toarray()
    r = inter.to_csr().toarray()
    a = np.block([[np.zeros((13, 13)), r], [r.T, np.zeros((17, 17))]])
    d = a.sum(1)
    with np.errstate(divide="ignore"):
        dinv = np.where(d > 0, 1 / np.sqrt(d), 0.0)
    np.testing.assert_allclose(adj, dinv[:, None] * a * dinv[None, :], rtol=1e-6)
    np.testing.assert_allclose(adj, adj.T)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_propagator_matches_scipy(threads):
    rng = np.random.default_rng(1)
    adj = normalized_adjacency(random_interactions(rng, 40, 50, 400))
    x = rng.standard_normal((90, 8)).astype(np.float32)
    out = Propagator(adj, n_threads=threads).matmul(x)
    np.testing.assert_allclose(out, adj @ x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers", [0, 1, 3])
@pytest.mark.parametrize("combine", ["mean", "concat"])
def test_lightgcn_batch_embeddings_and_gradients_match_dense_reference(layers, combine):
    rng = np.random.default_rng(2)
    inter = random_interactions(rng)
    adj = normalized_adjacency(inter)
    model = LightGCN(13, 17, 4, adj, n_layers=layers, combine=combine,
                     generator=torch.Generator().manual_seed(0))
    users = torch.tensor([0, 3, 3, 12])
    items = torch.tensor([1, 16, 1, 5, 0])
    u, i, u0, i0 = model(users, items)

    # Dense reference with torch autograd end to end.
    e0 = torch.cat([model.user_emb, model.item_emb]).detach().double().requires_grad_(True)
    a = torch.from_numpy(adj.toarray()).double()
    hs = [e0]
    for _ in range(layers):
        hs.append(a @ hs[-1])
    full = torch.cat(hs, 1) if combine == "concat" else torch.stack(hs).mean(0)
    ref_u, ref_i = full[users], full[13 + items]
    torch.testing.assert_close(u.double(), ref_u, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(i.double(), ref_i, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(u0, model.user_emb[users])
    torch.testing.assert_close(i0, model.item_emb[items])

    weights_u = torch.randn(u.shape, generator=torch.Generator().manual_seed(1))
    weights_i = torch.randn(i.shape, generator=torch.Generator().manual_seed(2))
    ((u * weights_u).sum() + (i * weights_i).sum()).backward()
    ((ref_u * weights_u.double()).sum() + (ref_i * weights_i.double()).sum()).backward()
    grad = model.embedding.grad[model.table_row].double()
    torch.testing.assert_close(grad, e0.grad, rtol=1e-5, atol=1e-6)

    fu, fi = model.final_embeddings()
    rfu, rfi = reference_final_embeddings(model.user_emb.detach().numpy(),
                                          model.item_emb.detach().numpy(), adj, layers, combine)
    np.testing.assert_allclose(fu.numpy(), rfu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fi.numpy(), rfi, rtol=1e-5, atol=1e-6)
    assert fu.shape[1] == model.output_dim


def test_lightgcn_rejects_bad_arguments():
    adj = sp.csr_matrix((5, 5), dtype=np.float32)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="adjacency shape"):
        LightGCN(2, 2, 4, adj, generator=gen)
    with pytest.raises(ValueError, match="combine"):
        LightGCN(2, 3, 4, adj, combine="sum", generator=gen)


def test_mf_embeds_rows_and_is_seeded():
    a = MF(5, 7, 3, generator=torch.Generator().manual_seed(4))
    b = MF(5, 7, 3, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a.user_emb, b.user_emb)
    u, i, _, _ = a(torch.tensor([4, 0]), torch.tensor([6]))
    torch.testing.assert_close(u, a.user_emb[[4, 0]])
    torch.testing.assert_close(i, a.item_emb[[6]])


def test_reordered_table_trains_like_the_original_numbering():
    from elasticrec.data.sampling import BPRSampler
    from elasticrec.train.config import TrainConfig
    from elasticrec.train.trainer import Trainer

    rng = np.random.default_rng(5)
    inter = random_interactions(rng, 30, 40, 300)
    adj = normalized_adjacency(inter)
    models = [LightGCN(30, 40, 8, adj, generator=torch.Generator().manual_seed(0),
                       reorder=reorder) for reorder in (False, True)]
    assert not torch.equal(models[0].embedding, models[1].embedding)  # stored differently
    torch.testing.assert_close(models[0].user_emb, models[1].user_emb, rtol=0, atol=0)
    torch.testing.assert_close(models[0].item_emb, models[1].item_emb, rtol=0, atol=0)
    for model in models:
        Trainer(model, BPRSampler.from_interactions(inter),
                TrainConfig(epochs=3, batch_size=32, lr=0.01, eval_every=0)).fit()
    for a, b in zip(models[0].final_embeddings(), models[1].final_embeddings(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
