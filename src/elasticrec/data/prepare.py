"""From a dataset reference to the train / validation / test interactions a run uses."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from elasticrec.checks import check
from elasticrec.data.dataset import concat, load_dataset
from elasticrec.data.interactions import Interactions
from elasticrec.data.preprocess import drop_duplicates, k_core
from elasticrec.data.splits import SPLITS, leave_last_out, random_split, temporal_split

Split = Literal["auto", "given", "random", "temporal", "leave-last-out"]


@dataclass(frozen=True)
class DataConfig:
    dataset: str  # a registered dataset name, or a path to a CSV/TSV/Parquet file
    split: Split = "auto"  # auto: the dataset's given split if it has one, else random
    test_ratio: float = 0.2  # for random and temporal splits
    valid_ratio: float = 0.0  # share of each user's training events held out for validation
    k_core: int = 0  # drop users and items with fewer events, to a fixed point (0: keep all)
    seed: int = 0  # seeds the random splits
    user_col: str | None = None  # column names, for a user's own file (reader defaults: user,
    item_col: str | None = None  # item, no timestamp)
    timestamp_col: str | None = None

    def __post_init__(self) -> None:
        check(bool(self.dataset), "dataset", self.dataset, "a dataset name or a file path")
        check(self.split in SPLITS, "split", self.split, f"one of {SPLITS}")
        check(0 < self.test_ratio < 1, "test_ratio", self.test_ratio, "a number in (0, 1)")
        check(0 <= self.valid_ratio < 1, "valid_ratio", self.valid_ratio, "a number in [0, 1)")
        check(self.k_core >= 0, "k_core", self.k_core, "an integer >= 0")

    def to_json(self) -> dict:
        return asdict(self)


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
    ds = load_dataset(config.dataset, data_dir, download=download, **columns)
    rng = np.random.default_rng(config.seed)
    split = config.split
    if split == "auto":
        split = "given" if ds.test is not None else "random"
    if split == "given":
        if ds.test is None:
            raise ValueError(f"dataset {ds.name!r} has no given train/test split; "
                             "choose --split random, temporal or leave-last-out")
        if config.k_core:
            raise ValueError("--k-core cannot be combined with a given split")
        train, test = ds.train, ds.test
    else:
        # A repeated (user, item) event must not land on both sides of a split.
        events = drop_duplicates(ds.all())
        if config.k_core:
            events = k_core(events, config.k_core, config.k_core)
        if split == "random":
            train, test = random_split(events, config.test_ratio, rng)
        elif split == "temporal":
            train, test = temporal_split(events, config.test_ratio)
        else:
            train, test = leave_last_out(events)
    valid = None
    if config.valid_ratio > 0:
        train, valid = random_split(train, config.valid_ratio, rng)
    return PreparedData(name=ds.name, fingerprint=ds.fingerprint, train=train, valid=valid,
                        test=test)
