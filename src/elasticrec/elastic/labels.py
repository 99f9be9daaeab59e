"""Training data for the performance estimator: block configurations and their true quality.

A configuration is a (G, N) bool matrix (item group g ships block b), with at least one block
per group. ``sample_configs`` draws them across the whole range of budgets; ``config_quality``
measures each one the way a package would be measured: the items restricted to their group's
blocks (rescaled when configured), ranked over all items for a fixed sample of validation users
with their training items excluded (``evaluate_ranking``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from elasticrec.elastic.blocks import item_masks
from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
from elasticrec.format import quantize


def sample_configs(n_groups: int, n_blocks: int, n_configs: int,
                   rng: np.random.Generator) -> np.ndarray:
    """(K, G, N) bool: total block counts uniform in ``[G, G*N]``; one random block per group,
    the rest of the count spread uniformly over the remaining (group, block) pairs."""
    total = rng.integers(n_groups, n_groups * n_blocks + 1, size=n_configs)
    priority = rng.random((n_configs, n_groups, n_blocks))
    first = rng.integers(n_blocks, size=(n_configs, n_groups))
    k, g = np.meshgrid(np.arange(n_configs), np.arange(n_groups), indexing="ij")
    priority[k, g, first] += 2.0  # every group's first block comes before any extra one
    flat = priority.reshape(n_configs, -1)
    rank = np.argsort(np.argsort(-flat, axis=1), axis=1)
    return (rank < total[:, None]).reshape(n_configs, n_groups, n_blocks)


def restricted_items(item: np.ndarray, item_group: np.ndarray, config: np.ndarray, *,
                     rescale: bool = False) -> np.ndarray:
    """The item table as a device scores it under ``config``: unshipped positions zeroed, and
    each row scaled by N/|S_g| when ``rescale``."""
    out = np.where(item_masks(config, item_group, item.shape[1]), item, 0).astype(np.float32)
    if rescale:
        n_blocks = config.shape[1]
        out *= (n_blocks / np.maximum(config.sum(axis=1), 1))[item_group, None].astype(np.float32)
    return out


def stored_values(item: np.ndarray, value_dtype: str) -> np.ndarray:
    """The item table as a package stores it in ``value_dtype`` and the device decodes it
    (int8: per-row scales over the full row, as the builder's default)."""
    item = np.asarray(item, dtype=np.float32)
    if value_dtype == "float16":
        return quantize.to_float16(item).astype(np.float32)
    if value_dtype == "int8":
        scales = quantize.row_scales(item)[:, None]
        return quantize.quantize_int8(item, scales).astype(np.float32) * scales
    return item


def config_quality(
    user: np.ndarray, item: np.ndarray, item_group: np.ndarray, configs: np.ndarray,
    known: sp.csr_matrix, target: sp.csr_matrix, metric: str, users: np.ndarray | None, *,
    rescale: bool = False, precisions: np.ndarray | None = None,
) -> np.ndarray:
    """``metric`` (e.g. ``"recall@20"``) of each configuration on ``target`` for ``users``;
    ``precisions``: each configuration's value dtype (default: all float32)."""
    k = int(metric.partition("@")[2])
    out = np.empty(len(configs))
    tables: dict[str, np.ndarray] = {}
    for i, config in enumerate(configs):
        dtype = "float32" if precisions is None else str(precisions[i])
        if dtype not in tables:
            tables[dtype] = stored_values(item, dtype)
        score_fn = score_fn_from_embeddings(
            user, restricted_items(tables[dtype], item_group, config, rescale=rescale),
            reuse_output=True)
        out[i] = evaluate_ranking(score_fn, known, target, (k,), users=users).metrics[metric]
    return out


def label_users(target: sp.csr_matrix, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed random sample of ``n_users`` users with a target item (0: all), ascending."""
    have = np.flatnonzero(np.diff(target.indptr))
    if n_users == 0 or n_users >= len(have):
        return have
    return np.sort(rng.choice(have, size=n_users, replace=False))
