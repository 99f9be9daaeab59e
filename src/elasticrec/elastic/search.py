"""Regularised (aging) evolution over block configurations, under a byte budget (RULE).

A configuration is a boolean matrix ``(G, N)``: item group ``g`` ships block ``b``. Every group
ships at least one block. Its cost in bytes is linear, ``fixed_bytes + sum_g |S_g| *
block_bytes[g]``, which is how the blocks layout of a package grows (docs/FORMAT.md); the
exact package size is checked by the package builder afterwards. The search (Real et al.
2019; the released RULE parameters are P = 20, C = 50, S = 5) only calls ``estimate``, the
performance estimator, never the true evaluator:

1. P random configurations that use the budget, scored by the estimator;
2. C cycles: sample S members, mutate the best (add, remove or swap one block of one group),
   repair it to the budget, score it, append it, drop the oldest;
3. return the best configuration ever scored.

The initial members spend the budget (one random block per group, then random blocks while
they fit): a population of half-empty configurations would mostly compare sizes. Budget
repair removes blocks from random groups that have more than one until the cost fits; a
configuration with one block per group that does not fit is reported as infeasible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from elasticrec.checks import check

Estimator = Callable[[np.ndarray], np.ndarray]  # (K, G, N) bool -> (K,) estimated quality


@dataclass(frozen=True)
class SearchConfig:
    """Defaults: the released P and S, 1000 cycles, and the greedy configuration among the
    initial members (``seeded``); ``SearchConfig.released()`` is the released setting."""

    population: int = 20  # P
    cycles: int = 1000  # C (released: 50)
    sample: int = 5  # S, tournament size
    seeded: bool = True  # start from the greedy configuration too (released: random only)

    @classmethod
    def released(cls) -> SearchConfig:
        return cls(population=20, cycles=50, sample=5, seeded=False)

    def __post_init__(self) -> None:
        check(self.population >= 1, "population", self.population, "an int >= 1")
        check(self.cycles >= 0, "cycles", self.cycles, "an int >= 0")
        check(1 <= self.sample <= self.population, "sample", self.sample,
              f"an int in [1, population={self.population}]")


@dataclass(frozen=True, eq=False)
class SearchResult:
    config: np.ndarray  # (G, N) bool
    score: float  # the estimator's score of ``config``
    cost_bytes: int
    evaluations: int  # estimator calls (configurations scored)
    seconds: float


@dataclass(frozen=True, eq=False)
class BlockCosts:
    """The linear byte cost of a configuration."""

    block_bytes: np.ndarray  # (G,) bytes of one block of group g (items in g x width x dtype)
    fixed_bytes: int  # everything else: header, user vector, id map

    def of(self, config: np.ndarray) -> np.ndarray:
        """Cost in bytes of one (G, N) or many (K, G, N) configurations."""
        return self.fixed_bytes + (config.sum(axis=-1) * self.block_bytes).sum(axis=-1)

    def minimum(self) -> int:
        return int(self.fixed_bytes + self.block_bytes.sum())


class Infeasible(ValueError):
    """Even one block per item group exceeds the budget."""


def repair(config: np.ndarray, costs: BlockCosts, budget_bytes: int,
           rng: np.random.Generator) -> np.ndarray:
    """Drop random blocks (never a group's last) until the cost fits; returns a new matrix."""
    out = config.copy()
    for g in np.flatnonzero(~out.any(axis=1)):
        out[g, rng.integers(out.shape[1])] = True
    over = int(costs.of(out)) - budget_bytes
    while over > 0:
        removable = np.argwhere(out & (out.sum(axis=1, keepdims=True) > 1))
        if len(removable) == 0:
            raise Infeasible(f"one block per item group needs {costs.minimum():,} bytes, "
                             f"over the budget of {budget_bytes:,} bytes")
        g, b = removable[rng.integers(len(removable))]
        out[g, b] = False
        over -= int(costs.block_bytes[g])
    return out


def fill(config: np.ndarray, costs: BlockCosts, budget_bytes: int,
         rng: np.random.Generator) -> np.ndarray:
    """Add random blocks, in random order, while they fit; returns a new matrix."""
    out = config.copy()
    g_idx, b_idx = np.nonzero(~out)
    spare = budget_bytes - int(costs.of(out))
    for i in rng.permutation(len(g_idx)):
        if costs.block_bytes[g_idx[i]] <= spare:
            out[g_idx[i], b_idx[i]] = True
            spare -= int(costs.block_bytes[g_idx[i]])
    return out


def random_config(n_groups: int, n_blocks: int, costs: BlockCosts, budget_bytes: int,
                  rng: np.random.Generator) -> np.ndarray:
    """A random configuration that uses the budget: one random block per group, then random
    blocks while they fit."""
    config = np.zeros((n_groups, n_blocks), bool)
    config[np.arange(n_groups), rng.integers(n_blocks, size=n_groups)] = True
    return fill(repair(config, costs, budget_bytes, rng), costs, budget_bytes, rng)


def mutate(config: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add, remove or swap one block of one random group (a group keeps >= 1 block)."""
    out = config.copy()
    g = rng.integers(out.shape[0])
    row = out[g]
    on, off = np.flatnonzero(row), np.flatnonzero(~row)
    moves = ["add"] * bool(len(off)) + ["remove"] * (len(on) > 1) + ["swap"] * bool(len(off))
    if not moves:
        return out
    move = moves[rng.integers(len(moves))]
    if move in ("add", "swap"):
        row[off[rng.integers(len(off))]] = True
    if move in ("remove", "swap"):
        row[on[rng.integers(len(on))]] = False
    return out


def regularized_evolution(
    estimate: Estimator, n_groups: int, n_blocks: int, costs: BlockCosts, budget_bytes: int,
    config: SearchConfig, rng: np.random.Generator, initial: list[np.ndarray] | None = None,
) -> SearchResult:
    """``initial`` configurations (repaired to the budget) take the first places of the
    population; random ones fill the rest."""
    t0 = time.perf_counter()
    if costs.minimum() > budget_bytes:
        raise Infeasible(f"one block per item group needs {costs.minimum():,} bytes, over the "
                         f"budget of {budget_bytes:,} bytes")
    population = [repair(c, costs, budget_bytes, rng) for c in (initial or [])]
    population = population[: config.population]
    population += [random_config(n_groups, n_blocks, costs, budget_bytes, rng)
                   for _ in range(config.population - len(population))]
    scores = list(np.asarray(estimate(np.stack(population)), dtype=np.float64))
    best = int(np.argmax(scores))
    best_config, best_score = population[best], scores[best]
    evaluations = len(population)
    for _ in range(config.cycles):
        picked = rng.choice(len(population), size=config.sample, replace=False)
        parent = population[max(picked, key=lambda i: scores[i])]
        child = repair(mutate(parent, rng), costs, budget_bytes, rng)
        score = float(estimate(child[None])[0])
        evaluations += 1
        population.append(child)
        scores.append(score)
        population.pop(0)
        scores.pop(0)
        if score > best_score:
            best_config, best_score = child, score
    return SearchResult(config=best_config, score=float(best_score),
                        cost_bytes=int(costs.of(best_config)), evaluations=evaluations,
                        seconds=time.perf_counter() - t0)
