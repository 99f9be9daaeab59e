"""From a dataset reference to the train / validation / test interactions a run uses.

``DataConfig`` (in ``data.config``, importable without the readers) says which."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elasticrec.data.config import DataConfig
from elasticrec.data.dataset import Dataset, concat, load_dataset
from elasticrec.data.interactions import Interactions
from elasticrec.data.preprocess import drop_duplicates, k_core
from elasticrec.data.splits import leave_last_out, random_split, temporal_split
from elasticrec.errors import ElasticrecError


@dataclass(frozen=True, eq=False)
class PreparedData:
    name: str
    fingerprint: str  # of the dataset as loaded, before any split
    train: Interactions  # what the model trains on
    valid: Interactions | None  # held out from the training events for early stopping
    test: Interactions

    @property
    def known(self) -> Interactions:
        """Every event the model may have seen: excluded from the test ranking."""
        if self.valid is None:
            return self.train
        return concat(self.train, self.valid)


def prepare(config: DataConfig, data_dir: Path, *, download: bool = True) -> PreparedData:
    columns = {k: v for k, v in (("user_col", config.user_col), ("item_col", config.item_col),
                                 ("timestamp_col", config.timestamp_col)) if v is not None}
    return split_dataset(config, load_dataset(config.dataset, data_dir, download=download,
                                              **columns))


def split_dataset(config: DataConfig, ds: Dataset) -> PreparedData:
    """The splits ``config`` asks for, of a dataset already loaded (``config.dataset`` is
    then only its name)."""
    rng = np.random.default_rng(config.seed)
    split = config.split
    if split == "auto":
        split = "given" if ds.test is not None else "random"
    if split == "given":
        if ds.test is None:
            raise ElasticrecError(f"dataset {ds.name!r} has no given train/test split; "
                             "choose --split random, temporal or leave-last-out")
        if config.k_core:
            raise ElasticrecError("--k-core cannot be combined with a given split")
        train, test = ds.train, ds.test
    else:
        # A repeated (user, item) event must not land on both sides of a split.
        events = drop_duplicates(ds.all())
        if config.k_core:
            events = k_core(events, config.k_core, config.k_core)
            if len(events) == 0:
                raise ElasticrecError(
                    f"--k-core {config.k_core} removes every event of {ds.name!r} (no user and "
                    f"item keep {config.k_core} events each); choose a smaller --k-core")
        if split == "random":
            train, test = random_split(events, config.test_ratio, rng)
        elif split == "temporal":
            train, test = temporal_split(events, config.test_ratio)
        else:
            train, test = leave_last_out(events)
    if len(train) == 0 or len(test) == 0:
        side = "training" if len(train) == 0 else "test"
        raise ElasticrecError(f"dataset {ds.name!r}: the {split} split leaves no {side} events "
                              f"({len(train)} training, {len(test)} test); give more data or "
                              "another --split / --test-ratio")
    valid = None
    if config.valid_ratio > 0:
        train, valid = random_split(train, config.valid_ratio, rng)
        if len(train) == 0:
            raise ElasticrecError(f"dataset {ds.name!r}: --valid-ratio {config.valid_ratio} "
                                  "leaves no training events; choose a smaller one")
    return PreparedData(name=ds.name, fingerprint=ds.fingerprint, train=train, valid=valid,
                        test=test)
