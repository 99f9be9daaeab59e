"""SCALL's search inside a streaming run: budgets hold, the state keeps its length."""

import numpy as np

from elasticrec.models.config import ModelConfig
from elasticrec.scall.harness import StreamEnv, StreamTraining, run_stream
from elasticrec.scall.sac import SACConfig
from elasticrec.scall.search import ScallPolicy, ScallSchedule
from elasticrec.scall.state import state_length
from elasticrec.scall.stream import cuts_by_new_entities, segments, time_sorted
from toy_data import arriving_stream as stream


def test_scall_searches_after_each_segment_within_budget_with_a_fixed_state():
    rng = np.random.default_rng(0)
    inter = time_sorted(stream(rng, n=4000))
    segs = segments(inter, cuts_by_new_entities(inter, 80), np.random.default_rng(1))
    assert len(segs) >= 4
    d_max = 16
    schedule = ScallSchedule(reward_steps=3, min_steps=2, max_steps=4, groups=32)
    policy = ScallPolicy(d_max, schedule, SACConfig(hidden=16), seed=0)
    lengths = []
    state = policy.state
    policy.state = lambda view: lengths.append(len(s := state(view))) or s
    env = StreamEnv(inter, ModelConfig(model="mf", dim=d_max),
                    StreamTraining(epochs=2, batch_size=256), lambda n_u, n_i: 4 * 6 * (n_u + n_i))
    records = [r for r, _ in run_stream(env, segs, policy, dataset="toy", method="scall")]
    assert [r["segment"] for r in records] == list(range(len(segs)))
    assert all(r["package_bytes"] <= r["budget_bytes"] for r in records)
    assert set(lengths) == {state_length(d_max, 32)}
    searched = [r for r in records[:-1] if r["n_test"]]
    assert searched and all(2 <= r["search_steps"] <= 4 for r in searched)
    assert "search_steps" not in records[-1]  # nothing after the last segment to learn for
    assert all(len(r["action"]) == 3 for r in records[1:])
    assert policy.agent.replay.count == sum(r.get("search_steps", 0) for r in records)
