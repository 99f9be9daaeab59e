"""The distributed helpers, in one process: the environment mapping, batch shares, task owners,
sharded sampling, and that world size 1 is today's single-process path."""

import numpy as np
import pytest

from elasticrec.data.sampling import BPRSampler, Shard, batch_share
from elasticrec.train.distributed import (
    SINGLE,
    DistContext,
    PeerFailure,
    all_gather_objects,
    all_mean,
    broadcast_object,
    collectives,
    from_environment,
    gather_objects,
    owners,
    rank_generator,
    shared_generator,
)
from toy_data import block_clusters

TORCHRUN_ENV = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.7",
                "MASTER_PORT": "29500", "TORCHELASTIC_USE_AGENT_STORE": "True"}


def test_environment_mapping_is_read_as_torchrun_writes_it():
    assert from_environment({}) is SINGLE
    assert from_environment({"WORLD_SIZE": "1", "RANK": "0"}) is SINGLE
    ctx = from_environment(TORCHRUN_ENV)
    assert (ctx.rank, ctx.world_size, ctx.local_rank) == (3, 4, 1)
    assert (ctx.master_addr, ctx.master_port, ctx.agent_store) == ("10.0.0.7", 29500, True)
    assert not ctx.is_writer and ctx.is_distributed
    assert SINGLE.is_writer and not SINGLE.is_distributed


@pytest.mark.parametrize(("env", "message"), [
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "1"}, "MASTER_ADDR is not set"),
    ({**TORCHRUN_ENV, "WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({**TORCHRUN_ENV, "RANK": "4"}, r"rank=4 is not allowed: an integer in \[0, 4\)"),
])
def test_a_bad_environment_fails_with_one_line_naming_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        from_environment(env)


def test_helpers_at_world_size_one_touch_no_process_group():
    obj = {"a": [1, 2]}
    assert broadcast_object(SINGLE, obj) is obj
    assert all_gather_objects(SINGLE, obj) == [obj] and gather_objects(SINGLE, obj) == [obj]
    assert all_mean(SINGLE, 0.25) == 0.25
    assert np.array_equal(rank_generator(7, SINGLE).random(5),
                          np.random.default_rng(7).random(5))


def test_ranks_draw_independent_streams_and_share_one():
    ranks = [DistContext(rank=r, world_size=3) for r in range(3)]
    draws = [rank_generator(7, ctx).random(4) for ctx in ranks]
    assert len({tuple(d) for d in draws}) == 3
    assert not np.array_equal(draws[0], np.random.default_rng(7).random(4))
    assert np.array_equal(shared_generator(7).random(4), shared_generator(7).random(4))


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 65])
def test_batch_shares_tile_the_batch_and_every_rank_steps(world, n):
    shares = [batch_share(n, r, world) for r in range(world)]
    assert all(count >= 1 and 0 <= offset and offset + count <= n for offset, count in shares)
    if n >= world:
        covered = np.concatenate([np.arange(o, o + c) for o, c in shares])
        assert np.array_equal(covered, np.arange(n))
        assert max(c for _, c in shares) - min(c for _, c in shares) <= 1


def test_owners_balance_the_work_deterministically():
    costs = [10, 1, 7, 3, 3, 9, 2]
    owner = owners(costs, 3)
    loads = np.bincount(owner, weights=costs, minlength=3)
    assert loads.max() - loads.min() <= max(costs) and loads.sum() == sum(costs)
    assert np.array_equal(owner, owners(costs, 3))
    assert np.array_equal(owners(costs, 1), np.zeros(7, dtype=np.int64))


def _sampler():
    train, _ = block_clusters(np.random.default_rng(0))
    return BPRSampler.from_interactions(train)


def test_ranks_together_draw_every_pair_once_per_epoch_in_pairs_mode():
    sampler = _sampler()
    world, batch = 3, 50
    epochs = [list(sampler.epoch(batch, rank_generator(1, DistContext(rank=r, world_size=world)),
                                 "pairs", shard=Shard(r, world, shared_generator(1))))
              for r in range(world)]
    assert len({len(e) for e in epochs}) == 1 and len(epochs[0]) == sampler.n_batches(batch)
    single = list(sampler.epoch(batch, np.random.default_rng(1), "pairs"))
    for step, whole in enumerate(single):
        parts = [e[step] for e in epochs]
        assert sum(len(p[0]) for p in parts) == len(whole[0])
    keys = np.concatenate([u * sampler.n_items + i for e in epochs for u, i, _ in e])
    assert np.array_equal(np.sort(keys), np.sort(sampler.keys))  # every pair exactly once
    for e in epochs:
        for users, _, neg in e:
            clash = np.isin(users * sampler.n_items + neg, sampler.keys)
            assert not clash.any()


def test_ranks_draw_their_share_of_each_user_uniform_batch():
    sampler = _sampler()
    shards = [list(sampler.epoch(64, rank_generator(2, DistContext(rank=r, world_size=2)),
                                 shard=Shard(r, 2, shared_generator(2)))) for r in range(2)]
    single = list(sampler.epoch(64, np.random.default_rng(2)))
    assert [len(a[0]) + len(b[0]) for a, b in zip(*shards, strict=True)] == [
        len(s[0]) for s in single]
    assert not np.array_equal(shards[0][0][0], shards[1][0][0])  # own streams, own triples


def test_shard_checks_its_rank():
    with pytest.raises(ValueError, match="rank=2 is not in"):
        Shard(2, 2, shared_generator(0))


def test_a_lost_peer_becomes_one_line_and_other_errors_pass_through():
    ctx = DistContext(rank=0, world_size=2)
    with pytest.raises(PeerFailure, match=r"^rank 0 of 2: training: another process of the job "
                       r"failed \(Read error \[127.0.0.1\]:1: Connection reset by peer\); "
                       r"restart the job with --resume"):
        with collectives(ctx, "training"):
            raise RuntimeError("[/src/gloo/transport/tcp/pair.cc:537] Read error "
                               "[127.0.0.1]:1: Connection reset by peer. This is typically")
    with pytest.raises(RuntimeError, match=r"^a bug$"), collectives(ctx, "training"):
        raise RuntimeError("a bug")


def test_an_elastic_run_resumes_exactly_with_its_block_subset_stream(tmp_path):
    """The elastic objective's generator is in the checkpoint: resuming continues its stream."""
    import torch

    from elasticrec.elastic.objective import ElasticBPR
    from elasticrec.models.mf import MF
    from elasticrec.train.config import TrainConfig
    from elasticrec.train.trainer import Trainer

    train, _ = block_clusters(np.random.default_rng(0))
    sampler = BPRSampler.from_interactions(train)

    def run(epochs, out, resume=False):
        model = MF(train.n_users, train.n_items, 8, generator=torch.Generator().manual_seed(1))
        objective = ElasticBPR(item_group=torch.arange(train.n_items) % 2, n_groups=2,
                               n_blocks=4, generator=torch.Generator().manual_seed(9))
        cfg = TrainConfig(epochs=epochs, batch_size=32, lr=0.01, eval_every=0, seed=5)
        Trainer(model, sampler, cfg, run_dir=out, objective=objective).fit(resume=resume)
        return model

    straight = run(4, tmp_path / "a")
    run(2, tmp_path / "b")
    resumed = run(4, tmp_path / "b", resume=True)
    torch.testing.assert_close(resumed.embedding, straight.embedding, rtol=0, atol=0)
