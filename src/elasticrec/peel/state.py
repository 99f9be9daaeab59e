"""The PEEL part of a run directory: ``peel.safetensors``.

Tensors: ``centroids`` [C, D] (k-means on the pretrained user embeddings), ``user_cluster``
[n_users] (int64), ``user`` [n_users, D] (each user's vector refined with their group),
``item`` [C, n_items, D] (each group's refined item table, weights not folded in) and
``weights`` [C, G, N] (each group's learned block weights); metadata entry ``elasticrec``: the
PEEL configuration and the refinement report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elasticrec.peel.config import PeelConfig
from elasticrec.tensorfile import config_of, read_tensors, write_tensors

PEEL_FILE = "peel.safetensors"
TENSORS = ("centroids", "user_cluster", "user", "item", "weights")


@dataclass(frozen=True, eq=False)
class PeelState:
    config: PeelConfig
    centroids: np.ndarray
    user_cluster: np.ndarray
    user: np.ndarray
    item: np.ndarray
    weights: np.ndarray
    report: dict


def save_peel(run_dir: str | Path, state: PeelState, name: str = PEEL_FILE) -> Path:
    tensors = {k: getattr(state, k) for k in TENSORS}
    tensors["user_cluster"] = tensors["user_cluster"].astype(np.int64)
    return write_tensors(Path(run_dir) / name, tensors,
                         {"config": state.config.to_json(), "report": state.report})


def load_peel(run_dir: str | Path, name: str = PEEL_FILE) -> PeelState:
    path = Path(run_dir) / name
    meta, tensors = read_tensors(path, "finished `elasticrec train --method peel`", TENSORS)
    config = config_of(path, meta, lambda c: PeelConfig(**c))
    c = len(tensors["centroids"])
    if tensors["item"].shape[0] != c or tensors["weights"].shape[0] != c or (
            len(tensors["user_cluster"]) and int(tensors["user_cluster"].max()) >= c):
        raise ValueError(f"{path}: the tensors disagree on the number of user groups ({c})")
    return PeelState(config=config, report=meta.get("report", {}),
                     **{k: tensors[k] for k in TENSORS})


def is_peel_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / PEEL_FILE).is_file()
