"""Which item values ship: frozen selections, each with a nested truncation rule.

A selection has a *level*, the number of its units that ship (columns for dense, (group, block)
pairs for blocks, values for ragged), and ``truncate(level)`` gives the selection with only the
first ``level`` units in its priority order. Truncation is nested: ``s.truncate(a).truncate(b)``
equals ``s.truncate(b)`` for ``b <= a``. A device that shrinks a package and a server that
builds for the same budget from the same priorities therefore ship the same values.

* ``DenseSelection(width)``: every item ships positions ``[0, width)``; units are columns.
* ``BlockSelection``: items fall in G groups; the trained width D is cut into ``n_blocks``
  positional blocks of width ``D / n_blocks``; ``order`` lists the shipped ``(group, block)``
  pairs best first. A group's blocks, in priority order, are its pairs in ``order``.
* ``RaggedSelection(widths)``: item ``i`` ships positions ``[0, widths[i])`` (SCALL). Units
  are single values in column-major order: every row's column 0 (in item order), then every
  remaining row's column 1, and so on; truncating removes values from the end of that order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from elasticrec.checks import check

MAX_GROUPS = 65536  # item groups are stored as U8 (<= 256 groups) or U16


@dataclass(frozen=True)
class DenseSelection:
    width: int

    def __post_init__(self) -> None:
        check(_is_int(self.width) and self.width >= 0, "DenseSelection.width", self.width,
              "an int >= 0")

    @property
    def level(self) -> int:
        return self.width

    def truncate(self, level: int) -> DenseSelection:
        _check_level(level, self.level)
        return DenseSelection(level)


@dataclass(frozen=True, eq=False)
class BlockSelection:
    n_blocks: int
    n_groups: int
    item_group: np.ndarray
    order: tuple[tuple[int, int], ...]
    rescale: bool = False

    def __post_init__(self) -> None:
        check(_is_int(self.n_blocks) and self.n_blocks >= 1, "BlockSelection.n_blocks",
              self.n_blocks, "an int >= 1")
        check(_is_int(self.n_groups) and 1 <= self.n_groups <= MAX_GROUPS,
              "BlockSelection.n_groups", self.n_groups, f"an int in [1, {MAX_GROUPS}]")
        groups = self.item_group
        check(isinstance(groups, np.ndarray) and groups.ndim == 1
              and np.issubdtype(groups.dtype, np.integer), "BlockSelection.item_group",
              getattr(groups, "shape", groups), "a 1-d integer array")
        if groups.size:
            check(bool(groups.min() >= 0 and groups.max() < self.n_groups),
                  "BlockSelection.item_group range", (int(groups.min()), int(groups.max())),
                  f"ids in [0, {self.n_groups})")
        pairs = np.asarray(self.order, dtype=np.int64).reshape(-1, 2)
        object.__setattr__(self, "order", tuple(map(tuple, pairs.tolist())))
        outside = (pairs[:, 0] < 0) | (pairs[:, 0] >= self.n_groups) | (pairs[:, 1] < 0) \
            | (pairs[:, 1] >= self.n_blocks)
        check(not outside.any(), "BlockSelection.order pair",
              tuple(pairs[np.argmax(outside)].tolist()) if outside.any() else None,
              f"(group in [0, {self.n_groups}), block in [0, {self.n_blocks}))")
        keys = pairs[:, 0] * self.n_blocks + pairs[:, 1]
        check(len(np.unique(keys)) == len(keys), "BlockSelection.order", self.order,
              "distinct pairs")
        check(isinstance(self.rescale, bool), "BlockSelection.rescale", self.rescale, "a bool")

    @classmethod
    def from_groups(
        cls,
        n_blocks: int,
        item_group: np.ndarray,
        groups: list[list[int]] | tuple[tuple[int, ...], ...],
        *,
        rescale: bool = False,
    ) -> BlockSelection:
        """Per-group priority lists, interleaved by rank: every group's first block, then
        every group's second block, and so on (groups in id order within a rank)."""
        depth = max((len(g) for g in groups), default=0)
        order = [(g, blocks[r]) for r in range(depth) for g, blocks in enumerate(groups)
                 if r < len(blocks)]
        return cls(n_blocks, len(groups), np.asarray(item_group), tuple(order), rescale)

    @property
    def level(self) -> int:
        return len(self.order)

    @property
    def groups(self) -> tuple[tuple[int, ...], ...]:
        """Each group's shipped blocks, in priority order."""
        out: list[list[int]] = [[] for _ in range(self.n_groups)]
        for g, b in self.order:
            out[g].append(b)
        return tuple(tuple(x) for x in out)

    def group_sizes(self) -> tuple[int, ...]:
        return tuple(int(x) for x in np.bincount(self.item_group, minlength=self.n_groups))

    def truncate(self, level: int) -> BlockSelection:
        """A prefix of a valid order is valid: copied without checking the item groups again
        (budget fitting truncates many times)."""
        _check_level(level, self.level)
        out = copy.copy(self)
        object.__setattr__(out, "order", self.order[:level])
        return out


@dataclass(frozen=True, eq=False)
class RaggedSelection:
    widths: np.ndarray

    def __post_init__(self) -> None:
        w = self.widths
        check(isinstance(w, np.ndarray) and w.ndim == 1 and np.issubdtype(w.dtype, np.integer),
              "RaggedSelection.widths", getattr(w, "shape", w), "a 1-d integer array")
        check(not w.size or int(w.min()) >= 0, "RaggedSelection.widths minimum",
              int(w.min()) if w.size else None, "widths >= 0")
        object.__setattr__(self, "widths", w.astype(np.int64))

    @property
    def level(self) -> int:
        return int(self.widths.sum())

    def truncate(self, level: int) -> RaggedSelection:
        _check_level(level, self.level)
        return RaggedSelection(truncate_widths(self.widths, level))


def truncate_widths(widths: np.ndarray, level: int) -> np.ndarray:
    """The first ``level`` values of ``widths`` in column-major order, as new widths.

    With ``cum[c]`` the number of values in columns ``< c``, the cap ``c`` is the largest with
    ``cum[c] <= level``; every row keeps ``min(width, c)`` and the first ``level - cum[c]`` rows
    (in item order) that are wider than ``c`` keep one more.
    """
    widths = np.asarray(widths, dtype=np.int64)
    if not widths.size or level >= int(widths.sum()):
        return widths.copy()
    max_w = int(widths.max())
    wider = len(widths) - np.cumsum(np.bincount(widths, minlength=max_w + 1))[:-1]
    cum = np.concatenate([[0], np.cumsum(wider)])  # cum[c] = values in columns < c
    cap = int(np.searchsorted(cum, level, side="right")) - 1
    extra = level - int(cum[cap])
    out = np.minimum(widths, cap)
    out[np.flatnonzero(widths > cap)[:extra]] = cap + 1
    return out


Selection = DenseSelection | BlockSelection | RaggedSelection


def _check_level(level: int, max_level: int) -> None:
    check(_is_int(level) and 0 <= level <= max_level, "level", level,
          f"an int in [0, {max_level}] (truncation never adds values)")


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


POPULAR_SHARE = 0.25  # the share of items, most popular first, that gets twice the width


def popular_selection(counts: np.ndarray, dim: int, share: float = POPULAR_SHARE
                      ) -> BlockSelection:
    """Twice the width for the popular items: two item groups (0: the ``share`` most popular
    items by ``counts``, ties by row), blocks of one position, in an order that gives group 0
    two positions for each one of group 1's until group 0 is full. Every prefix of the order
    is a package; the builder's fit cuts the longest that fits."""
    counts = np.asarray(counts)
    check(counts.ndim == 1 and len(counts) >= 1, "popularity", getattr(counts, "shape", counts),
          "one count per item")
    check(isinstance(share, float | int) and 0 < share < 1, "popular_share", share,
          "a share in (0, 1)")
    n = len(counts)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), -counts))] = np.arange(n)
    group = (rank >= round(share * n)).astype(np.int64)
    order, rest = [], 0
    for b in range(dim):  # one entry per position, not per item
        order.append((0, b))
        if b % 2 == 1 and rest < dim:
            order.append((1, rest))
            rest += 1
    order += [(1, b) for b in range(rest, dim)]
    return BlockSelection(dim, 2, group, tuple(order))
