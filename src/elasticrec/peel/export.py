"""PEEL's device packages: a user group's refined, weight-gated item table, cut to a budget by
the group's block weights, with the group's user vectors (one, for a device). NumPy only:
exporting never loads PyTorch."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from elasticrec.budget.selection import BlockSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.basis import BASES, Basis, rotate, score_basis
from elasticrec.export.builder import BuildOptions, build
from elasticrec.peel.cluster import fold_in, nearest
from elasticrec.peel.select import one_user, select_for_budget
from elasticrec.peel.state import PeelState


def gated_items(item: np.ndarray, item_group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The item table a package ships for these weights: block b of an item of group g times
    ``weights[g, b]``."""
    width = item.shape[1] // weights.shape[1]
    scale = np.repeat(weights, width, axis=1)[item_group]
    return (item * scale).astype(np.float32)


def group_embeddings(emb: RunEmbeddings, state: PeelState, item_group: np.ndarray,
                     cluster: int, rows: np.ndarray) -> RunEmbeddings:
    """What group ``cluster`` ships: its refined item table with the block weights folded in,
    and the refined vectors of users ``rows``."""
    return replace(emb, user=state.user[rows], user_labels=[emb.user_labels[r] for r in rows],
                   item=gated_items(state.item[cluster], item_group, state.weights[cluster]))


def place_new_user(emb: RunEmbeddings, state: PeelState, item_group: np.ndarray,
                   history: np.ndarray, label: str = "new") -> tuple[int, RunEmbeddings]:
    """A user unseen in training, from their item history (rows): the group whose centroid
    is nearest to their vector folded in against the pretrained items, and that group's
    embeddings with their vector folded in again against the group's own (gated) items."""
    cluster = int(nearest(fold_in(emb.item, history)[None], state.centroids)[0])
    group = group_embeddings(emb, state, item_group, cluster, np.array([], dtype=np.int64))
    vector = fold_in(group.item, history).astype(np.float32)
    return cluster, replace(group, user=vector[None], user_labels=[label])


def group_basis(state: PeelState, item_group: np.ndarray, cluster: int) -> Basis:
    """The score-preserving basis of user group ``cluster``: of all its users' refined vectors
    and its gated item table (what its packages ship)."""
    members = np.flatnonzero(state.user_cluster == cluster)
    items = gated_items(state.item[cluster], item_group, state.weights[cluster])
    return score_basis(state.user[members], items)


def group_package(emb: RunEmbeddings, state: PeelState, item_group: np.ndarray, cluster: int,
                  rows: np.ndarray | None, budget_bytes: int, *,
                  options: BuildOptions | None = None, basis: str = "trained",
                  rotation: Basis | None = None) -> tuple[bytes, BlockSelection, float]:
    """The package bytes, the selection and the seconds the selection (sort + fit) took.

    ``options``: how values are stored and items named (default: float32; its ``users``
    are ignored). ``rows`` are the users that ship; ``None``: ``emb`` already holds the
    group's embeddings (``place_new_user``). ``basis="svd"``: the group's tables in the
    score-preserving basis of the whole user group (its users' vectors and its gated
    items), each item group's blocks the leading ones, as many as the weights' order gives
    it (``rotation``: that basis, computed once by the caller; default: computed here)."""
    group = emb if rows is None else group_embeddings(emb, state, item_group, cluster, rows)
    if basis == "svd":
        group = rotate(group, rotation or group_basis(state, item_group, cluster))
    elif basis != "trained":
        raise ElasticrecError(f"basis {basis!r} is not one of {BASES}")
    device = one_user(group)  # what the budget bounds
    options = replace(options or BuildOptions(method="peel"), users=None)
    t0 = time.perf_counter()
    selection = select_for_budget(device, state.weights[cluster], item_group, options,
                                  budget_bytes, prefixes=basis == "svd")
    seconds = time.perf_counter() - t0
    return build(group, selection, options, budget_bytes=budget_bytes), selection, seconds
