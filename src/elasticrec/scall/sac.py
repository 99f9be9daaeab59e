"""The Soft Actor-Critic agent that picks SCALL's size-sampler action (METHODS.md 2.7).

* Actor: state -> 512 -> 512 (ReLU) -> a Gaussian's mean and log std (clamped to [-20, 2])
  per action value; the action is ``0.5 tanh(x) + 0.5`` in [0, 1], its log-probability
  corrected for the squashing; the deterministic action squashes the mean.
* Critics: two Q networks (state and action -> 512 -> 512 -> 1) and a target copy updated
  softly (tau 0.005); no target actor.
* Fixed temperature 0.2, discount 0.99, no terminal states; Adam with weight decay 1e-4 (actor
  2e-4 with gradient-norm clipping at 1, critics 3e-4); Xavier-uniform weights, zero biases.
* Replay: 10,000 transitions kept for the whole stream, sampled without replacement with
  probability proportional to recency (``i + 1`` for the i-th stored), one at a time while 12
  or fewer are stored, then 8.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from elasticrec.checks import check

N_ACTION = 3  # (user share, user alpha, item alpha)


@dataclass(frozen=True)
class SACConfig:
    hidden: int = 512
    actor_lr: float = 2e-4
    critic_lr: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    gamma: float = 0.99
    tau: float = 0.005
    temperature: float = 0.2
    capacity: int = 10_000
    batch_size: int = 8
    single_until: int = 12  # batch of one while this many or fewer transitions are stored
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.hidden > 0, "hidden", self.hidden, "a positive integer")
        check(0 < self.gamma < 1, "gamma", self.gamma, "a number in (0, 1)")
        check(0 < self.tau <= 1, "tau", self.tau, "a number in (0, 1]")
        check(self.temperature >= 0, "temperature", self.temperature, "a number >= 0")
        check(self.capacity > 0 and self.batch_size > 0, "capacity/batch_size",
              (self.capacity, self.batch_size), "positive integers")

    def to_json(self) -> dict:
        return asdict(self)


def _mlp(n_in: int, hidden: int, n_out: int | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                               nn.ReLU()]
    if n_out is not None:
        layers.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*layers)


def _xavier(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class Actor(nn.Module):
    def __init__(self, n_state: int, hidden: int) -> None:
        super().__init__()
        self.body = _mlp(n_state, hidden, None)
        self.mean = nn.Linear(hidden, N_ACTION)
        self.log_std = nn.Linear(hidden, N_ACTION)
        _xavier(self)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(state)
        return self.mean(h), self.log_std(h).clamp(-20.0, 2.0)

    def sample(self, state: torch.Tensor, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(actions in [0, 1], their log-probabilities), reparameterised."""
        mean, log_std = self(state)
        std = log_std.exp()
        noise = torch.randn(mean.shape, generator=generator)
        x = mean + std * noise
        squashed = torch.tanh(x)
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * np.log(2 * np.pi)
                    - torch.log(0.5 * (1 - squashed.pow(2)) + 1e-6))
        return 0.5 * squashed + 0.5, log_prob.sum(dim=-1)

    def deterministic(self, state: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.tanh(self(state)[0]) + 0.5


class TwinCritic(nn.Module):
    def __init__(self, n_state: int, hidden: int) -> None:
        super().__init__()
        self.q1 = _mlp(n_state + N_ACTION, hidden, 1)
        self.q2 = _mlp(n_state + N_ACTION, hidden, 1)
        _xavier(self)

    def forward(self, state: torch.Tensor, action: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([state, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class Replay:
    """Transitions (state, action, reward, next state), oldest overwritten past capacity."""

    def __init__(self, n_state: int, capacity: int) -> None:
        self.state = np.zeros((capacity, n_state), dtype=np.float32)
        self.next_state = np.zeros((capacity, n_state), dtype=np.float32)
        self.action = np.zeros((capacity, N_ACTION), dtype=np.float32)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.stamp = np.zeros(capacity, dtype=np.int64)  # insertion number, for recency
        self.count = 0

    def __len__(self) -> int:
        return min(self.count, len(self.reward))

    def add(self, state: np.ndarray, action: np.ndarray, reward: float,
            next_state: np.ndarray) -> None:
        slot = self.count % len(self.reward)
        self.state[slot], self.action[slot] = state, action
        self.reward[slot], self.next_state[slot] = reward, next_state
        self.stamp[slot] = self.count
        self.count += 1

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Slots drawn without replacement, the i-th stored with weight ``i + 1``."""
        n = len(self)
        weight = (self.stamp[:n] - self.stamp[:n].min() + 1).astype(np.float64)
        return rng.choice(n, size=min(batch_size, n), replace=False, p=weight / weight.sum())


class SAC:
    """The agent: ``act`` chooses, ``remember`` stores, ``learn`` takes one gradient step."""

    def __init__(self, n_state: int, config: SACConfig | None = None) -> None:
        config = self.config = config or SACConfig()
        with torch.random.fork_rng():  # Xavier init draws from the global generator
            torch.manual_seed(config.seed)
            self.actor = Actor(n_state, config.hidden)
            self.critic = TwinCritic(n_state, config.hidden)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr,
                                          weight_decay=config.weight_decay)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr,
                                           weight_decay=config.weight_decay)
        self.replay = Replay(n_state, config.capacity)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.updates = 0

    @torch.no_grad()
    def act(self, state: np.ndarray, *, explore: bool) -> np.ndarray:
        s = torch.from_numpy(np.asarray(state, dtype=np.float32))[None]
        if explore:
            return self.actor.sample(s, self.generator)[0][0].numpy().astype(np.float64)
        return self.actor.deterministic(s)[0].numpy().astype(np.float64)

    def remember(self, state: np.ndarray, action: np.ndarray, reward: float,
                 next_state: np.ndarray) -> None:
        self.replay.add(state, action, reward, next_state)

    def learn(self) -> dict[str, float]:
        """One critic and one actor step on a recency-weighted batch; the losses."""
        cfg = self.config
        batch = cfg.batch_size if len(self.replay) > cfg.single_until else 1
        idx = self.replay.sample(batch, self.rng)
        s, a, r, s2 = (torch.from_numpy(x[idx]) for x in (
            self.replay.state, self.replay.action, self.replay.reward, self.replay.next_state))
        with torch.no_grad():
            a2, logp2 = self.actor.sample(s2, self.generator)
            y = r + cfg.gamma * (torch.min(*self.target(s2, a2)) - cfg.temperature * logp2)
        q1, q2 = self.critic(s, a)
        critic_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        new, logp = self.actor.sample(s, self.generator)
        actor_loss = (cfg.temperature * logp - torch.min(*self.critic(s, new))).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
        self.actor_opt.step()

        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.target.parameters(), strict=True):
                tp.mul_(1 - cfg.tau).add_(p, alpha=cfg.tau)
        self.updates += 1
        return {"critic_loss": float(critic_loss.detach()),
                "actor_loss": float(actor_loss.detach())}

    def tensors(self) -> dict[str, np.ndarray]:
        """The networks and the replay, for the run directory."""
        out = {f"{name}.{k}": v.detach().numpy().copy()
               for name, net in (("actor", self.actor), ("critic", self.critic),
                                 ("target", self.target))
               for k, v in net.state_dict().items()}
        n = len(self.replay)
        for k in ("state", "action", "reward", "next_state", "stamp"):
            out[f"replay.{k}"] = getattr(self.replay, k)[:n].copy()
        return out
