"""The elastic part of a RULE run directory: ``elastic.safetensors``.

Tensors: ``item_group`` [n_items] (int64), the estimator's parameters (``estimator.*``) and
the labels it was fitted on (``labels.configs`` [K, G, N] uint8, ``labels.values`` [K] and,
when measured at several value dtypes, ``labels.precisions`` [K] uint8: index into
float32, float16, int8);
metadata entry ``elasticrec``: a JSON object with the elastic configuration and the
estimator's report (its held-out Spearman correlation, label counts, timings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.estimator import PRECISIONS, Params
from elasticrec.tensorfile import config_of, read_tensors, write_tensors

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
    label_precisions: np.ndarray | None = None  # (K,) their value dtypes (None: float32)


def save_elastic(run_dir: str | Path, state: ElasticState) -> Path:
    tensors = {"item_group": state.item_group.astype(np.int64)}
    tensors.update({PREFIX + k: v for k, v in state.estimator.items()})
    if state.label_configs is not None:
        tensors["labels.configs"] = state.label_configs.astype(np.uint8)
        tensors["labels.values"] = np.asarray(state.label_values, dtype=np.float64)
    if state.label_precisions is not None:
        tensors["labels.precisions"] = np.array(
            [PRECISIONS.index(p) for p in state.label_precisions], dtype=np.uint8)
    return write_tensors(Path(run_dir) / ELASTIC_FILE, tensors,
                         {"config": state.config.to_json(), "report": state.report})


def load_elastic(run_dir: str | Path) -> ElasticState:
    path = Path(run_dir) / ELASTIC_FILE
    meta, tensors = read_tensors(path, "finished `elasticrec train --method rule`",
                                 ("item_group",))
    config = config_of(path, meta, lambda c: ElasticConfig(**c))
    estimator = {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}
    configs = tensors.get("labels.configs")
    precisions = tensors.get("labels.precisions")
    return ElasticState(config=config, item_group=tensors["item_group"], estimator=estimator,
                        report=meta.get("report", {}),
                        label_configs=None if configs is None else configs.astype(bool),
                        label_values=tensors.get("labels.values"),
                        label_precisions=None if precisions is None
                        else np.asarray(PRECISIONS, dtype=object)[precisions.astype(np.int64)])


def is_elastic_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / ELASTIC_FILE).is_file()
