"""How a run's data is chosen and split: a frozen config, light to import (no readers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from elasticrec.checks import check

SPLITS = ("auto", "given", "random", "temporal", "leave-last-out")  # --split choices

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
