"""SCALL's learned sizing policy (METHODS.md 2.7-2.8): a Soft Actor-Critic agent picks the
size sampler's action from a fixed-length state.

After segment t has been trained and measured, the policy is updated on it (the released
code does this at the start of t + 1 on ``t``'s data: the same computation). Each search step:

1. state -> a stochastic action ``(w, a_u, a_i)`` -> sizes under the budget, the largest to
   the segment's most frequent users and items;
2. a fresh model (no warm start) with those sizes trains ``reward_steps`` steps on the
   segment's current rows and is measured on its test rows: fitness = (Recall@20 + NDCG@20)/2;
3. reward ``r = fitness / probe``, where ``probe`` is the deployed (warm-started) model's
   fitness after the same number of steps; the agent stores ``10 (r - low) / (high - low)``
   and takes ``updates_per_step`` gradient steps; the raw ``r`` enters the next state.

The search stops after at least ``min_steps`` steps once the deterministic user share ``w``
has moved by at most ``tolerance`` over the last ``stable_window`` steps (or at
``max_steps``). Segment t + 1 then gets the deterministic action of its own state. Segment 0
has uniform sizes. The agent and its replay persist over the whole stream.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from elasticrec.checks import check
from elasticrec.scall.harness import SegmentData, StreamEnv, fitness, masked_table
from elasticrec.scall.policies import SegmentView, on_vocabulary, uniform_sizes
from elasticrec.scall.sac import SAC, SACConfig
from elasticrec.scall.sampler import D_MIN, assign_by_frequency, sizes_from_action
from elasticrec.scall.state import FIRST_REWARD, GROUPS, build_state, size_range, state_length


@dataclass(frozen=True)
class ScallSchedule:
    """How much search each segment gets. The default is the CPU schedule; ``released()`` is
    the authors' (200-step reward models, at least 11 steps, 5 stable)."""

    reward_steps: int = 100
    min_steps: int = 6
    stable_window: int = 3
    tolerance: float = 0.01
    max_steps: int = 16
    updates_per_step: int = 3
    reward_window: tuple[float, float] = (0.9, 1.1)  # released: (0.7, 1.2) for Yelp
    groups: int = GROUPS

    def __post_init__(self) -> None:
        check(self.reward_steps > 0, "reward_steps", self.reward_steps, "a positive integer")
        check(1 <= self.min_steps <= self.max_steps, "min_steps/max_steps",
              (self.min_steps, self.max_steps), "1 <= min_steps <= max_steps")
        check(self.stable_window >= 2, "stable_window", self.stable_window, "an integer >= 2")
        low, high = self.reward_window
        check(low < high, "reward_window", self.reward_window, "(low, high) with low < high")
        check(self.groups > 0, "groups", self.groups, "a positive integer")

    @classmethod
    def released(cls) -> ScallSchedule:
        return cls(reward_steps=200, min_steps=11, stable_window=5, max_steps=100)

    def to_json(self) -> dict:
        return {**asdict(self), "reward_window": list(self.reward_window)}


class ScallPolicy:
    """The harness's ``SizePolicy`` for SCALL."""

    def __init__(self, d_max: int, schedule: ScallSchedule | None = None,
                 sac: SACConfig | None = None, *, seed: int = 0, d_min: int = D_MIN,
                 log=lambda _msg: None) -> None:
        schedule = schedule or ScallSchedule()
        self.schedule, self.d_max, self.d_min, self.log = schedule, d_max, d_min, log
        self.agent = SAC(state_length(d_max, schedule.groups), sac or SACConfig(seed=seed))
        self.rng = np.random.default_rng(seed)
        self.probe_steps = schedule.reward_steps
        self.last_reward = FIRST_REWARD
        self.ranges = (0.0, 0.0)
        gen = np.random.default_rng(seed)  # the released initial mean embedding: N(0, 0.01)
        self.mean_rows = (gen.normal(0, 0.01, d_max), gen.normal(0, 0.01, d_max))

    def state(self, view: SegmentView) -> np.ndarray:
        return build_state(view.user_freq[view.known_users], view.item_freq[view.known_items],
                           self.last_reward, *self.mean_rows, *self.ranges,
                           groups=self.schedule.groups)

    def sizes_for(self, action: np.ndarray, view: SegmentView
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Per-entity sizes for ``action``: sampled under the budget, ranked by frequency."""
        n_u, n_i = int(view.known_users.sum()), int(view.known_items.sum())
        users, items = sizes_from_action(action, n_u, n_i, view.total_params, self.rng,
                                         d_min=self.d_min, d_max=self.d_max)
        self.ranges = (size_range(users, self.d_min, self.d_max),
                       size_range(items, self.d_min, self.d_max))
        return tuple(on_vocabulary(known, assign_by_frequency(sorted_sizes, freq[known]))
                     for known, freq, sorted_sizes in (
                         (view.known_users, view.user_freq, users),
                         (view.known_items, view.item_freq, items)))

    def sizes(self, data: SegmentData) -> tuple[np.ndarray, np.ndarray, dict]:
        if data.segment.index == 0:
            return (*uniform_sizes(data.view, self.d_max), {})
        action = self.agent.act(self.state(data.view), explore=False)
        return (*self.sizes_for(action, data.view),
                {"action": [round(float(a), 4) for a in action]})

    def learn(self, env: StreamEnv, data: SegmentData, net, probe: dict | None) -> dict:
        """Update the agent on the segment just trained; what the search did."""
        t0 = time.perf_counter()
        view = data.view
        table = masked_table(net)
        self.mean_rows = (table[:view.known_users.size][view.known_users].mean(axis=0),
                          table[view.known_users.size:][view.known_items].mean(axis=0))
        denominator = fitness(probe) if probe else 0.0
        if data.test is None or denominator <= 0:
            self.log(f"segment {data.segment.index}: no search (no test rows or a zero "
                     "probe fitness to compare with)")
            return {"search_steps": 0, "search_seconds": 0.0}
        sch = self.schedule
        low, high = sch.reward_window
        state = self.state(view)
        shares, rewards = [], []
        for step in range(1, sch.max_steps + 1):
            action = self.agent.act(state, explore=True)
            users, items = self.sizes_for(action, view)
            model, _ = env.train(data, np.concatenate([users, items]), sch.reward_steps)
            reward = fitness(env.evaluate(model, data)) / denominator
            self.last_reward = reward
            following = self.state(view)
            self.agent.remember(state, action, 10 * (reward - low) / (high - low), following)
            for _ in range(sch.updates_per_step):
                self.agent.learn()
            state = following
            rewards.append(reward)
            shares.append(float(self.agent.act(state, explore=False)[0]))
            recent = shares[-sch.stable_window:]
            if (step >= sch.min_steps and len(recent) == sch.stable_window
                    and np.abs(np.diff(recent)).max() <= sch.tolerance):
                break
        action = self.agent.act(state, explore=False)
        self.log(f"segment {data.segment.index}: search {len(rewards)} steps, reward "
                 f"{np.mean(rewards):.3f} (last {rewards[-1]:.3f}), action "
                 f"w={action[0]:.3f} a_u={action[1]:.3f} a_i={action[2]:.3f}")
        return {"search_steps": len(rewards), "search_reward": float(np.mean(rewards)),
                "probe_fitness": denominator, "search_seconds": time.perf_counter() - t0}
