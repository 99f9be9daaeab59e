"""Choosing the learning rate and L2 weight on validation: successive halving in a CPU-time budget.

Every pair of the grid (``SearchConfig``, ``train.halving``) starts as a trial (its own model
and optimiser). Rung 0 trains every trial ``r0`` epochs and scores it on the validation split;
the best ``1/eta`` go on to ``eta`` times as many epochs, and so on until one trial is left.
When the whole grid fits the budget trained as long as halving's last rung would be,
every trial trains that long and they are compared once (no halving). Else ``r0`` is the
largest number of epochs that fits the plan in the budget, from the first trial's measured
epoch and validation times; when even one epoch per trial does not fit, the grid is cut to
the pairs nearest its centre. The
winner keeps its weights and optimiser state, and training continues from them
(``pipeline.fit``).

Only the validation scores that ``validate`` returns are read: the test split is never seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from elasticrec.models.base import Recommender
from elasticrec.train.config import TrainConfig
from elasticrec.train.halving import SearchConfig, choose_plan, rung_plan
from elasticrec.train.trainer import Evaluator, Trainer


@dataclass
class Trial:
    loss: str
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
        return {"loss": self.loss, "lr": self.lr, "l2": self.l2, "epochs": self.epochs,
                "rungs": self.scores}


@dataclass(frozen=True)
class SearchResult:
    winner: Trial
    trials: list[Trial]
    r0: int
    eta: int
    seconds: float  # wall time
    cpu_seconds: float  # what the budget counts

    def report(self, config: SearchConfig, metric: str) -> dict:
        return {"loss": self.winner.loss, "lr": self.winner.lr, "l2": self.winner.l2,
                "epochs": self.winner.epochs,
                "metric": metric, "best": self.winner.scores[-1][metric]
                if self.winner.scores else None, "r0": self.r0,
                "eta": self.eta, "seconds": self.seconds,
                "cpu_seconds": self.cpu_seconds, "config": config.to_json(),
                "trials": [t.record() for t in self.trials]}


def successive_halving(
    config: SearchConfig, base: TrainConfig, make_model: Callable[[str], Recommender],
    make_trainer: Callable[[Recommender, TrainConfig], Trainer], validate: Evaluator,
    *, horizon: int, log: Callable[[str], None] = lambda _m: None,
) -> SearchResult:
    """Successive halving over ``config``'s grid; ``base`` gives every other training field.

    ``make_model(loss)`` builds a fresh model for a loss (the same seed for every trial),
    ``make_trainer``
    a trainer for it; ``validate`` scores a model on validation (``base.metric`` decides).
    """
    t_start = time.perf_counter()
    metric = base.metric
    grid = config.grid()
    seed = base.seed

    def new_trial(loss: str, lr: float, l2: float) -> Trial:
        cfg = replace(base, loss=loss, lr=lr, l2=l2)
        return Trial(loss, lr, l2, make_trainer(make_model(loss), cfg),
                     np.random.default_rng(seed))

    def score(trial: Trial) -> float:
        trial.model.eval()
        value = float(validate(trial.model)[metric])
        trial.scores.append({"epochs": trial.epochs, metric: value})
        return value

    first = new_trial(*grid[0])
    # the plan is made in CPU seconds of this process, so that other jobs on the machine
    # change how long the search takes, not what it chooses
    c_start = time.process_time()
    first.train_to(1)
    c1 = time.process_time()
    score(first)
    epoch_s, eval_s = c1 - c_start, time.process_time() - c1
    spent = time.process_time() - c_start
    n, r0, eta = choose_plan(replace(config, budget_seconds=max(
        config.budget_seconds - spent, 1e-9)), epoch_s, eval_s, horizon)
    log(f"search: {n} of {len(grid)} (loss, lr, l2) trials, {r0} epoch(s) at rung 0"
        f"{', no halving' if eta >= n else ''} ({epoch_s:.1f} CPU s per epoch, {eval_s:.1f} "
        f"per validation, budget {config.budget_seconds:.0f} CPU s)")
    trials = [first] + [new_trial(*pair) for pair in grid[1:n]]
    alive = trials
    for rung, (_count, epochs) in enumerate(rung_plan(n, r0, eta)):
        values = []
        for trial in alive:
            if not (trial.scores and trial.scores[-1]["epochs"] == epochs):
                trial.train_to(epochs)
                score(trial)
            values.append(trial.scores[-1][metric])
        order = np.argsort(-np.asarray(values), kind="stable")
        log(f"search rung {rung}: {epochs} epoch(s): " + ", ".join(
            f"{alive[i].loss} lr {alive[i].lr:g} l2 {alive[i].l2:g} {metric} {values[i]:.4f}"
            for i in order))
        alive = [alive[i] for i in order[: math.ceil(len(alive) / eta)]]
    winner = alive[0]
    for trial in trials:  # free the other trials' tables
        if trial is not winner:
            trial.trainer = None  # type: ignore[assignment]
    return SearchResult(winner=winner, trials=trials, r0=r0, eta=eta,
                        seconds=time.perf_counter() - t_start,
                        cpu_seconds=time.process_time() - c_start)
