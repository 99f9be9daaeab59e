"""``dtype="auto"``: a package's item value type (and integer scales) chosen on the
validation split.

A budget can hold a few float32 positions or four times as many int8 ones, eight times as
many int4: which keeps the most depends on the model and the budget (on ml-100k the rotated
MF table does best in int8 at 5%, float16 at 10% and float32 at 25%). ``choose_dtype``
builds the run's package at every candidate type for the budget, as ``export`` would (the
same selection, basis and strategy), scores each through the device runtime on the
validation split (training items excluded) and keeps the best; the test split is never read.
A type whose package cannot fit is skipped. Ties go to the wider type. Integer types are
tried with both scales: one per item row (4 bytes an item) and one per position (format
version 5, no bytes per item: what a budget of a few bytes an item needs); a candidate is
named ``dtype`` (row scales or a float type) or ``dtype-column``.

A package shrunk on the device keeps its type, so it equals a server build for the smaller
budget *at that type*; ``dtype="auto"`` for the smaller budget may choose another.
"""

from __future__ import annotations

from collections.abc import Callable

from elasticrec.errors import ElasticrecError

AUTO = "auto"
# widest first (row scales before column scales): ties keep the earlier
CANDIDATES = ("float32", "float16", "int8", "int4", "int8-column", "int4-column")
METRIC = "recall@20"


def split_candidate(name: str) -> tuple[str, str]:
    """A candidate's value type and integer scales: ``"int4-column"`` is
    ``("int4", "column")``, ``"int8"`` ``("int8", "row")``."""
    dtype, _, scales = name.partition("-")
    return dtype, scales or "row"


def best_dtype(scores: dict[str, float]) -> str:
    """The candidate with the highest score; among equal ones the wider (earlier) type."""
    if not scores:
        raise ValueError("no scores to choose from")
    return max((d for d in CANDIDATES if d in scores), key=lambda d: scores[d])


def choose_dtype(score: Callable[[str], float], budget_bytes: int) -> tuple[str, dict]:
    """The best of ``CANDIDATES`` by ``score(name)`` (the validation metric of the package
    of that candidate, ``split_candidate(name)``; an ``ElasticrecError`` from it means it
    does not fit) and every candidate's score."""
    scores, refused = {}, {}
    for dtype in CANDIDATES:
        try:
            scores[dtype] = float(score(dtype))
        except ElasticrecError as exc:
            refused[dtype] = str(exc)
    if not scores:
        raise ElasticrecError(f"budget of {budget_bytes:,} bytes: no value type of "
                              f"{CANDIDATES} fits ({refused[CANDIDATES[-1]]})")
    return best_dtype(scores), scores
