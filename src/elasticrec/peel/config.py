"""The typed, validated configuration of PEEL's personalisation stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from elasticrec.checks import check, finite

GATES = ("sigmoid", "softmax")


@dataclass(frozen=True)
class PeelConfig:
    n_clusters: int = 8  # C user groups (k-means on pretrained user embeddings; the sweep's best)
    epochs: int = 5  # refinement epochs over each group's own training events
    batch_size: int = 4096
    lr: float = 3e-4  # Adam, for the group's copy of the tables
    weight_lr: float = 5e-2  # Adam, for the block weights (the controller)
    l2: float = 1e-4  # L2 on the batch's rows, as in pretraining
    cost: float = 0.3  # weight of the expected-bytes penalty on the block weights
    gate: str = "sigmoid"  # weight normalisation: sigmoid per block, or softmax per group
    valid_ratio: float = 0.2  # share of each group user's events used for the weight steps
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.n_clusters >= 1, "n_clusters", self.n_clusters, "an integer >= 1")
        check(self.epochs >= 0, "epochs", self.epochs, "an integer >= 0")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        check(finite(self.lr) and self.lr > 0, "lr", self.lr, "a positive finite number")
        check(finite(self.weight_lr) and self.weight_lr > 0, "weight_lr", self.weight_lr,
              "a positive finite number")
        check(finite(self.l2) and self.l2 >= 0, "l2", self.l2, "a finite number >= 0")
        check(finite(self.cost) and self.cost >= 0, "cost", self.cost, "a finite number >= 0")
        check(self.gate in GATES, "gate", self.gate, f"one of {GATES}")
        check(0 < self.valid_ratio < 1, "valid_ratio", self.valid_ratio, "a number in (0, 1)")

    def to_json(self) -> dict:
        return asdict(self)
