"""The plan of the lr/L2 search, pure and light to import: its grid and budget
(``SearchConfig``), the rungs of successive halving and what they cost.

Rung 0 trains ``n`` trials ``r0`` epochs each; every rung keeps the best ``1/eta`` and trains
them ``eta`` times as many epochs, until one is left (Jamieson and Talwalkar, 2016).
``choose_plan`` takes the most trials, then the most epochs, that fit the budget at measured
epoch and validation times, or trains the whole grid without halving when that fits for as
long as halving's last comparison; the loop that runs the plan is ``train.search``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass
from typing import NamedTuple

from elasticrec.checks import check

# The grids: losses, Adam learning rates, and L2 weights on the batch's ego rows by loss.
LOSS_GRID = ("ccl", "bpr")
LR_GRID = (1e-3, 3e-3, 1e-2)
# BPR's reaches down to the LightGCN paper's 1e-4 (docs/training.md).
L2_GRID = {"bpr": (1e-4, 1e-3, 1e-2, 1e-1), "ccl": (1e-6, 1e-5, 1e-4)}
# Where a cut grid starts, by loss. A grid is cut only where the data are large, and
# larger data need less regularisation: BPR starts at lr 1e-2 (chosen by its full searches
# wherever they saw it; a cut from the grid's centre never tried it on the large datasets)
# and L2 1e-3, so that a cut of 4 BPR trials still tries 1e-4 (docs/training.md).
CUT_FIRST = {"bpr": (1e-2, 1e-3), "ccl": (3e-3, 1e-5)}
DEFAULT_BUDGET_SECONDS = 600.0  # 10 minutes


@dataclass(frozen=True)
class SearchConfig:
    budget_seconds: float = DEFAULT_BUDGET_SECONDS  # CPU seconds of the whole search
    losses: tuple[str, ...] = LOSS_GRID  # the losses tried
    lrs: tuple[float, ...] = LR_GRID
    l2s: tuple[float, ...] | None = None  # None: each loss's own grid (L2_GRID)
    eta: int = 3  # keep the best 1/eta of the trials at every rung
    max_epochs: int = 27  # the most epochs a trial trains within the search

    def __post_init__(self) -> None:
        check(self.budget_seconds > 0, "search_budget", self.budget_seconds,
              "a positive duration (e.g. 90s, 10m, 1h)")
        check(len(self.losses) > 0 and all(x in L2_GRID for x in self.losses), "losses",
              self.losses, f"some of {tuple(L2_GRID)}")
        check(len(self.lrs) > 0 and all(x > 0 for x in self.lrs), "lrs", self.lrs,
              "positive learning rates")
        check(self.l2s is None or (len(self.l2s) > 0 and all(x >= 0 for x in self.l2s)),
              "l2s", self.l2s, "L2 weights >= 0, or None")
        check(self.eta >= 2, "eta", self.eta, "an integer >= 2")
        check(self.max_epochs >= 1, "max_epochs", self.max_epochs, "a positive integer")

    def grid(self) -> list[tuple[str, float, float]]:
        """Every (loss, lr, l2): per loss, nearest (in grid steps) the pair nearest its
        ``CUT_FIRST`` first; the losses taken in turn (the order a cut keeps)."""
        per_loss = []
        for loss in self.losses:
            l2s = self.l2s if self.l2s is not None else L2_GRID[loss]
            lr0, l20 = CUT_FIRST[loss]
            ci, cj = _nearest(self.lrs, lr0), _nearest(l2s, l20)
            pairs = [(i, j) for i in range(len(self.lrs)) for j in range(len(l2s))]
            pairs.sort(key=lambda p: (abs(p[0] - ci) + abs(p[1] - cj), p))
            per_loss.append([(loss, self.lrs[i], l2s[j]) for i, j in pairs])
        return [t for rank in itertools.zip_longest(*per_loss) for t in rank if t is not None]

    def to_json(self) -> dict:
        return {**asdict(self), "losses": list(self.losses), "lrs": list(self.lrs),
                "l2s": None if self.l2s is None else list(self.l2s)}


def _nearest(values: tuple[float, ...], target: float) -> int:
    """The index of the value nearest ``target`` on a log scale (0 counts as 1e-12)."""
    return min(range(len(values)),
               key=lambda i: abs(math.log10(max(values[i], 1e-12)) - math.log10(target)))


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or ``90s``, ``10m``, ``1.5h``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(value))
    if match is None:
        raise ValueError(f"search_budget={value!r} is not allowed: a duration such as 90s, "
                         "10m or 1h (a bare number is seconds)")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


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


class Plan(NamedTuple):
    trials: int  # trials at rung 0
    r0: int  # epochs each trains at rung 0
    eta: int  # every rung keeps the best 1/eta (eta = trials: one rung, no halving)


def choose_plan(config: SearchConfig, epoch_s: float, eval_s: float, horizon: int) -> Plan:
    """Successive halving with the most trials (up to the grid), then the most epochs
    ``r0``, that fit the budget, no trial training more than ``horizon`` epochs; but the
    whole grid trained ``R`` epochs and compared once, when that fits with ``R`` at least
    the epochs at which halving makes its last comparison (``r0 * eta ** (rungs - 1)``):
    early scores favour a fast start over a good end, so the winner is never chosen on
    scores younger than halving's. (The bound was halving's first survivors, ``eta * r0``,
    until gowalla MF's whole grid, compared after 4 epochs where halving compares at 9,
    chose BPR with L2 0.1, whose validation never again reached its 4-epoch score:
    docs/training.md.)"""
    eta, size = config.eta, len(config.grid())
    halving = Plan(1, 1, eta)
    for n in range(size, 1, -1):
        rungs = len(rung_plan(n, 1, eta))
        r_max = horizon // eta ** (rungs - 1)  # 0: too many rungs for the horizon
        fits = [r0 for r0 in range(1, r_max + 1)
                if plan_cost(n, r0, eta, epoch_s, eval_s) <= config.budget_seconds]
        if fits:
            halving = Plan(n, fits[-1], eta)
            break
    if size < 2:
        return halving
    last = rung_plan(halving.trials, halving.r0, eta)[-1][1] if halving.trials > 1 else 1
    whole = [r for r in range(last, horizon + 1)
             if plan_cost(size, r, size, epoch_s, eval_s) <= config.budget_seconds]
    return Plan(size, whole[-1], size) if whole else halving
