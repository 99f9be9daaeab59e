"""PEEL's selection for a budget: a sort of the learned block weights, then a truncation.

The priority order puts every item group's best block first (groups by that weight, best
first), so that any level of at least G blocks ships one block per group, then every other
(group, block) pair by weight. A package for a budget is the longest prefix of that order that
fits (exact sizes, as ``package.builder.fit`` finds them); because the order is nested, a
device that shrinks its package to a smaller budget (``elasticrec shrink``) ships exactly what
the server would have chosen for that budget.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from elasticrec.budget.fit import BudgetExceeded
from elasticrec.budget.selection import BlockSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions, plan
from elasticrec.format.sizes import item_block_bytes, longest_label, package_bytes


def priority_order(weights: np.ndarray) -> tuple[tuple[int, int], ...]:
    """(group, block) pairs, best first, each group's best block within the first G."""
    n_groups, n_blocks = weights.shape
    best = np.argmax(weights, axis=1)  # ties: the lower block id
    firsts = np.argsort(-weights[np.arange(n_groups), best], kind="stable")
    head = firsts * n_blocks + best[firsts]
    flat = np.argsort(-weights, axis=None, kind="stable")
    order = np.concatenate([head, flat[~np.isin(flat, head)]])
    return tuple(zip((order // n_blocks).tolist(), (order % n_blocks).tolist(), strict=True))


def as_prefix_order(order: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """The same order of groups, each group's k-th pair its block k: at every level a group
    ships as many blocks as in ``order``, and they are its leading ones (tables in the
    score-preserving basis, whose leading positions carry the most score)."""
    seen: dict[int, int] = {}
    out = []
    for g, _ in order:
        out.append((g, seen.get(g, 0)))
        seen[g] = seen.get(g, 0) + 1
    return tuple(out)


def weighted_selection(weights: np.ndarray, item_group: np.ndarray, *,
                       prefixes: bool = False) -> BlockSelection:
    order = priority_order(weights)
    return BlockSelection(weights.shape[1], weights.shape[0], np.asarray(item_group),
                          as_prefix_order(order) if prefixes else order)


def select_for_budget(emb: RunEmbeddings, weights: np.ndarray, item_group: np.ndarray,
                      options: BuildOptions, budget_bytes: int, *,
                      prefixes: bool = False) -> BlockSelection:
    """The longest prefix of the weight order whose single-user package fits, with >= 1
    block per group; ``BudgetExceeded`` when not even that fits.

    Exact sizes come from ``plan``; the search for the level is bracketed by the values'
    bytes (a pair's values cost the same whatever the header), so it needs about four plans
    instead of a bisection over every level.
    """
    full = weighted_selection(weights, item_group, prefixes=prefixes)
    device = emb if len(emb.user) == 1 else one_user(emb)

    def size_at(level: int) -> int:
        return package_bytes(plan(device, full.truncate(level), options))

    sizes = np.bincount(item_group, minlength=full.n_groups)
    width = emb.item.shape[1] // full.n_blocks
    per_item_block = item_block_bytes(width, options.value_dtype, options.scale_mode())
    cum = np.concatenate([[0], np.cumsum([sizes[g] * per_item_block for g, _ in full.order])])
    low_fixed = size_at(0)  # the smallest header
    high_fixed = size_at(full.level) - int(cum[-1])  # the largest header
    hi = int(np.searchsorted(cum, budget_bytes - low_fixed, side="right")) - 1
    lo = max(int(np.searchsorted(cum, budget_bytes - high_fixed, side="right")) - 1, 0)
    while lo < hi:  # invariant: level lo fits (or is 0), nothing above hi does
        mid = (lo + hi + 1) // 2
        if size_at(mid) <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    if lo < full.n_groups:
        needed = size_at(full.n_groups)
        raise BudgetExceeded(needed, budget_bytes, needed, "one block per item group")
    return full.truncate(lo)


def one_user(emb: RunEmbeddings) -> RunEmbeddings:
    """The single-user package a budget bounds: the user whose label takes the most header
    bytes (``package.sizes.device_bytes``)."""
    labels = tuple(str(x) for x in emb.user_labels)
    row = labels.index(longest_label(labels)) if labels else 0
    return replace(emb, user=emb.user[row : row + 1], user_labels=list(labels[row : row + 1]))
