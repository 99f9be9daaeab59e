"""PEEL's personalisation stage on top of a pretrained elastic model: cluster the users, then
refine each group's tables and block weights on the group's own events (``refine``).

Groups are independent; with ``workers > 1`` they run in that many processes. Under
``distributed`` each rank refines the groups it owns (``owners``, balanced by their training
events; on each rank, ``workers`` processes) and rank 0 gathers them: every group is refined
from the same inputs and seeds as in one process, so the result is the same, byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from elasticrec.data.interactions import Interactions
from elasticrec.data.splits import random_split
from elasticrec.peel.cluster import kmeans
from elasticrec.peel.config import PeelConfig
from elasticrec.peel.refine import Refined, refine_group
from elasticrec.peel.state import PeelState
from elasticrec.train.distributed import SINGLE, DistContext, gather_objects, owners


def group_events(train: Interactions, rows: np.ndarray, valid_ratio: float,
                 rng: np.random.Generator) -> tuple[Interactions, Interactions]:
    """The events of users ``rows`` (sorted), renumbered 0..len(rows)-1, split per user."""
    mask = np.isin(train.user, rows)
    local = Interactions(user=np.searchsorted(rows, train.user[mask]), item=train.item[mask],
                         n_users=len(rows), n_items=train.n_items)
    return random_split(local, valid_ratio, rng)


def personalise(config: PeelConfig, user: np.ndarray, item: np.ndarray, item_group: np.ndarray,
                n_groups: int, n_blocks: int, train: Interactions, *, workers: int = 1,
                log: Callable[[str], None] = print,
                distributed: DistContext = SINGLE) -> PeelState | None:
    """The refined groups; under ``distributed``, on rank 0 only (``None`` on the others)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    centroids, clusters = kmeans(user, config.n_clusters, rng)
    sizes = np.bincount(clusters, minlength=config.n_clusters)
    log(f"PEEL: {config.n_clusters} user groups of {sizes.tolist()} users "
        f"(k-means in {time.perf_counter() - t0:.1f}s)")
    tasks = []
    for c in range(config.n_clusters):
        rows = np.flatnonzero(clusters == c)
        tr, va = group_events(train, rows, config.valid_ratio, rng)
        tasks.append((user[rows], item, item_group, n_groups, n_blocks, tr, va, config))
    if distributed.is_distributed:
        owner = owners([len(t[5]) for t in tasks], distributed.world_size)
        mine = np.flatnonzero(owner == distributed.rank)
        done = dict(zip(mine.tolist(), _refine_all([tasks[c] for c in mine], workers),
                        strict=True))
        parts = gather_objects(distributed, done)
        if parts is None:
            return None
        refined = [next(p[c] for p in parts if c in p) for c in range(len(tasks))]
    else:
        refined = _refine_all(tasks, workers)
    out_user = np.array(user, dtype=np.float32)
    for c, r in enumerate(refined):
        out_user[clusters == c] = r.user
        log(f"PEEL: group {c}: {r.steps} steps in {r.seconds:.1f}s; block weights "
            f"{r.weights.min():.2f}..{r.weights.max():.2f}")
    report = {"cluster_sizes": sizes.tolist(), "group_seconds": [r.seconds for r in refined],
              "seconds": time.perf_counter() - t0, "workers": workers}
    if distributed.is_distributed:
        report["ranks"] = distributed.world_size
    return PeelState(config=config, centroids=centroids.astype(np.float32),
                     user_cluster=clusters.astype(np.int64), user=out_user,
                     item=np.stack([r.item for r in refined]),
                     weights=np.stack([r.weights for r in refined]), report=report)


def _refine_all(tasks: list[tuple], workers: int) -> list[Refined]:
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
            return list(pool.map(_refine, tasks))
    return [_refine(t) for t in tasks]


def _refine(task: tuple) -> Refined:
    return refine_group(*task)


def _one_thread() -> None:
    """Worker processes share the cores: one PyTorch thread each."""
    import torch

    torch.set_num_threads(1)
