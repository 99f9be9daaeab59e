"""The base model's typed, validated configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from elasticrec.checks import check

MODELS = ("mf", "lightgcn", "pop")  # pop: the most-popular ranking, nothing trained


@dataclass(frozen=True)
class ModelConfig:
    model: Literal["mf", "lightgcn", "pop"] = "lightgcn"
    dim: int = 64  # width of the ego embeddings
    n_layers: int = 3  # LightGCN propagation layers
    combine: Literal["mean", "concat"] = "mean"  # LightGCN layer combination
    init_std: float = 0.1  # N(0, init_std) initialisation, as in LightGCN-PyTorch

    def __post_init__(self) -> None:
        check(self.model in MODELS, "model", self.model, f"one of {MODELS}")
        check(self.dim > 0, "dim", self.dim, "a positive integer")
        check(self.n_layers >= 0, "n_layers", self.n_layers, "an integer >= 0")
        check(self.combine in ("mean", "concat"), "combine", self.combine, "'mean' or 'concat'")
        check(self.init_std > 0, "init_std", self.init_std, "a positive number")
