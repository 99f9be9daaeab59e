import json

import numpy as np
import pytest
import torch

from elasticrec.data.graph import normalized_adjacency
from elasticrec.data.sampling import BPRSampler
from elasticrec.models.config import ModelConfig
from elasticrec.models.lightgcn import LightGCN
from elasticrec.models.mf import MF
from elasticrec.train.config import TrainConfig
from elasticrec.train.trainer import METRICS_FILE, Trainer
from toy_data import block_clusters


def hit_rate_in_block(model, train, test, items_per=10):
    """Share of users whose top-5 (train items excluded) all lie in their own block."""
    with torch.no_grad():
        uu, ii = model.final_embeddings()
    scores = (uu @ ii.T).numpy()
    scores[train.user, train.item] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :3]
    block_of_user = np.arange(train.n_users) // (train.n_users // 4)
    return float(np.mean(top // items_per == block_of_user[:, None]))


@pytest.mark.parametrize("kind", ["mf", "lightgcn"])
def test_models_learn_block_structure(kind):
    rng = np.random.default_rng(0)
    train, test = block_clusters(rng)
    gen = torch.Generator().manual_seed(0)
    if kind == "mf":
        model = MF(train.n_users, train.n_items, 8, generator=gen)
    else:
        model = LightGCN(train.n_users, train.n_items, 8, normalized_adjacency(train),
                         n_layers=2, generator=gen)
    before = hit_rate_in_block(model, train, test)
    cfg = TrainConfig(epochs=60, batch_size=64, lr=0.02, eval_every=0, seed=0)
    Trainer(model, BPRSampler.from_interactions(train), cfg).fit()
    after = hit_rate_in_block(model, train, test)
    assert before < 0.5
    assert after > 0.95


def _make(seed=0):
    rng = np.random.default_rng(seed)
    train, _ = block_clusters(rng)
    model = MF(train.n_users, train.n_items, 8, generator=torch.Generator().manual_seed(1))
    return model, BPRSampler.from_interactions(train)


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    cfg = TrainConfig(epochs=6, batch_size=32, lr=0.01, eval_every=0, seed=5)
    straight, sampler = _make()
    Trainer(straight, sampler, cfg, run_dir=tmp_path / "a").fit()

    interrupted, sampler = _make()
    Trainer(interrupted, sampler, TrainConfig(**{**cfg.__dict__, "epochs": 3}),
            run_dir=tmp_path / "b").fit()
    resumed, sampler = _make(seed=0)
    with torch.no_grad():  # a fresh model: resume must restore the weights, not rely on them
        resumed.user_emb.zero_()
    result = Trainer(resumed, sampler, cfg, run_dir=tmp_path / "b").fit(resume=True)
    assert result.epochs_run == 6
    torch.testing.assert_close(resumed.user_emb, straight.user_emb, rtol=0, atol=0)
    torch.testing.assert_close(resumed.item_emb, straight.item_emb, rtol=0, atol=0)
    lines = (tmp_path / "b" / METRICS_FILE).read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_a_changed_configuration(tmp_path):
    model, sampler = _make()
    Trainer(model, sampler, TrainConfig(epochs=1, eval_every=0), run_dir=tmp_path).fit()
    with pytest.raises(ValueError, match="changed: lr"):
        Trainer(model, sampler, TrainConfig(epochs=2, lr=0.5, eval_every=0),
                run_dir=tmp_path).fit(resume=True)


def test_early_stopping_restores_the_best_model():
    model, sampler = _make()
    calls = iter([0.5, 0.7, 0.6, 0.4, 0.3, 0.9])
    snapshots = []

    def validate(m):
        snapshots.append(m.user_emb.detach().clone())
        return {"recall@20": next(calls)}

    cfg = TrainConfig(epochs=10, batch_size=32, eval_every=1, patience=2)
    result = Trainer(model, sampler, cfg, validate=validate).fit()
    assert result.stopped_early and result.epochs_run == 4
    assert result.best_epoch == 2 and result.best_metric == 0.7
    torch.testing.assert_close(model.user_emb, snapshots[1], rtol=0, atol=0)


def test_configs_name_the_bad_field():
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="metric='recall@10'"):
        TrainConfig(metric="recall@10", ks=(20,))
    with pytest.raises(ValueError, match="model='svd'"):
        ModelConfig(model="svd")


def test_learning_rate_decays_per_epoch_down_to_its_floor():
    model, sampler = _make()
    cfg = TrainConfig(epochs=4, batch_size=64, lr=0.1, lr_decay=0.5, lr_min=0.02, eval_every=0)
    trainer = Trainer(model, sampler, cfg)
    result = trainer.fit()
    assert [h["lr"] for h in result.history] == pytest.approx([0.1, 0.05, 0.025, 0.02])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.02)


def test_learning_rate_halves_after_a_validation_without_gain_down_to_its_floor():
    model, sampler = _make()
    scores = iter([0.5, 0.4, 0.6, 0.6, 0.3, 0.2])
    cfg = TrainConfig(epochs=6, batch_size=64, lr=0.08, lr_plateau=0.5, lr_min=0.015,
                      lr_plateau_patience=1, eval_every=1, patience=0)
    result = Trainer(model, sampler, cfg, validate=lambda m: {"recall@20": next(scores)}).fit()
    # epochs 2, 4 (a tie is no gain), 5 and 6 do not improve: the rate after each is halved
    assert [h["lr"] for h in result.history] == pytest.approx(
        [0.08, 0.08, 0.04, 0.04, 0.02, 0.015])


def test_with_plateau_patience_the_rate_halves_only_after_that_many_validations_in_a_row():
    model, sampler = _make()
    scores = iter([0.5, 0.4, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    cfg = TrainConfig(epochs=8, batch_size=64, lr=0.08, lr_plateau=0.5, eval_every=1,
                      patience=0)  # lr_plateau_patience 2, the default
    result = Trainer(model, sampler, cfg, validate=lambda m: {"recall@20": next(scores)}).fit()
    # epoch 2 alone is no plateau (epoch 3 improves); epochs 4-7 are four in a row: two halvings
    assert [h["lr"] for h in result.history] == pytest.approx(
        [0.08, 0.08, 0.08, 0.08, 0.08, 0.04, 0.04, 0.02])


def test_resume_continues_at_the_rate_plateaus_left(tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=64, lr=0.08, lr_plateau=0.5, eval_every=1,
                      lr_plateau_patience=1, patience=0)
    scores = [0.5, 0.4, 0.3, 0.2]
    straight, sampler = _make()
    calls = iter(scores)
    expected = Trainer(straight, sampler, cfg, validate=lambda m: {"recall@20": next(calls)},
                       run_dir=tmp_path / "a").fit()
    model, sampler = _make()
    calls = iter(scores)
    Trainer(model, sampler, TrainConfig(**{**cfg.__dict__, "epochs": 2}),
            validate=lambda m: {"recall@20": next(calls)}, run_dir=tmp_path / "b").fit()
    resumed, sampler = _make()
    rest = iter(scores[2:])
    result = Trainer(resumed, sampler, cfg, validate=lambda m: {"recall@20": next(rest)},
                     run_dir=tmp_path / "b").fit(resume=True)
    assert [h["lr"] for h in expected.history] == pytest.approx([0.08, 0.08, 0.04, 0.02])
    assert [h["lr"] for h in result.history] == [h["lr"] for h in expected.history]


def test_a_start_metric_keeps_the_starting_model_until_an_epoch_beats_it():
    model, sampler = _make()
    start = model.user_emb.detach().clone()
    cfg = TrainConfig(epochs=3, batch_size=32, eval_every=1, patience=0)
    result = Trainer(model, sampler, cfg, validate=lambda m: {"recall@20": 0.5},
                     start_metric=0.6).fit()
    assert result.best_epoch == 0 and result.best_metric == 0.6 and result.epochs_run == 3
    torch.testing.assert_close(model.user_emb, start, rtol=0, atol=0)
    beaten, sampler = _make()
    calls = iter([0.5, 0.7, 0.65])
    result = Trainer(beaten, sampler, cfg, validate=lambda m: {"recall@20": next(calls)},
                     start_metric=0.6).fit()
    assert result.best_epoch == 2 and result.best_metric == 0.7
