"""A run's device packages for a budget, by the run's method (NumPy only: no PyTorch).

* ``full``: the dense baseline, every item's first W positions for the widest W that fits;
* ``rule``: a block configuration found for the budget by the estimator-guided evolutionary
  search (``strategy="search"``), by estimated gain per byte (``"greedy"``) or at random
  (``"random"``, a baseline); no gradient step;
* ``peel``: the user's group's refined table, its highest-weight blocks that fit.

A package is for one user: ``user`` (their id as in the source data) or, for a user unseen in
training, ``history`` (their items' ids), from which a vector is folded in (PEEL: the group
nearest to it, then a vector against that group's table). Budgets count the whole file:
header, user vector and id map included. The every-user bundle (``users=None`` with
``bundle=True``) carries every user's vector for evaluation; the budget then bounds each
single-user package cut from it, and the bundle itself is larger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from elasticrec.budget.selection import (
    BlockSelection,
    DenseSelection,
    RaggedSelection,
    Selection,
)
from elasticrec.budget.units import format_bytes, full_table_bytes, parse_budget
from elasticrec.elastic.search import Infeasible, SearchConfig
from elasticrec.elastic.select import STRATEGIES, rule_selection
from elasticrec.elastic.state import ElasticState
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, fit, plan
from elasticrec.format.manifest import VALUE_DTYPES
from elasticrec.format.sizes import device_bytes
from elasticrec.peel.cluster import fold_in
from elasticrec.peel.export import group_package, place_new_user
from elasticrec.peel.state import PeelState


@dataclass(frozen=True)
class Exported:
    """A package's bytes and how they were chosen."""

    data: bytes
    summary: str  # one line: what ships and what it cost to choose
    info: dict  # method-specific details (width, blocks, user group, timings)


@dataclass(frozen=True)
class ExportRequest:
    budget_bytes: int
    user_row: int | None = None  # None with history: a new user; None without: every user
    history_rows: np.ndarray | None = None
    value_dtype: str = "float32"
    strategy: str = "search"
    seed: int = 0
    released_search: bool = False
    item_ids: str = "auto"  # or "catalogue": the package names the device's catalogue
    seen_rows: tuple[int, ...] | None = None  # the user's seen items, shipped in the package

    def __post_init__(self) -> None:
        if self.value_dtype not in VALUE_DTYPES:
            raise ElasticrecError(f"dtype {self.value_dtype!r} is not one of "
                                  f"{sorted(VALUE_DTYPES)}")
        if self.strategy not in STRATEGIES:
            raise ElasticrecError(f"strategy {self.strategy!r} is not one of {STRATEGIES}")
        if self.user_row is not None and self.history_rows is not None:
            raise ElasticrecError("give a user or a history, not both")


def export(method: str, emb: RunEmbeddings, request: ExportRequest, *,
           elastic: ElasticState | None = None, peel: PeelState | None = None) -> Exported:
    """The package ``request`` asks for from a run of ``method`` (its state passed in)."""
    if method == "peel":
        return _peel(emb, elastic, peel, request)
    emb, users = _users(emb, request)
    if method == "rule":
        options = BuildOptions(value_dtype=request.value_dtype, users=users,
                               method=f"rule-{request.strategy}", item_ids=request.item_ids,
                               seen=request.seen_rows)
        search = SearchConfig.released() if request.released_search else SearchConfig()
        try:
            selection, info = rule_selection(emb, elastic, request.budget_bytes, options,
                                             strategy=request.strategy, seed=request.seed,
                                             search=search)
        except Infeasible as exc:
            raise ElasticrecError(f"budget {format_bytes(request.budget_bytes)}: {exc}") from exc
        what = (f"{info['blocks']} blocks of {selection.n_groups}x{selection.n_blocks} "
                f"({request.strategy} in {info['seconds'] * 1000:.0f} ms, "
                f"{info['estimator_calls']} estimates)")
    else:
        return _full(emb, users, request)
    return _shipped(emb, selection, options, request.budget_bytes, info, what, users)


def _full(emb: RunEmbeddings, users: tuple[int, ...] | None, request: ExportRequest,
          layout: Selection | None = None, *, fit_budget: bool = True) -> Exported:
    """The dense baseline (or a given layout): its longest prefix within the budget."""
    selection = DenseSelection(emb.item.shape[1]) if layout is None else layout
    kind = {DenseSelection: "dense", BlockSelection: "blocks",
            RaggedSelection: "ragged"}[type(selection)]
    # the manifest's method: the dense baseline, or the caller's own layout, truncated
    options = BuildOptions(value_dtype=request.value_dtype, users=users,
                           method="dense-truncate" if kind == "dense" else "given-truncate",
                           item_ids=request.item_ids,
                           seen=request.seen_rows)
    full_level = selection.level
    if fit_budget:
        selection = fit(emb, selection, options, request.budget_bytes)
    if kind == "dense":
        info = {"width": selection.width}
        what = f"dense width {selection.width} of {emb.item.shape[1]}"
    else:
        info = {"level": selection.level}
        what = f"{kind} layout, {selection.level} of {full_level} values"
    budget_bytes = request.budget_bytes if fit_budget else None
    return _shipped(emb, selection, options, budget_bytes, info, what, users)


def _shipped(emb: RunEmbeddings, selection: Selection, options: BuildOptions,
             budget_bytes: int | None, info: dict, what: str,
             users: tuple[int, ...] | None) -> Exported:
    """The package of ``selection`` and its summary (``budget_bytes`` None: no budget)."""
    data = build(emb, selection, options, budget_bytes=budget_bytes)
    n_users = len(emb.user) if users is None else len(users)
    per_device = ""
    if n_users > 1:
        info["device_bytes"] = device_bytes(plan(emb, selection, options))
        per_device = (f"; each single-user package is at most "
                      f"{format_bytes(info['device_bytes'])}")
    budget = "no budget" if budget_bytes is None else f"budget {format_bytes(budget_bytes)}"
    return Exported(data, f"{format_bytes(len(data))}, {what}, {options.value_dtype}, "
                          f"{n_users} user(s); {budget}{per_device}", info)


def export_embeddings(embeddings: RunEmbeddings, budget: int | str | None, *,
                      user: int | None = None, dtype: str = "float32",
                      item_ids: str = "auto", layout: Selection | None = None) -> Exported:
    """A device package straight from a pair of tables (no run folder): the longest prefix
    of ``layout`` whose single-user package fits ``budget`` (an int of bytes, or ``"2MB"``,
    ``"512KiB"``, ``"10%"`` of the full float32 item table; ``None``: all of ``layout``).

    ``layout`` says which values ship, in priority order: a ``DenseSelection(width)`` (every
    item's first positions; the default, at full width, so the budget picks the widest W),
    a ``BlockSelection`` (item groups, each shipping its own blocks) or a ``RaggedSelection``
    (each item at its own width). ``user``: the row of the one user it ships (default: every
    user, an evaluation bundle whose single-user packages fit the budget). ``item_ids``:
    ``"auto"`` (the smallest exact id map) or ``"catalogue"`` (a reference to the device's
    catalogue: see ``runtime.load(..., catalogue=)``). A budget that holds no item value
    raises ``BudgetExceeded``, a layout that does not match the tables ``ConfigError``. The
    manifest's method is ``dense-truncate`` for a dense layout, ``given-truncate`` for
    another. ``info`` holds the shipped ``level`` (the dense ``width``) and, for a bundle,
    each single-user package's size (``device_bytes``).

    >>> emb = elasticrec.RunEmbeddings(user=u, item=v, dataset="mine",  # doctest: +SKIP
    ...     dataset_fingerprint="-", model="mf", user_labels=users, item_labels=items)
    >>> elasticrec.export_embeddings(emb, "10%", user=0).data  # doctest: +SKIP
    """
    if budget is None:
        budget_bytes = None
    elif isinstance(budget, str):
        budget_bytes = parse_budget(budget,
                                    full_table_bytes=full_table_bytes(*embeddings.item.shape))
    elif isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ElasticrecError(f"budget {budget!r} is not a positive number of bytes, a "
                              "string such as '2MB' or '10%', or None")
    else:
        budget_bytes = int(budget)
    if user is not None and not 0 <= int(user) < len(embeddings.user):
        raise ElasticrecError(f"user row {user} is not in 0..{len(embeddings.user) - 1}")
    if item_ids not in ("auto", "catalogue"):
        raise ElasticrecError(f"item_ids {item_ids!r} is not 'auto' or 'catalogue'")
    if layout is not None and not isinstance(layout, Selection):
        raise ElasticrecError(f"layout {type(layout).__name__} is not a DenseSelection, "
                              "BlockSelection or RaggedSelection")
    request = ExportRequest(0 if budget_bytes is None else budget_bytes,
                            user_row=None if user is None else int(user), value_dtype=dtype,
                            item_ids=item_ids)
    users = None if user is None else (int(user),)
    return _full(embeddings, users, request, layout, fit_budget=budget_bytes is not None)


def _users(emb: RunEmbeddings, request: ExportRequest
           ) -> tuple[RunEmbeddings, tuple[int, ...] | None]:
    """The embeddings to ship from and the user rows: one user, a new user folded in from
    their history (the only user of the returned embeddings), or every user (None)."""
    if request.history_rows is not None:
        vector = fold_in(emb.item, request.history_rows).astype(np.float32)
        return replace(emb, user=vector[None], user_labels=["new"]), None
    return emb, None if request.user_row is None else (request.user_row,)


def _peel(emb: RunEmbeddings, elastic: ElasticState, state: PeelState,
          request: ExportRequest) -> Exported:
    if request.history_rows is not None:
        cluster, group = place_new_user(emb, state, elastic.item_group, request.history_rows)
        emb, rows = group, None
    elif request.user_row is not None:
        cluster, rows = int(state.user_cluster[request.user_row]), np.array([request.user_row])
    else:
        raise ElasticrecError("a PEEL run's packages are per user group: give a user or a "
                              "history")
    t0 = time.perf_counter()
    data, selection, seconds = group_package(emb, state, elastic.item_group, cluster, rows,
                                             request.budget_bytes,
                                             value_dtype=request.value_dtype,
                                             item_ids=request.item_ids, seen=request.seen_rows)
    info = {"user_group": cluster, "blocks": selection.level, "select_seconds": seconds,
            "seconds": time.perf_counter() - t0}
    return Exported(data, f"{format_bytes(len(data))}, user group {cluster}, {selection.level} "
                          f"blocks by learned weight (selected in {seconds * 1000:.1f} ms), "
                          f"{request.value_dtype}; budget {format_bytes(request.budget_bytes)}",
                    info)
