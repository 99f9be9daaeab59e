"""The Soft Actor-Critic agent: valid actions, recency-weighted replay, and it learns."""

import numpy as np
import pytest
import torch

from elasticrec.scall.sac import SAC, Actor, Replay, SACConfig


def test_actions_lie_in_the_unit_cube_and_log_probs_match_the_squashed_gaussian():
    actor = Actor(5, 16)
    state = torch.randn(4000, 5)
    gen = torch.Generator().manual_seed(0)
    action, log_prob = actor.sample(state, gen)
    assert action.shape == (4000, 3) and ((action >= 0) & (action <= 1)).all()
    # change of variables: a = 0.5 tanh(x) + 0.5, so log p(a) = log N(x) - log|da/dx|
    mean, log_std = actor(state)
    x = torch.atanh((2 * action - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    normal = torch.distributions.Normal(mean, log_std.exp())
    expected = (normal.log_prob(x) - torch.log(0.5 * (1 - torch.tanh(x) ** 2) + 1e-6)).sum(-1)
    close = (2 * action - 1).abs().max(-1).values < 0.999  # away from tanh's flat ends
    assert torch.allclose(log_prob[close], expected[close], atol=1e-3)


def test_replay_prefers_recent_transitions_and_never_repeats_one_in_a_batch():
    replay = Replay(2, capacity=50)
    for k in range(80):  # wraps: the 30 oldest are overwritten
        replay.add(np.full(2, k), np.zeros(3), float(k), np.zeros(2))
    assert len(replay) == 50 and set(replay.reward.astype(int)) == set(range(30, 80))
    rng = np.random.default_rng(0)
    drawn = [replay.sample(8, rng) for _ in range(2000)]
    assert all(len(set(b)) == 8 for b in drawn)
    counts = np.bincount(np.concatenate(drawn), minlength=50)
    newest, oldest = int(np.argmax(replay.stamp)), int(np.argmin(replay.stamp))
    assert counts[newest] > 5 * counts[oldest]


@pytest.mark.parametrize("sign", [1, -1])
def test_the_agent_learns_which_way_the_reward_grows(sign):
    """One state; the reward grows with the first action value (or falls): the deterministic
    action must move to that end, and the other values, which do not matter, need not."""
    agent = SAC(4, SACConfig(hidden=64, gamma=0.5, actor_lr=1e-3, critic_lr=3e-3, seed=0))
    state = np.ones(4, dtype=np.float32)
    for _ in range(150):
        action = agent.act(state, explore=True)
        agent.remember(state, action, sign * 10 * action[0], state)
        for _ in range(3):
            losses = agent.learn()
    after = agent.act(state, explore=False)[0]
    assert (after > 0.9) if sign > 0 else (after < 0.1)
    assert np.isfinite(list(losses.values())).all()
    tensors = agent.tensors()
    assert tensors["replay.reward"].shape == (150,) and "actor.mean.weight" in tensors
