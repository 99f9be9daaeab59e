"""Block configurations for a byte budget, and the package selection they become (RULE).

``BlockCosts`` prices a configuration from the package format itself: the exact size of the
package that ships one block per group (each group's last block, whose pair takes the most
header characters), and for every further (group, block) pair its values and the longest
entry a pair can add to the header's order list, plus a few bytes for the digits that
tensor shapes and offsets may gain and for padding. The price is never below the real size
(tested), so the builder's exact check afterwards always passes; it is within a few bytes
per pair of it. (Until issue 13 the fixed part was the header of the package with *every*
block: on ml-100k with 20 x 16 pairs it priced one block per group 2,000 bytes above this
bound, budget that no block could use.)

Three ways to fill a budget, all over the same elastic model:

* ``search``: RULE's regularised evolution guided by the estimator (``search.py``), by
  default with the greedy configuration among its initial members and 1000 cycles
  (``SearchConfig.released()``: random members only, 50 cycles);
* ``greedy``: by the estimator, one block per group (each group's best), then repeatedly the
  pair with the largest estimated gain per byte that still fits;
* ``random``: one random block per group, then random pairs, as many as fit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from elasticrec.budget.selection import BlockSelection
from elasticrec.checks import check
from elasticrec.elastic.estimator import predict
from elasticrec.elastic.search import (
    BlockCosts,
    Infeasible,
    SearchConfig,
    random_config,
    regularized_evolution,
)
from elasticrec.elastic.state import ElasticState
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions, plan
from elasticrec.format.sizes import device_bytes, item_block_bytes

Estimate = Callable[[np.ndarray], np.ndarray]
STRATEGIES = ("search", "greedy", "random")


def block_costs(emb: RunEmbeddings, item_group: np.ndarray, n_groups: int, n_blocks: int, *,
                rescale: bool, options: BuildOptions) -> BlockCosts:
    last = np.zeros((n_groups, n_blocks), bool)
    last[:, -1] = True
    smallest = device_bytes(plan(emb, to_selection(last, item_group, rescale=rescale), options))
    width = emb.item.shape[1] // n_blocks
    per_item_block = item_block_bytes(width, options.value_dtype, options.scale_mode())
    # a pair's entry in the order list, JSON-escaped in the header: "[g, b]," at most
    pair_bytes = len(json.dumps([n_groups - 1, n_blocks - 1])) + 2
    block_bytes = (np.bincount(item_group, minlength=n_groups).astype(np.int64) * per_item_block
                   + pair_bytes)
    full_values = int(block_bytes.sum()) * n_blocks
    slack = 8 + 8 * len(str(smallest + full_values))  # padding; digits of sizes and offsets
    fixed = smallest - int(block_bytes.sum()) + slack
    return BlockCosts(block_bytes=block_bytes, fixed_bytes=fixed)


def as_prefixes(configs: np.ndarray) -> np.ndarray:
    """The same block counts per group, each group's blocks the leading ones (0..|S_g|-1).

    In the score-preserving basis (``export/basis.py``) the leading positions carry the most
    score, so a group that ships k blocks should ship the first k; the additive estimator
    sees only counts, so it prices a configuration and its prefix form alike."""
    configs = np.asarray(configs, dtype=bool)
    counts = configs.sum(axis=-1, keepdims=True)
    return np.arange(configs.shape[-1]) < counts


def to_selection(config: np.ndarray, item_group: np.ndarray, *, rescale: bool) -> BlockSelection:
    """The package selection shipping ``config``'s blocks (each group's in id order)."""
    groups = [list(np.flatnonzero(row)) for row in config]
    return BlockSelection.from_groups(config.shape[1], np.asarray(item_group), groups,
                                      rescale=rescale)


def choose(strategy: str, estimate: Estimate, n_groups: int, n_blocks: int, costs: BlockCosts,
           budget_bytes: int, rng: np.random.Generator,
           search: SearchConfig | None = None) -> tuple[np.ndarray, dict]:
    """A (G, N) configuration under ``budget_bytes`` and a record of how it was found."""
    check(strategy in STRATEGIES, "strategy", strategy, f"one of {STRATEGIES}")
    if costs.minimum() > budget_bytes:
        raise Infeasible(f"one block per item group needs {costs.minimum():,} bytes, over the "
                         f"budget of {budget_bytes:,} bytes")
    t0 = time.perf_counter()
    if strategy == "search":
        search = search or SearchConfig()
        initial, evaluations = [], 0
        if search.seeded:
            seed, evaluations = greedy(estimate, n_groups, n_blocks, costs, budget_bytes)
            initial = [seed]
        res = regularized_evolution(estimate, n_groups, n_blocks, costs, budget_bytes, search,
                                    rng, initial)
        config, evaluations = res.config, evaluations + res.evaluations
    elif strategy == "greedy":
        config, evaluations = greedy(estimate, n_groups, n_blocks, costs, budget_bytes)
    else:
        config, evaluations = random_config(n_groups, n_blocks, costs, budget_bytes, rng), 0
    return config, {"strategy": strategy, "estimate": float(estimate(config[None])[0]),
                    "cost_bytes": int(costs.of(config)), "blocks": int(config.sum()),
                    "estimator_calls": evaluations, "seconds": time.perf_counter() - t0}


def greedy(estimate: Estimate, n_groups: int, n_blocks: int, costs: BlockCosts,
           budget_bytes: int) -> tuple[np.ndarray, int]:
    config = np.zeros((n_groups, n_blocks), bool)
    config[:, 0] = True
    calls = 0
    for g in range(n_groups):  # each group's best single block, the others held fixed
        trials = np.repeat(config[None], n_blocks, axis=0)
        trials[:, g] = np.eye(n_blocks, dtype=bool)
        config = trials[int(np.argmax(estimate(trials)))]
        calls += n_blocks
    base = float(estimate(config[None])[0])
    while True:
        g_idx, b_idx = np.nonzero(~config)
        spare = budget_bytes - int(costs.of(config))
        fits = costs.block_bytes[g_idx] <= spare
        if not fits.any():
            return config, calls
        g_idx, b_idx = g_idx[fits], b_idx[fits]
        trials = np.repeat(config[None], len(g_idx), axis=0)
        trials[np.arange(len(g_idx)), g_idx, b_idx] = True
        scores = estimate(trials)
        calls += len(trials)
        best = int(np.argmax((scores - base) / costs.block_bytes[g_idx]))
        config, base = trials[best], float(scores[best])


def rule_selection(emb: RunEmbeddings, state: ElasticState, budget_bytes: int,
                   options: BuildOptions, *, strategy: str = "search", seed: int = 0,
                   search: SearchConfig | None = None, prefixes: bool = False
                   ) -> tuple[BlockSelection, dict]:
    """The blocks a RULE run ships within ``budget_bytes`` (no gradient step, no evaluation).

    ``prefixes``: each group ships its leading blocks, as many as the configuration found
    gives it (tables in the score-preserving basis; same cost, same additive estimate), and
    budget the configuration leaves is filled with further leading blocks (``fill_prefixes``).
    ``Infeasible`` when one block per item group does not fit.
    """
    cfg = state.config
    costs = block_costs(emb, state.item_group, cfg.n_groups, cfg.n_blocks,
                        rescale=cfg.rescale, options=options)
    precision = options.value_dtype

    def estimate(c: np.ndarray) -> np.ndarray:
        return predict(state.estimator, c, precision)

    config, info = choose(strategy, estimate, cfg.n_groups, cfg.n_blocks, costs, budget_bytes,
                          np.random.default_rng(seed), search)
    if prefixes:
        config = fill_prefixes(as_prefixes(config), estimate, costs, budget_bytes)
        info = {**info, "blocks": int(config.sum()), "cost_bytes": int(costs.of(config))}
    return to_selection(config, state.item_group, rescale=cfg.rescale), info


def fill_prefixes(config: np.ndarray, estimate: Estimate, costs: BlockCosts,
                  budget_bytes: int) -> np.ndarray:
    """``config`` (prefix form) with every group's next leading block added, best estimated
    gain per byte first, while one still fits. In the score-preserving basis the leading
    positions of the full tables approach the full model's scores (all of them are exact),
    so budget a learned estimator leaves unused (it is not monotone in blocks) is budget
    the package loses; a group at full width takes no more."""
    config = np.asarray(config, dtype=bool).copy()
    n_blocks = config.shape[1]
    while True:
        counts = config.sum(axis=1)
        spare = budget_bytes - int(costs.of(config))
        open_groups = np.flatnonzero((counts < n_blocks) & (costs.block_bytes <= spare))
        if not len(open_groups):
            return config
        trials = np.repeat(config[None], len(open_groups), axis=0)
        trials[np.arange(len(open_groups)), open_groups, counts[open_groups]] = True
        gain = (estimate(trials) - float(estimate(config[None])[0])
                ) / costs.block_bytes[open_groups]
        config = trials[int(np.argmax(gain))]


def joint_rule_selection(emb: RunEmbeddings, state: ElasticState, budget_bytes: int,
                         options: BuildOptions, *, precisions: tuple[str, ...] | None = None,
                         **kwargs) -> tuple[BlockSelection, BuildOptions, dict]:
    """Blocks and their value dtype, chosen together: the search runs at each dtype's real
    block bytes (``precisions``, default: those the estimator's labels were measured at)
    and the configuration with the highest estimate wins, the estimator pricing precision
    as a feature. ``kwargs`` go to ``rule_selection``; ``Infeasible`` when no dtype fits one
    block per group. Returns the selection, the build options with the chosen dtype and the
    record of the winning search (with every dtype's estimate)."""
    candidates = precisions or state.config.label_precisions
    best, estimates = None, {}
    for dtype in candidates:
        opts = replace(options, value_dtype=dtype)
        try:
            selection, info = rule_selection(emb, state, budget_bytes, opts, **kwargs)
        except Infeasible:
            continue
        estimates[dtype] = info["estimate"]
        if best is None or info["estimate"] > best[2]["estimate"]:
            best = (selection, opts, info)
    if best is None:
        raise Infeasible(f"one block per item group exceeds the budget of {budget_bytes:,} "
                         f"bytes at every value dtype of {candidates}")
    selection, opts, info = best
    return selection, opts, {**info, "value_dtype": opts.value_dtype, "estimates": estimates}
