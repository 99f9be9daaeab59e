"""``Run``: a finished training run, as the public API hands it out and loads it back.

A ``Run`` is a complete run folder (``rundir``): ``elasticrec.fit`` returns one, and
``elasticrec.load_run(path)`` opens one (refusing an unfinished or altered folder). It
evaluates itself, recommends for its users, finds similar items and exports device packages
for any budget; what a method ships is decided by the method recorded in its config.

Users and items are named by their ids as in the source data (integers where every id is an
integer, else strings), never by internal row numbers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from elasticrec.atomic import write_bytes
from elasticrec.budget.units import budget_to_bytes, full_table_bytes
from elasticrec.elastic.state import ElasticState, load_elastic
from elasticrec.embeddings import QRFactors, RunEmbeddings, load_embeddings, load_qr_factors
from elasticrec.errors import ElasticrecError
from elasticrec.eval.ranking import top_k
from elasticrec.export.basis import BASES
from elasticrec.models.mixed import trained_widths
from elasticrec.peel.export import gated_items
from elasticrec.peel.state import PeelState, load_peel
from elasticrec.pipeline import rundir
from elasticrec.pipeline.export import Bases, Exported, ExportRequest, export
from elasticrec.pipeline.precision import AUTO, METRIC, choose_dtype, split_candidate
from elasticrec.tensorfile import read_json_lines

if TYPE_CHECKING:
    from elasticrec.data.prepare import PreparedData

Budget = int | str
HISTORY_FILE = "metrics.jsonl"  # the trainer's per-epoch records


class Run:
    """A finished run folder. Load one with ``elasticrec.load_run(path)``."""

    def __init__(self, path: str | os.PathLike, *, data: PreparedData | None = None,
                 keep: object = None, verify: bool = True) -> None:
        self.path = Path(path)
        self.config = rundir.read_config(self.path)
        rundir.check_complete(self.path, self.config, verify=verify)
        self.method: str = self.config["method"]
        self.model: str = self.config["model"]["model"]
        self._data = data
        self._keep = keep  # a temporary folder lives as long as its run
        self._bases = Bases()  # the score-preserving bases, computed once each
        self._dtypes: dict[tuple, tuple[str, dict]] = {}  # dtype="auto"'s choices

    def __repr__(self) -> str:
        return (f"Run({str(self.path)!r}, method={self.method!r}, model={self.model!r}, "
                f"dataset={self.config['data']['dataset']!r})")

    # --- what the folder holds -------------------------------------------------------------
    @functools.cached_property
    def result(self) -> dict:
        """The test evaluation record written at the end of training."""
        return rundir.read_json(self.path / rundir.RESULT_FILE, "a finished run")

    @property
    def history(self) -> list[dict]:
        """The training record of every epoch, in order (``epoch``, ``loss``, ``lr``,
        ``train_seconds``, and the validation or monitored test metrics where measured, e.g.
        ``"valid/recall@20"``, ``"test/recall@20"``), as training wrote them."""
        path = self.path / HISTORY_FILE
        if not path.is_file():
            return []
        return read_json_lines(path, rundir.MAX_JSON_BYTES)

    @functools.cached_property
    def embeddings(self) -> RunEmbeddings:
        return load_embeddings(self.path)

    @functools.cached_property
    def qr_factors(self) -> QRFactors | None:
        """A QR-MF run's quotient and remainder tables (``fit(model="mf", qr_buckets=m)``),
        whose products are ``embeddings.item``; ``None`` for any other run."""
        return load_qr_factors(self.path) if self.config["model"].get("qr_buckets") else None

    @functools.cached_property
    def elastic_state(self) -> ElasticState | None:
        return load_elastic(self.path) if self.method in ("rule", "peel") else None

    @functools.cached_property
    def peel_state(self) -> PeelState | None:
        return load_peel(self.path) if self.method == "peel" else None

    @functools.cached_property
    def user_ids(self) -> np.ndarray:
        """Every user's id as in the source data, in row order."""
        return _ids(self.embeddings.user_labels)

    @functools.cached_property
    def item_ids(self) -> np.ndarray:
        return _ids(self.embeddings.item_labels)

    @functools.cached_property
    def item_widths(self) -> np.ndarray | None:
        """A mixed-dimension run's width of each item row (``fit(model="mf",
        item_widths=...)``, models/mixed.py), which its packages ship ragged and as
        trained; None for a run of full rows."""
        if not self.config["model"].get("item_widths"):
            return None
        return trained_widths(self.embeddings.item)

    @property
    def full_table_bytes(self) -> int:
        """Bytes of the full float32 item table (what a percentage budget is a share of)."""
        return full_table_bytes(*self.embeddings.item.shape)

    def budget_bytes(self, budget: Budget) -> int:
        """``budget`` in bytes: an int, or a string such as ``"2MB"``, ``"512KiB"``, ``"10%"``."""
        return budget_to_bytes(budget, full_table_bytes=self.full_table_bytes)

    def data(self, *, data_dir: str | os.PathLike | None = None,
             download: bool = True) -> PreparedData:
        """The run's train / validation / test split, rebuilt and checked against the run's
        dataset fingerprint (kept in memory after the first call)."""
        if self._data is None:  # the data stack (pyarrow, scipy) loads only here
            from elasticrec.data.prepare import DataConfig, prepare, split_dataset

            config = DataConfig(**self.config["data"])
            if self.config.get("data_source") == "memory":
                data = split_dataset(config, rundir.load_dataset_file(self.path))
            else:
                data = prepare(config, None if data_dir is None else Path(data_dir),
                               download=download)
            if data.fingerprint != self.config["dataset_fingerprint"]:
                raise ElasticrecError(
                    f"{self.path}: the dataset {data.name!r} found is not the data this run "
                    f"was trained on (fingerprint {data.fingerprint} != "
                    f"{self.config['dataset_fingerprint']})")
            self._data = data
        return self._data

    # --- quality ---------------------------------------------------------------------------
    def evaluate(self, k: Sequence[int] = (20,), *, budget: Budget | None = None,
                 package: bytes | str | os.PathLike | None = None, dtype: str = "float32",
                 strategy: str = "search", seed: int = 0, split: str = "test",
                 per_user: bool = False, basis: str = "svd", scales: str = "row",
                 data_dir: str | os.PathLike | None = None, download: bool = True) -> dict:
        """Full-ranking metrics on the test split (training and validation items excluded),
        or with ``split="valid"`` on the validation split (training items excluded).

        Without ``budget`` or ``package``: the server model. With ``budget``: what ships at
        that budget, scored through the NumPy device runtime (PEEL: every user with their
        group's package; otherwise the every-user bundle, chosen by ``strategy`` and ``seed``
        for RULE runs, values in ``dtype`` with ``scales`` (``auto``: the type and scales
        ``choose_dtype`` picks on the validation split), tables in ``basis`` as ``export``
        ships them).
        With ``package``: that bundle, exported from this
        run (bytes or a file). ``per_user=True`` adds ``"per_user"``: each metric as a float64
        array over every user row (NaN where a user has no event in the split)."""
        from elasticrec.pipeline.evaluation import evaluate_run

        if dtype == AUTO and budget is not None and package is None:
            dtype, scales = split_candidate(self.choose_dtype(
                budget, strategy=strategy, seed=seed, basis=basis, data_dir=data_dir,
                download=download)[0])
        return evaluate_run(self, _ks(k), budget=budget, package=package, dtype=dtype,
                            strategy=strategy, seed=seed, split=split, per_user=per_user,
                            basis=basis, scales=scales, data_dir=data_dir, download=download)

    # --- serving on the server -------------------------------------------------------------
    def recommend(self, users, k: int = 20, *, exclude_seen: bool = True,
                  data_dir: str | os.PathLike | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` items for each of ``users`` (ids as in the source data), best first:
        ``(items, scores)``, each of shape ``(len(users), k)``; items a user saw in training
        are left out unless ``exclude_seen=False`` (rows are padded with -1 / -inf when too
        few items remain). PEEL runs score each user with their group's tables."""
        rows = self._rows(users, self.user_ids, "user")
        user_vectors, item_tables = self._scoring_tables(rows)
        scores = np.empty((len(rows), len(self.item_ids)), dtype=np.float32)
        for table, mask in item_tables:
            scores[mask] = user_vectors[mask] @ table.T
        indptr = indices = None
        if exclude_seen:
            seen = self.data(data_dir=data_dir).known.to_csr()[rows]
            indptr, indices = seen.indptr, seen.indices
        best = top_k(scores, _k(k), exclude_indptr=indptr, exclude_indices=indices)
        picked = np.take_along_axis(scores, np.maximum(best, 0), axis=1)
        return _label(self.item_ids, best), np.where(best >= 0, picked, -np.inf)

    def similar_items(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each of ``items`` by the cosine of their final
        embeddings (the item itself left out): ``(items, similarities)``."""
        rows = self._rows(items, self.item_ids, "item")
        table = self.embeddings.item.astype(np.float32)
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        unit = table / np.maximum(norms, np.finfo(np.float32).tiny)
        sims = unit[rows] @ unit.T
        best = top_k(sims, _k(k), exclude_indptr=np.arange(len(rows) + 1),
                     exclude_indices=rows)
        picked = np.take_along_axis(sims, np.maximum(best, 0), axis=1)
        return _label(self.item_ids, best), np.where(best >= 0, picked, -np.inf)

    # --- device packages -------------------------------------------------------------------
    def export_detailed(self, budget: Budget, *, user=None, history: Sequence | None = None,
                        dtype: str | None = None, strategy: str = "search", seed: int = 0,
                        released_search: bool = False, bundle: bool = False,
                        item_ids: str = "auto", seen: bool = False, basis: str = "svd",
                        scales: str = "row",
                        data_dir: str | os.PathLike | None = None) -> Exported:
        """``export``'s package with a summary of what ships and how it was chosen."""
        if (user is None and history is None) != bundle:
            raise ElasticrecError("give user= or history= for a device package, or ask for "
                                  "the every-user bundle (export_bundle), not both")
        if seen and bundle:
            raise ElasticrecError("seen=True ships one user's seen items: give user= or "
                                  "history=, not the every-user bundle")
        user_row = None if user is None else int(self._rows([user], self.user_ids, "user")[0])
        history_rows = None if history is None else self._rows(history, self.item_ids,
                                                               "history item")
        seen_rows = None
        if seen and history_rows is not None:
            seen_rows = tuple(np.unique(history_rows).tolist())
        elif seen:
            known = self.data(data_dir=data_dir).known.to_csr()
            seen_rows = tuple(np.sort(known[user_row].indices).tolist())
        chosen = None
        if dtype == AUTO:
            chosen = self.choose_dtype(budget, strategy=strategy, seed=seed, basis=basis,
                                       data_dir=data_dir)
            dtype, scales = split_candidate(chosen[0])
        widths = self.item_widths
        if widths is not None:  # a rotation would spread every row over every position
            basis = "trained"
        request = ExportRequest(
            self.budget_bytes(budget), user_row=user_row, history_rows=history_rows,
            value_dtype=dtype or "float32", strategy=strategy, seed=seed,
            released_search=released_search, item_ids=item_ids, seen_rows=seen_rows,
            basis=basis, row_widths=widths, scales=scales)
        got = export(self.method, self.embeddings, request, elastic=self.elastic_state,
                     peel=self.peel_state, bases=self._bases)
        if chosen is None:
            return got
        scores = ", ".join(f"{d} {v:.4f}" for d, v in chosen[1].items())
        return replace(got, summary=f"{got.summary}; {chosen[0]} chosen on validation "
                                    f"{METRIC} ({scores})",
                       info={**got.info, "value_dtype": dtype, "scales": scales,
                             "dtype_scores": chosen[1]})

    def choose_dtype(self, budget: Budget, *, strategy: str = "search", seed: int = 0,
                     basis: str = "svd", data_dir: str | os.PathLike | None = None,
                     download: bool = True) -> tuple[str, dict]:
        """The item value type ``dtype="auto"`` ships at ``budget``: of float32, float16,
        int8 and int4 (integers with row or column scales: ``"int4-column"``), the one whose
        package (as ``export`` builds it with ``strategy``, ``seed`` and ``basis``) scores
        the highest validation Recall@20 through the device runtime; with every candidate's
        score (``pipeline/precision.py``). Needs the run's validation split; computed once
        per budget and setting."""
        budget_bytes = self.budget_bytes(budget)
        key = (budget_bytes, strategy, seed, basis)
        if key not in self._dtypes:
            if self.data(data_dir=data_dir, download=download).valid is None:
                raise ElasticrecError(f"{self.path}: dtype='auto' chooses the value type on "
                                      "the validation split and this run has none (train "
                                      "with valid_ratio > 0, or give a dtype)")

            def score(name: str) -> float:
                dtype, scales = split_candidate(name)
                return self.evaluate(budget=budget_bytes, dtype=dtype, scales=scales,
                                     strategy=strategy, seed=seed, split="valid",
                                     basis=basis, data_dir=data_dir,
                                     download=download)[METRIC]

            self._dtypes[key] = choose_dtype(score, budget_bytes)
        return self._dtypes[key]

    def export(self, budget: Budget, *, user=None, history: Sequence | None = None,
               dtype: str | None = None, strategy: str = "search", seed: int = 0,
               released_search: bool = False, item_ids: str = "auto",
               seen: bool = False, basis: str = "svd", scales: str = "row") -> bytes:
        """The device package of ``user`` (their id in the source data) or of a new user
        with the item ids ``history``, within ``budget`` bytes of the whole file (an int, or
        ``"2MB"``, ``"512KiB"``, ``"10%"`` of the full float32 item table). ``dtype``: item
        value type (``float32`` default, ``float16``, ``int8``, ``int4``, ``int2``; ``auto``:
        the candidate that scores best on the validation split at this budget,
        ``choose_dtype``). ``scales``: an integer type's scales, one per item ``"row"``
        (4 bytes an item) or one per position ``"column"`` (format version 5). RULE
        runs choose blocks by ``strategy`` (``search``, ``greedy`` or ``random``;
        ``released_search`` for the released search setting). ``item_ids="catalogue"``
        names the items by the device's catalogue instead of shipping their ids;
        ``seen=True`` ships the user's seen items (training items, or ``history``), which
        the device's ``recommend`` then leaves out; both count toward the budget.
        ``basis``: ``"svd"`` (default) ships the tables rotated by the run's score-preserving
        basis (the same scores at full width, the most score in the leading positions, so
        prefixes and blocks keep more; RULE and PEEL ship each item group's leading blocks),
        ``"trained"`` as trained (docs/methods.md)."""
        return self.export_detailed(budget, user=user, history=history, dtype=dtype,
                                    strategy=strategy, seed=seed,
                                    released_search=released_search, item_ids=item_ids,
                                    seen=seen, basis=basis, scales=scales).data

    def export_bundle(self, budget: Budget, *, dtype: str | None = None,
                      strategy: str = "search", seed: int = 0,
                      released_search: bool = False, basis: str = "svd",
                      scales: str = "row") -> bytes:
        """The every-user evaluation bundle (not for PEEL runs, whose packages are per user
        group): the selection for ``budget`` with every user's vector. It is larger than the
        budget, which bounds each single-user package cut from it (``export_detailed(...,
        bundle=True)`` gives that bound as ``info["device_bytes"]``)."""
        return self.export_detailed(budget, dtype=dtype, strategy=strategy, seed=seed,
                                    released_search=released_search, bundle=True,
                                    basis=basis, scales=scales).data

    def export_all(self, budget: Budget, users: Sequence | None = None, *,
                   out_dir: str | os.PathLike, dtype: str | None = None,
                   basis: str = "svd", scales: str = "row") -> list[Path]:
        """One package per user (default: every user) as ``out_dir/user<ID>.erpkg``, each
        within ``budget`` and in ``basis`` (see ``export``); all are built before any is
        written."""
        users = list(self.user_ids if users is None else users)
        packages = [(user, self.export(budget, user=user, dtype=dtype, basis=basis,
                                       scales=scales))
                    for user in users]
        out = Path(out_dir)
        paths = []
        for user, data in packages:
            path = out / f"user{user}.erpkg"
            write_bytes(path, data)
            paths.append(path)
        return paths

    def user_vectors(self, basis: str = "svd") -> np.ndarray:
        """Every user's vector (row order) as their package ships it in ``basis``: the
        trained (PEEL: refined) vector, rotated by the run's (PEEL: the user's group's)
        score-preserving basis for ``"svd"``. A package's item part with one of these
        vectors (``runtime.Package.with_user``) is that user's package."""
        if basis not in BASES:
            raise ElasticrecError(f"basis {basis!r} is not one of {BASES}")
        if self.method != "peel":
            if basis == "trained":
                return self.embeddings.user
            return self._bases.run(self.embeddings)[1].user
        state = self.peel_state
        if basis == "trained":
            return state.user
        out = np.empty_like(state.user, dtype=np.float32)
        for c in np.unique(state.user_cluster):
            user_map = self._bases.group(state, self.elastic_state.item_group, int(c)).user_map
            for row in np.flatnonzero(state.user_cluster == c):  # as one user's package does
                out[row] = (np.asarray(state.user[row:row + 1], np.float64) @ user_map)[0]
        return out

    # --- a new run from this one -------------------------------------------------------------
    def personalise(self, *, out: str | os.PathLike | None = None, workers: int = 1,
                    log=None, **options) -> Run:
        """PEEL's personalisation on this RULE (or PEEL) run's trained tables, without
        training them again: a new PEEL run in ``out`` (``None``: a temporary folder that
        lives as long as the returned ``Run``). ``options``: PEEL's fields as ``fit`` takes
        them (``n_clusters``, ``cost``, ``gate``, ``peel_epochs``, ``peel_lr``, ``peel_l2``...);
        unset ones take ``fit``'s defaults (``peel_l2``: this run's ``l2``). The result is
        the run ``fit(method="peel")`` would write with the same options.

        >>> peel = elasticrec.load_run("runs/rule").personalise(n_clusters=4)  # doctest: +SKIP
        """
        from elasticrec.pipeline.personalise import personalise_run

        return personalise_run(self, out=out, workers=workers, log=log, options=options)

    # --- helpers ---------------------------------------------------------------------------
    def _scoring_tables(self, rows: np.ndarray
                        ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The user vectors of ``rows`` and the item tables that score them, each with the
        mask of the rows it scores (PEEL: one gated table per user group)."""
        if self.method != "peel":
            return self.embeddings.user[rows], [(self.embeddings.item,
                                                 np.ones(len(rows), dtype=bool))]
        state, groups = self.peel_state, self.elastic_state.item_group
        clusters = state.user_cluster[rows]
        return state.user[rows], [
            (gated_items(state.item[c], groups, state.weights[c]), clusters == c)
            for c in np.unique(clusters)]

    @staticmethod
    def _rows(ids, known: np.ndarray, what: str) -> np.ndarray:
        values = np.atleast_1d(np.asarray(ids, dtype=object))
        if values.ndim != 1 or not len(values):
            raise ElasticrecError(f"{what}s: give one id or a sequence of ids")
        index = {str(x): i for i, x in enumerate(known)}
        missing = [v for v in values if str(v) not in index]
        if missing:
            raise ElasticrecError(f"{what} {missing[0]!r} is not in this run "
                                  f"({len(missing)} unknown of {len(values)})")
        return np.array([index[str(v)] for v in values], dtype=np.int64)


def load_run(path: str | os.PathLike, *, verify: bool = True) -> Run:
    """Open a finished run folder (``verify``: check its files' sha256 against the record)."""
    return Run(path, verify=verify)


def _ids(labels: Sequence[str]) -> np.ndarray:
    """Labels as an int64 array where each is the decimal form of an integer, else strings."""
    labels = [str(x) for x in labels]
    try:
        ints = np.array([int(x) for x in labels], dtype=np.int64)
    except (ValueError, OverflowError):
        return np.array(labels, dtype=object)
    if all(str(v) == x for v, x in zip(ints.tolist(), labels, strict=True)):
        return ints
    return np.array(labels, dtype=object)


def _label(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = ids[np.maximum(rows, 0)]
    if ids.dtype == object:
        out = out.astype(object)
        out[rows < 0] = None
        return out
    return np.where(rows >= 0, out, -1)


def _ks(k) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, int | np.integer) else tuple(k)
    if not ks or any(isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 1
                     for x in ks):
        raise ElasticrecError(f"k={k!r}: cut-offs must be positive integers")
    return tuple(sorted({int(x) for x in ks}))


def _k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ElasticrecError(f"k={k!r}: give a positive integer")
    return int(k)
