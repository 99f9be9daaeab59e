"""The elastic part of a RULE run directory: ``elastic.safetensors``.

Tensors: ``item_group`` [n_items] (int64), the estimator's parameters (``estimator.*``) and
the labels it was fitted on (``labels.configs`` [K, G, N] uint8, ``labels.values`` [K]);
metadata entry ``elasticrec``: a JSON object with the elastic configuration and the
estimator's report (its held-out Spearman correlation, label counts, timings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from elasticrec.atomic import atomic_path
from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.estimator import Params

ELASTIC_FILE = "elastic.safetensors"
PREFIX = "estimator."


@dataclass(frozen=True, eq=False)
class ElasticState:
    config: ElasticConfig
    item_group: np.ndarray  # (n_items,) group of every item
    estimator: Params
    report: dict  # how the estimator was labelled and how well it ranks held-out configs
    label_configs: np.ndarray | None = None  # (K, G, N) the labelled configurations
    label_values: np.ndarray | None = None  # (K,) their true validation metric


def save_elastic(run_dir: str | Path, state: ElasticState) -> Path:
    path = Path(run_dir) / ELASTIC_FILE
    tensors = {"item_group": np.ascontiguousarray(state.item_group, dtype=np.int64)}
    tensors.update({PREFIX + k: np.ascontiguousarray(v) for k, v in state.estimator.items()})
    if state.label_configs is not None:
        tensors["labels.configs"] = np.ascontiguousarray(state.label_configs, dtype=np.uint8)
        tensors["labels.values"] = np.ascontiguousarray(state.label_values, dtype=np.float64)
    meta = {"config": state.config.to_json(), "report": state.report}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"elasticrec": json.dumps(meta)})
    return path


def load_elastic(run_dir: str | Path) -> ElasticState:
    path = Path(run_dir) / ELASTIC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; is {run_dir} a finished "
                                "`elasticrec train --method rule` run?")
    with safe_open(str(path), framework="numpy") as fh:
        try:
            meta = json.loads((fh.metadata() or {})["elasticrec"])
            config = ElasticConfig(**meta["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable elastic metadata ({exc})") from exc
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    if "item_group" not in tensors:
        raise ValueError(f"{path}: missing tensor 'item_group'")
    estimator = {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}
    configs = tensors.get("labels.configs")
    return ElasticState(config=config, item_group=tensors["item_group"], estimator=estimator,
                        report=meta.get("report", {}),
                        label_configs=None if configs is None else configs.astype(bool),
                        label_values=tensors.get("labels.values"))


def is_elastic_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / ELASTIC_FILE).is_file()
