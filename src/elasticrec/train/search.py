"""Choosing the learning rate and L2 weight on validation: successive halving in a time budget.

Every pair of the grid (``SearchConfig``) starts as a trial (its own model and optimiser).
Rung 0 trains every trial ``r0`` epochs and scores it on the validation split; the best
``1/eta`` go on to ``eta`` times as many epochs, and so on until one trial is left (Jamieson
and Talwalkar, 2016). ``r0`` is the largest number of epochs that fits the plan in the budget,
from the first trial's measured epoch and validation times; when even one epoch per trial does
not fit, the grid is cut to the pairs nearest its centre. The winner keeps its weights and
optimiser state, and training continues from them (``pipeline.fit``).

Only the validation scores that ``validate`` returns are read: the test split is never seen.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from elasticrec.checks import check
from elasticrec.models.base import Recommender
from elasticrec.train.config import TrainConfig
from elasticrec.train.trainer import Evaluator, Trainer

# The grids, by loss: Adam learning rates, and L2 weights on the batch's ego rows.
LR_GRID = (1e-3, 3e-3, 1e-2)
L2_GRID = {"bpr": (1e-5, 1e-4, 1e-3), "ccl": (1e-6, 1e-5, 1e-4)}
DEFAULT_BUDGET_SECONDS = 600.0  # 10 minutes


@dataclass(frozen=True)
class SearchConfig:
    budget_seconds: float = DEFAULT_BUDGET_SECONDS  # wall time for the whole search
    lrs: tuple[float, ...] = LR_GRID
    l2s: tuple[float, ...] = field(default=L2_GRID["ccl"])
    eta: int = 3  # keep the best 1/eta of the trials at every rung
    max_epochs: int = 27  # the most epochs a trial trains within the search

    def __post_init__(self) -> None:
        check(self.budget_seconds > 0, "search_budget", self.budget_seconds,
              "a positive duration (e.g. 90s, 10m, 1h)")
        check(len(self.lrs) > 0 and all(x > 0 for x in self.lrs), "lrs", self.lrs,
              "positive learning rates")
        check(len(self.l2s) > 0 and all(x >= 0 for x in self.l2s), "l2s", self.l2s,
              "L2 weights >= 0")
        check(self.eta >= 2, "eta", self.eta, "an integer >= 2")
        check(self.max_epochs >= 1, "max_epochs", self.max_epochs, "a positive integer")

    def grid(self) -> list[tuple[float, float]]:
        """Every (lr, l2), nearest the grid's centre first (the order a cut keeps)."""
        pairs = [(i, j) for i in range(len(self.lrs)) for j in range(len(self.l2s))]
        ci, cj = (len(self.lrs) - 1) / 2, (len(self.l2s) - 1) / 2
        pairs.sort(key=lambda p: (abs(p[0] - ci) + abs(p[1] - cj), p))
        return [(self.lrs[i], self.l2s[j]) for i, j in pairs]

    def to_json(self) -> dict:
        return {**asdict(self), "lrs": list(self.lrs), "l2s": list(self.l2s)}


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or ``90s``, ``10m``, ``1.5h``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(value))
    if match is None:
        raise ValueError(f"search_budget={value!r} is not allowed: a duration such as 90s, "
                         "10m or 1h (a bare number is seconds)")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@dataclass
class Trial:
    lr: float
    l2: float
    trainer: Trainer
    rng: np.random.Generator
    epochs: int = 0
    scores: list[dict] = field(default_factory=list)  # {"epochs", metric} at each rung

    @property
    def model(self) -> Recommender:
        return self.trainer.model

    def train_to(self, epochs: int) -> None:
        while self.epochs < epochs:
            self.epochs += 1
            self.trainer.train_epoch(self.epochs, self.rng)

    def record(self) -> dict:
        return {"lr": self.lr, "l2": self.l2, "epochs": self.epochs, "rungs": self.scores}


@dataclass(frozen=True)
class SearchResult:
    winner: Trial
    trials: list[Trial]
    r0: int
    seconds: float

    def report(self, config: SearchConfig, metric: str) -> dict:
        return {"lr": self.winner.lr, "l2": self.winner.l2, "epochs": self.winner.epochs,
                "metric": metric, "best": self.winner.scores[-1][metric]
                if self.winner.scores else None, "r0": self.r0,
                "seconds": self.seconds, "config": config.to_json(),
                "trials": [t.record() for t in self.trials]}


def rung_plan(n: int, r0: int, eta: int) -> list[tuple[int, int]]:
    """(trials, epochs each has trained by the rung's end) of every rung; after the last,
    one trial is left (it trains on after the search, so no rung is spent on it alone)."""
    plan = []
    while n > 1:
        plan.append((n, r0))
        n, r0 = math.ceil(n / eta), r0 * eta
    return plan


def plan_cost(n: int, r0: int, eta: int, epoch_s: float, eval_s: float) -> float:
    """Seconds a plan takes, at ``epoch_s`` per epoch and ``eval_s`` per validation."""
    cost, done = 0.0, 0
    for trials, epochs in rung_plan(n, r0, eta):
        cost += trials * ((epochs - done) * epoch_s + eval_s)
        done = epochs
    return cost


def choose_plan(config: SearchConfig, epoch_s: float, eval_s: float,
                horizon: int) -> tuple[int, int]:
    """(trials, r0): the most trials (up to the grid), then the most epochs ``r0``, whose
    plan fits the budget, no trial training more than ``horizon`` epochs."""
    eta = config.eta
    for n in range(len(config.lrs) * len(config.l2s), 1, -1):
        rungs = len(rung_plan(n, 1, eta))
        r_max = max(1, horizon // eta ** (rungs - 1))
        fits = [r0 for r0 in range(1, r_max + 1)
                if plan_cost(n, r0, eta, epoch_s, eval_s) <= config.budget_seconds]
        if fits:
            return n, fits[-1]
    return 1, 1


def successive_halving(
    config: SearchConfig, base: TrainConfig, make_model: Callable[[], Recommender],
    make_trainer: Callable[[Recommender, TrainConfig], Trainer], validate: Evaluator,
    *, horizon: int, log: Callable[[str], None] = lambda _m: None,
) -> SearchResult:
    """Successive halving over ``config``'s grid; ``base`` gives every other training field.

    ``make_model`` builds a fresh model (the same seed for every trial), ``make_trainer``
    a trainer for it; ``validate`` scores a model on validation (``base.metric`` decides).
    """
    t_start = time.perf_counter()
    metric = base.metric
    grid = config.grid()
    seed = base.seed

    def new_trial(lr: float, l2: float) -> Trial:
        cfg = replace(base, lr=lr, l2=l2)
        return Trial(lr, l2, make_trainer(make_model(), cfg), np.random.default_rng(seed))

    def score(trial: Trial) -> float:
        trial.model.eval()
        value = float(validate(trial.model)[metric])
        trial.scores.append({"epochs": trial.epochs, metric: value})
        return value

    first = new_trial(*grid[0])
    t0 = time.perf_counter()
    first.train_to(1)
    t1 = time.perf_counter()
    score(first)
    epoch_s, eval_s = t1 - t0, time.perf_counter() - t1
    spent = time.perf_counter() - t_start
    n, r0 = choose_plan(replace(config, budget_seconds=max(config.budget_seconds - spent,
                                                           1e-9)),
                        epoch_s, eval_s, horizon)
    log(f"search: {n} of {len(grid)} (lr, l2) pairs, {r0} epoch(s) at rung 0 "
        f"({epoch_s:.1f}s per epoch, {eval_s:.1f}s per validation, budget "
        f"{config.budget_seconds:.0f}s)")
    trials = [first] + [new_trial(*pair) for pair in grid[1:n]]
    alive = trials
    for rung, (_count, epochs) in enumerate(rung_plan(n, r0, config.eta)):
        values = []
        for trial in alive:
            if not (trial.scores and trial.scores[-1]["epochs"] == epochs):
                trial.train_to(epochs)
                score(trial)
            values.append(trial.scores[-1][metric])
        order = np.argsort(-np.asarray(values), kind="stable")
        log(f"search rung {rung}: {epochs} epoch(s): " + ", ".join(
            f"lr {alive[i].lr:g} l2 {alive[i].l2:g} {metric} {values[i]:.4f}" for i in order))
        alive = [alive[i] for i in order[: math.ceil(len(alive) / config.eta)]]
    winner = alive[0]
    for trial in trials:  # free the other trials' tables
        if trial is not winner:
            trial.trainer = None  # type: ignore[assignment]
    return SearchResult(winner=winner, trials=trials, r0=r0,
                        seconds=time.perf_counter() - t_start)
