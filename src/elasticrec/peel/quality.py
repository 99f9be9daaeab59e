"""PEEL's quality, measured on what ships: each user scored through the runtime by their
group's package at a budget, or by their group's tables with every block (before any budget),
with the same full-ranking evaluation as the server model."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from elasticrec import runtime
from elasticrec.embeddings import RunEmbeddings
from elasticrec.eval.evaluate import EvalResult, evaluate_ranking, score_fn_from_embeddings
from elasticrec.export.builder import BuildOptions, item_ids
from elasticrec.format.sizes import device_bytes
from elasticrec.format.values import QUANTIZED
from elasticrec.peel.export import gated_items, group_package
from elasticrec.peel.state import PeelState


def evaluate_group_package(data: bytes, rows: np.ndarray, known: sp.csr_matrix,
                           test: sp.csr_matrix, ks: tuple[int, ...] = (20,)) -> EvalResult | None:
    """Per-user metrics of a group's package (holding users ``rows``, in that order) for those
    of them with a test item, through the NumPy runtime; None when none has one."""
    pkg = runtime.load_bytes(data)
    vectors = pkg.tensors["user"]
    rows = np.asarray(rows, dtype=np.int64)
    position = np.full(test.shape[0], -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    users = np.sort(rows[np.diff(test.indptr)[rows] > 0])
    if not len(users):
        return None

    def score(ids: np.ndarray) -> np.ndarray:
        return pkg.scores(vectors[position[ids]])

    return evaluate_ranking(score, known, test, ks, users=users, per_user=True)


def combine(results: list[EvalResult | None]) -> dict[str, float]:
    """Metrics over all users of several groups: the mean of their per-user values."""
    parts = [r.per_user for r in results if r is not None]
    return {k: float(np.concatenate([p[k] for p in parts]).mean()) for k in parts[0]}


def personalised_metrics(state: PeelState, item_group: np.ndarray, known: sp.csr_matrix,
                         test: sp.csr_matrix, ks: tuple[int, ...] = (20,)) -> dict[str, float]:
    """Every user scored by their group's refined, gated tables with every block (the
    personalised model before any budget), by the same full-ranking evaluation."""
    results = []
    for c in range(len(state.weights)):
        rows = np.flatnonzero(state.user_cluster == c)
        users = rows[np.diff(test.indptr)[rows] > 0]
        if not len(users):
            continue
        items = gated_items(state.item[c], item_group, state.weights[c])
        results.append(evaluate_ranking(score_fn_from_embeddings(state.user, items), known, test,
                                        ks, users=users, per_user=True))
    return combine(results)


def packages_quality(emb: RunEmbeddings, state: PeelState, item_group: np.ndarray,
                     known: sp.csr_matrix, test: sp.csr_matrix, budget_bytes: int,
                     ks: tuple[int, ...] = (20,), *, value_dtype: str = "float32",
                     scales: str = "row", basis: str = "trained"
                     ) -> tuple[dict[str, np.ndarray], dict]:
    """Every user scored through the runtime by their group's package at ``budget_bytes``
    (values stored as ``value_dtype`` with ``scales``, tables in ``basis``: see
    ``group_package``):
    per-user metric arrays over all user rows (NaN where a user has no test item), and the
    largest single-user package size and re-selection time over the groups."""
    per_user: dict[str, np.ndarray] = {}
    sizes, select_ms = [], []
    item_ids(emb.item_labels)  # read the labels once, so the timings are of the selection
    options = BuildOptions(value_dtype=value_dtype, method="peel",
                           scales=scales if value_dtype in QUANTIZED else "auto")
    for c in range(len(state.weights)):
        rows = np.flatnonzero(state.user_cluster == c)
        if not len(rows):
            continue
        data, _, seconds = group_package(emb, state, item_group, c, rows, budget_bytes,
                                         options=options, basis=basis)
        pkg = runtime.load_bytes(data)
        sizes.append(device_bytes(pkg.manifest))
        select_ms.append(seconds * 1000)
        res = evaluate_group_package(data, rows, known, test, ks)
        if res is None:
            continue
        for k, v in res.per_user.items():
            per_user.setdefault(k, np.full(test.shape[0], np.nan))[res.users] = v
    return per_user, {"device_bytes": max(sizes), "select_ms_max": max(select_ms),
                      "select_ms_mean": float(np.mean(select_ms))}
