"""A run's device packages for a budget, by the run's method (NumPy only: no PyTorch).

* ``full``: the dense baseline, every item's first W positions for the widest W that fits (a
  mixed-dimension run: its ragged rows, as trained, the longest column-major prefix);
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

Tables ship in a ``basis`` (``export/basis.py``): ``"svd"`` (the default), the
score-preserving rotation of the run's full tables, computed once per run from every training
user and item (PEEL: once per user group) and kept in a ``Bases`` cache, with prefix-form
block selections; or ``"trained"``, the tables as trained. A new user's vector is folded in
against the trained items and then mapped into the basis (``u A``), so it scores as the
trained model would. Full-width scores are the same in either basis.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from elasticrec.budget.selection import (
    POPULAR_SHARE,
    BlockSelection,
    DenseSelection,
    RaggedSelection,
    Selection,
    popular_selection,
)
from elasticrec.budget.units import format_bytes, full_table_bytes, parse_budget
from elasticrec.elastic.search import Infeasible, SearchConfig
from elasticrec.elastic.select import STRATEGIES, rule_selection
from elasticrec.elastic.state import ElasticState
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.basis import BASES, Basis, rotate, score_basis
from elasticrec.export.builder import BuildOptions, build, fit, plan
from elasticrec.format.manifest import VALUE_DTYPES
from elasticrec.format.sizes import device_bytes
from elasticrec.format.values import QUANTIZED
from elasticrec.peel.cluster import fold_in
from elasticrec.peel.export import group_basis, group_package, place_new_user
from elasticrec.peel.state import PeelState


@dataclass(frozen=True)
class Exported:
    """A package's bytes and how they were chosen."""

    data: bytes
    summary: str  # one line: what ships and what it cost to choose
    info: dict  # method-specific details (width, blocks, user group, timings)


SCALES = ("row", "column")  # integer values' scales (docs/FORMAT.md section 5)


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
    basis: str = "svd"  # or "trained" (export/basis.py)
    popularity: np.ndarray | None = None  # dense runs: per-item counts; popular items wider
    popular_share: float = POPULAR_SHARE
    # mixed-dimension runs: each item row's trained width; ships them ragged, as trained
    row_widths: np.ndarray | None = None
    scales: str = "row"  # integer values: one scale per item "row" or per position "column"

    def __post_init__(self) -> None:
        if self.value_dtype not in VALUE_DTYPES:
            raise ElasticrecError(f"dtype {self.value_dtype!r} is not one of "
                                  f"{sorted(VALUE_DTYPES)}")
        if self.strategy not in STRATEGIES:
            raise ElasticrecError(f"strategy {self.strategy!r} is not one of {STRATEGIES}")
        if self.basis not in BASES:
            raise ElasticrecError(f"basis {self.basis!r} is not one of {BASES}")
        if self.user_row is not None and self.history_rows is not None:
            raise ElasticrecError("give a user or a history, not both")
        if self.scales not in SCALES:
            raise ElasticrecError(f"scales {self.scales!r} is not one of {SCALES}")

    def build_options(self, users: tuple[int, ...] | None, method: str) -> BuildOptions:
        """How the package stores what it ships (``scales`` only for integer values)."""
        return BuildOptions(value_dtype=self.value_dtype, users=users, method=method,
                            item_ids=self.item_ids, seen=self.seen_rows,
                            scales=self.scales if self.value_dtype in QUANTIZED else "auto")


class Bases:
    """One run's score-preserving bases, each computed once: the run's (from every training
    user and item of ``emb``, with the rotated tables) and, for PEEL, each user group's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run: tuple[Basis, RunEmbeddings] | None = None
        self._groups: dict[int, Basis] = {}

    def run(self, emb: RunEmbeddings) -> tuple[Basis, RunEmbeddings]:
        """The basis of ``emb``'s full tables and ``emb`` rotated by it."""
        with self._lock:
            if self._run is None:
                basis = score_basis(emb.user, emb.item)
                self._run = (basis, rotate(emb, basis))
            return self._run

    def group(self, state: PeelState, item_group: np.ndarray, cluster: int) -> Basis:
        with self._lock:
            if cluster not in self._groups:
                self._groups[cluster] = group_basis(state, item_group, cluster)
            return self._groups[cluster]


def export(method: str, emb: RunEmbeddings, request: ExportRequest, *,
           elastic: ElasticState | None = None, peel: PeelState | None = None,
           bases: Bases | None = None) -> Exported:
    """The package ``request`` asks for from a run of ``method`` (its state passed in);
    ``bases``: the run's cache of bases (default: computed for this call)."""
    bases = bases or Bases()
    if method == "peel":
        return _peel(emb, elastic, peel, request, bases)
    emb, users = _users(emb, request, bases)
    if method == "rule":
        options = request.build_options(users, f"rule-{request.strategy}")
        search = SearchConfig.released() if request.released_search else SearchConfig()
        try:
            selection, info = rule_selection(emb, elastic, request.budget_bytes, options,
                                             strategy=request.strategy, seed=request.seed,
                                             search=search, prefixes=request.basis == "svd")
        except Infeasible as exc:
            raise ElasticrecError(f"budget {format_bytes(request.budget_bytes)}: {exc}") from exc
        what = (f"{info['blocks']} blocks of {selection.n_groups}x{selection.n_blocks} "
                f"({request.strategy} in {info['seconds'] * 1000:.0f} ms, "
                f"{info['estimator_calls']} estimates)")
    elif request.popularity is not None:
        return _popular(emb, users, request)
    elif request.row_widths is not None:
        return _full(emb, users, request, RaggedSelection(request.row_widths))
    else:
        return _full(emb, users, request)
    return _shipped(emb, selection, options, request.budget_bytes, info, what, users,
                    request.basis)


def _popular(emb: RunEmbeddings, users: tuple[int, ...] | None,
             request: ExportRequest) -> Exported:
    """The dense baseline with the ``popular_share`` most popular items twice as wide."""
    if len(request.popularity) != len(emb.item):
        raise ElasticrecError(f"popularity has {len(request.popularity)} counts for "
                              f"{len(emb.item)} items")
    options = request.build_options(users, "dense-popular")
    template = popular_selection(request.popularity, emb.item.shape[1], request.popular_share)
    selection = fit(emb, template, options, request.budget_bytes)
    what = (f"{selection.level} positions, the {request.popular_share:.0%} most popular "
            f"items twice as wide")
    return _shipped(emb, selection, options, request.budget_bytes,
                    {"positions": selection.level}, what, users, request.basis)


def _full(emb: RunEmbeddings, users: tuple[int, ...] | None, request: ExportRequest,
          layout: Selection | None = None, *, fit_budget: bool = True) -> Exported:
    """The dense baseline (or a given layout): its longest prefix within the budget."""
    selection = DenseSelection(emb.item.shape[1]) if layout is None else layout
    kind = {DenseSelection: "dense", BlockSelection: "blocks",
            RaggedSelection: "ragged"}[type(selection)]
    # the manifest's method: the dense baseline, or the caller's own layout, truncated
    options = request.build_options(
        users, "dense-truncate" if kind == "dense" else "given-truncate")
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
    return _shipped(emb, selection, options, budget_bytes, info, what, users, request.basis)


def device_note(n_users: int, layout_plan, info: dict) -> str:
    """For a bundle of several users, the largest single-user package (``layout_plan()``
    gives the bundle's plan), recorded in ``info`` and said in the summary."""
    if n_users <= 1:
        return ""
    info["device_bytes"] = device_bytes(layout_plan())
    return f"; each single-user package is at most {format_bytes(info['device_bytes'])}"


def _shipped(emb: RunEmbeddings, selection: Selection, options: BuildOptions,
             budget_bytes: int | None, info: dict, what: str,
             users: tuple[int, ...] | None, basis: str) -> Exported:
    """The package of ``selection`` and its summary (``budget_bytes`` None: no budget)."""
    info["basis"] = basis
    data = build(emb, selection, options, budget_bytes=budget_bytes)
    n_users = len(emb.user) if users is None else len(users)
    per_device = device_note(n_users, lambda: plan(emb, selection, options), info)
    budget = "no budget" if budget_bytes is None else f"budget {format_bytes(budget_bytes)}"
    return Exported(data, f"{format_bytes(len(data))}, {what}, {options.value_dtype}, "
                          f"{basis} basis, {n_users} user(s); {budget}{per_device}", info)


def export_embeddings(embeddings: RunEmbeddings, budget: int | str | None, *,
                      user: int | None = None, dtype: str = "float32",
                      item_ids: str = "auto", layout: Selection | None = None,
                      basis: str = "svd", popularity: np.ndarray | None = None,
                      popular_share: float = POPULAR_SHARE, scales: str = "row") -> Exported:
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
    each single-user package's size (``device_bytes``). ``basis``: ``"svd"`` ships the tables
    rotated by the score-preserving basis of ``embeddings`` (which must then hold every
    training user), ``"trained"`` as they are. ``popularity`` (one count per item, e.g.
    training events; instead of ``layout``): the ``popular_share`` most popular items get
    twice the width of the others (a blocks package of two item groups, one position per
    block), the longest such prefix that fits. ``scales``: integer values' scales, one per
    item ``"row"`` or one per position ``"column"`` (format version 5).

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
    if popularity is not None and (layout is not None or budget_bytes is None):
        raise ElasticrecError("popularity chooses the layout within a budget: give a budget "
                              "and no layout")
    request = ExportRequest(0 if budget_bytes is None else budget_bytes,
                            user_row=None if user is None else int(user), value_dtype=dtype,
                            item_ids=item_ids, basis=basis, popularity=popularity,
                            popular_share=popular_share, scales=scales)
    emb, users = _users(embeddings, request, Bases())
    if popularity is not None:
        return _popular(emb, users, request)
    return _full(emb, users, request, layout, fit_budget=budget_bytes is not None)


def _users(emb: RunEmbeddings, request: ExportRequest, bases: Bases
           ) -> tuple[RunEmbeddings, tuple[int, ...] | None]:
    """The embeddings to ship from, in the request's basis, and the user rows: one user, a
    new user folded in from their history (the only user of the returned embeddings), or
    every user (None)."""
    shipped, basis = emb, None
    if request.basis == "svd":
        basis, shipped = bases.run(emb)
    if request.history_rows is not None:
        vector = fold_in(emb.item, request.history_rows)  # against the trained items
        if basis is not None:
            vector = np.asarray(vector, np.float64)[None] @ basis.user_map
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return replace(shipped, user=vector, user_labels=["new"]), None
    return shipped, None if request.user_row is None else (request.user_row,)


def _peel(emb: RunEmbeddings, elastic: ElasticState, state: PeelState,
          request: ExportRequest, bases: Bases) -> Exported:
    if request.history_rows is not None:
        cluster, group = place_new_user(emb, state, elastic.item_group, request.history_rows)
        emb, rows = group, None
    elif request.user_row is not None:
        cluster, rows = int(state.user_cluster[request.user_row]), np.array([request.user_row])
    else:
        raise ElasticrecError("a PEEL run's packages are per user group: give a user or a "
                              "history")
    t0 = time.perf_counter()
    rotation = (bases.group(state, elastic.item_group, cluster) if request.basis == "svd"
                else None)
    data, selection, seconds = group_package(emb, state, elastic.item_group, cluster, rows,
                                             request.budget_bytes,
                                             options=request.build_options(None, "peel"),
                                             basis=request.basis, rotation=rotation)
    info = {"user_group": cluster, "blocks": selection.level, "select_seconds": seconds,
            "seconds": time.perf_counter() - t0, "basis": request.basis}
    return Exported(data, f"{format_bytes(len(data))}, user group {cluster}, {selection.level} "
                          f"blocks by learned weight (selected in {seconds * 1000:.1f} ms), "
                          f"{request.value_dtype}, {request.basis} basis; budget "
                          f"{format_bytes(request.budget_bytes)}", info)
