"""Selections: nested truncation, the column-major ragged rule against a slow reference, and
bisection for the largest fitting level."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.budget.fit import BudgetExceeded, largest_fitting
from elasticrec.budget.selection import (
    BlockSelection,
    DenseSelection,
    RaggedSelection,
    truncate_widths,
)

widths_lists = st.lists(st.integers(0, 9), max_size=30)


def slow_truncate(widths: list[int], level: int) -> list[int]:
    """Take (column, row) units in column-major order, one at a time."""
    units = sorted((c, i) for i, w in enumerate(widths) for c in range(w))[:level]
    out = [0] * len(widths)
    for _, i in units:
        out[i] += 1
    return out


@settings(max_examples=200, deadline=None)
@given(widths_lists, st.data())
def test_ragged_truncation_matches_the_column_major_reference(widths, data):
    level = data.draw(st.integers(0, sum(widths)))
    got = truncate_widths(np.array(widths, dtype=np.int64), level)
    assert got.tolist() == slow_truncate(widths, level)
    assert int(got.sum()) == level


@settings(max_examples=100, deadline=None)
@given(widths_lists, st.data())
def test_truncation_is_nested(widths, data):
    sel = RaggedSelection(np.array(widths, dtype=np.int64))
    a = data.draw(st.integers(0, sel.level))
    b = data.draw(st.integers(0, a))
    assert sel.truncate(a).truncate(b).widths.tolist() == sel.truncate(b).widths.tolist()
    blocks = BlockSelection.from_groups(3, np.zeros(4, np.int64), [[2, 0, 1]])
    assert blocks.truncate(2).truncate(1).order == blocks.truncate(1).order == ((0, 2),)


def test_block_priorities_interleave_by_rank():
    sel = BlockSelection.from_groups(4, np.array([0, 1, 1, 2]), [[3, 1], [0], [2, 0, 1]])
    assert sel.order == ((0, 3), (1, 0), (2, 2), (0, 1), (2, 0), (2, 1))
    assert sel.groups == ((3, 1), (0,), (2, 0, 1))
    assert sel.group_sizes() == (1, 2, 1)
    assert sel.truncate(4).groups == ((3, 1), (0,), (2,))


@pytest.mark.parametrize(("make", "message"), [
    (lambda: DenseSelection(-1), "DenseSelection.width=-1"),
    (lambda: BlockSelection(4, 2, np.array([0, 2]), ()), "item_group range"),
    (lambda: BlockSelection(4, 2, np.array([0, 1]), ((0, 4),)), "order pair"),
    (lambda: BlockSelection(4, 2, np.array([0, 1]), ((0, 1), (0, 1))), "distinct pairs"),
    (lambda: RaggedSelection(np.array([1, -1])), "widths >= 0"),
    (lambda: DenseSelection(3).truncate(4), "truncation never adds values"),
])
def test_bad_selections_name_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40).map(sorted), st.integers(-5, 60))
def test_largest_fitting_is_the_last_level_within_budget(sizes, budget):
    level = largest_fitting(lambda t: sizes[t], len(sizes) - 1, budget)
    fitting = [t for t, s in enumerate(sizes) if s <= budget]
    assert level == (max(fitting) if fitting else -1)


def test_budget_exceeded_says_by_how_much_and_the_smallest():
    exc = BudgetExceeded(1500, 1000, 700, "no item values")
    assert str(exc) == ("the package needs 1,500 bytes (1.50 kB), 500 bytes over the budget of "
                        "1,000 bytes (1.00 kB); the smallest package for this request "
                        "(no item values) is 700 bytes")
