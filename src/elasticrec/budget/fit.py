"""The largest truncation of a selection whose exact package size fits a budget.

Package sizes are non-decreasing in the level (more values never make a file smaller), so the
largest fitting level is found by bisection over ``[0, max_level]`` with the exact size
function as oracle: about ``log2(max_level)`` header constructions, no tensor data touched.
"""

from __future__ import annotations

from collections.abc import Callable

from elasticrec.budget.units import format_bytes
from elasticrec.errors import ElasticrecError


class BudgetExceeded(ElasticrecError):
    """A package would exceed its budget; says by how much and what the smallest one is."""

    def __init__(self, needed_bytes: int, budget_bytes: int, smallest_bytes: int,
                 smallest_what: str, *, request: str = "the package") -> None:
        self.needed_bytes = needed_bytes
        self.budget_bytes = budget_bytes
        self.smallest_bytes = smallest_bytes
        super().__init__(
            f"{request} needs {format_bytes(needed_bytes)}, "
            f"{needed_bytes - budget_bytes:,} bytes over the budget of "
            f"{format_bytes(budget_bytes)}; the smallest package for this request "
            f"({smallest_what}) is {format_bytes(smallest_bytes)}"
        )


def largest_fitting(size_at: Callable[[int], int], max_level: int, budget_bytes: int) -> int:
    """The largest level in ``[0, max_level]`` with ``size_at(level) <= budget_bytes``.

    Returns -1 when not even level 0 fits. ``size_at`` must be non-decreasing.
    """
    if size_at(0) > budget_bytes:
        return -1
    lo, hi = 0, max_level  # invariant: size_at(lo) fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size_at(mid) <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def fitting_level(size_at: Callable[[int], int], max_level: int, budget_bytes: int) -> int:
    """The largest level in ``[1, max_level]`` that fits, or ``BudgetExceeded``.

    A package with no item values (level 0) is never a useful answer: when only it fits (or
    nothing does) the error says how far over the budget the smallest useful package is.
    """
    level = largest_fitting(size_at, max_level, budget_bytes)
    if level <= 0 < max_level:
        raise BudgetExceeded(size_at(1), budget_bytes, size_at(0), "no item values",
                             request="the smallest package with any item value")
    if level < 0:
        raise BudgetExceeded(size_at(0), budget_bytes, size_at(0), "no item values")
    return level
