"""QR-MF: items are quotient x remainder rows; the BPR trainer trains it; ``fit`` keeps its
factors beside the composed table; the options that cannot hold a compositional table are
refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import elasticrec
from elasticrec.data.sampling import BPRSampler
from elasticrec.models.config import ModelConfig
from elasticrec.models.losses import BPRObjective
from elasticrec.models.qr import QRMF
from elasticrec.train.config import TrainConfig
from elasticrec.train.trainer import Trainer
from toy_data import block_clusters, clustered


def model(n_users=6, n_items=11, dim=4, buckets=3, seed=0) -> QRMF:
    return QRMF(n_users, n_items, dim, buckets, generator=torch.Generator().manual_seed(seed))


def test_items_are_the_products_of_their_quotient_and_remainder_rows():
    net = model()
    assert net.quotient.shape == (4, 4) and net.remainder.shape == (3, 4)  # ceil(11 / 3)
    users, items = net.final_embeddings()
    assert users.shape == (6, 4) and items.shape == (11, 4)
    for i in range(11):
        torch.testing.assert_close(items[i], net.quotient[i // 3] * net.remainder[i % 3])
    batch = net(torch.tensor([0, 5]), torch.tensor([10, 0, 4]))
    torch.testing.assert_close(batch.item, items[[10, 0, 4]])
    torch.testing.assert_close(batch.user, users[[0, 5]])
    assert batch.item_ego is batch.item  # L2 falls on the composed rows, as MF's on its rows
    q, r = net.factors()
    torch.testing.assert_close(q, net.quotient.detach())
    torch.testing.assert_close(r, net.remainder.detach())
    # each factor starts at N(0, sqrt(0.1)), so products spread about as MF's N(0, 0.1)
    big = model(n_users=1, n_items=40_000, dim=16, buckets=200)
    assert 0.08 < float(big.final_embeddings()[1].std()) < 0.12


def test_a_bpr_step_moves_only_the_rows_of_the_batch():
    net = model()
    before = net.quotient.detach().clone(), net.remainder.detach().clone()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    users, items = torch.tensor([1]), torch.tensor([4, 9])  # item 4 = (1, 1), 9 = (3, 0)
    BPRObjective(1e-3)(net(users, items), users, items).backward()
    opt.step()
    moved_q = (net.quotient.detach() != before[0]).any(1).nonzero().ravel().tolist()
    moved_r = (net.remainder.detach() != before[1]).any(1).nonzero().ravel().tolist()
    assert moved_q == [1, 3] and moved_r == [0, 1]


def test_bad_buckets_are_refused():
    with pytest.raises(ValueError, match=r"qr_buckets=0 is not allowed: an int in \[1, "
                                         r"n_items=11\]"):
        model(buckets=0)
    with pytest.raises(ValueError, match="qr_buckets=12 is not allowed"):
        model(buckets=12)
    with pytest.raises(ValueError, match="no item rows of their own"):
        model().set_row_sizes(np.ones(17, dtype=np.int64))


def in_block_share(net, train, items_per=10) -> float:
    """Share of each user's top 3 (training items left out) in the user's own block."""
    users, items = net.final_embeddings()
    scores = (users @ items.T).numpy()
    scores[train.user, train.item] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :3]
    block = np.arange(train.n_users) // (train.n_users // 4)
    return float(np.mean(top // items_per == block[:, None]))


def test_the_trainer_learns_block_structure_with_a_compositional_table():
    train, _ = block_clusters(np.random.default_rng(0))
    net = QRMF(train.n_users, train.n_items, 8, 5, generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(epochs=60, batch_size=64, lr=0.02, eval_every=0, seed=0)
    Trainer(net, BPRSampler.from_interactions(train), cfg).fit()
    assert in_block_share(net, train) > 0.9


def test_config_keeps_its_json_without_qr_buckets_and_refuses_it_off_mf():
    assert "qr_buckets" not in ModelConfig(model="mf").to_json()
    assert ModelConfig(model="mf", qr_buckets=4).to_json()["qr_buckets"] == 4
    with pytest.raises(elasticrec.ConfigError, match="qr_buckets=4 is not allowed: 0 for "
                                                     "model 'lightgcn'"):
        ModelConfig(model="lightgcn", qr_buckets=4)
    with pytest.raises(elasticrec.ConfigError, match="qr_buckets=-1 is not allowed"):
        ModelConfig(model="mf", qr_buckets=-1)


@pytest.mark.parametrize(("options", "message"), [
    (dict(method="rule"), "method 'rule' needs a full item table"),
    (dict(loss="ccl", epochs=1), "trains with loss 'bpr'"),
])
def test_fit_refuses_what_a_compositional_table_cannot_do(options, message, tmp_path):
    with pytest.raises(elasticrec.ElasticrecError, match=message):
        elasticrec.fit(clustered(), model="mf", qr_buckets=4, out=tmp_path / "run",
                       progress=False, log=lambda _m: None, **options)
    assert not (tmp_path / "run").exists()


def test_fit_keeps_the_factors_whose_products_are_the_item_table(tmp_path):
    run = elasticrec.fit(clustered(), model="mf", qr_buckets=8, epochs=2, dim=8,
                         eval_every=0, valid_ratio=0.0, lr=1e-2, l2=1e-3, seed=0,
                         out=tmp_path / "run", progress=False, log=lambda _m: None)
    again = elasticrec.load_run(tmp_path / "run")
    f = again.qr_factors
    assert f.buckets == 8 and f.quotient.shape == (20, 8)
    np.testing.assert_array_equal(f.items(np.arange(160)), again.embeddings.item)
    assert run.result["qr_buckets"] == 8 and again.config["model"]["qr_buckets"] == 8
    assert (tmp_path / "run" / "qr.safetensors").is_file()
    (tmp_path / "run" / "qr.safetensors").unlink()
    with pytest.raises(elasticrec.ElasticrecError, match=r"qr\.safetensors: missing"):
        elasticrec.load_run(tmp_path / "run")
