"""``dtype="auto"``: a package's item value type chosen on the validation split.

A budget can hold a few float32 positions or four times as many int8 ones, eight times as
many int4: which keeps the most depends on the model and the budget (on ml-100k the rotated
MF table does best in int8 at 5%, float16 at 10% and float32 at 25%). ``choose_dtype``
builds the run's package at every candidate type for the budget, as ``export`` would (the
same selection, basis and strategy), scores each through the device runtime on the
validation split (training items excluded) and keeps the best; the test split is never read.
A type whose package cannot fit is skipped. Ties go to the wider type.

A package shrunk on the device keeps its type, so it equals a server build for the smaller
budget *at that type*; ``dtype="auto"`` for the smaller budget may choose another.
"""

from __future__ import annotations

from collections.abc import Callable

from elasticrec.errors import ElasticrecError

AUTO = "auto"
CANDIDATES = ("float32", "float16", "int8", "int4")  # widest first: ties keep the wider
METRIC = "recall@20"


def best_dtype(scores: dict[str, float]) -> str:
    """The candidate with the highest score; among equal ones the wider (earlier) type."""
    if not scores:
        raise ValueError("no scores to choose from")
    return max((d for d in CANDIDATES if d in scores), key=lambda d: scores[d])


def choose_dtype(score: Callable[[str], float], budget_bytes: int) -> tuple[str, dict]:
    """The best of ``CANDIDATES`` by ``score(dtype)`` (the validation metric of the package
    at that type; an ``ElasticrecError`` from it means the type does not fit) and every
    type's score."""
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
