"""The training loop's typed, validated configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from elasticrec.checks import check, finite

LOSSES = ("ccl", "bpr")
GRAPH_STEPS_PER_EPOCH = 64  # LightGCN's default batch: about this many steps per epoch ...
GRAPH_BATCH_RANGE = (2048, 32768)  # ... within these sizes


def graph_batch_size(n_events: int) -> int:
    """LightGCN's default batch for ``n_events`` training events. Every LightGCN step
    propagates the whole graph, so an epoch costs its number of steps, not its events: the
    paper's 2048 makes a gowalla epoch 356 propagations (about 200 s on one core); about 64
    steps per epoch keep an epoch of any dataset within minutes (MF keeps 2048: its steps
    cost their batch)."""
    low, high = GRAPH_BATCH_RANGE
    return int(min(high, max(low, -(-n_events // GRAPH_STEPS_PER_EPOCH))))


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100  # upper bound; early stopping may end sooner
    batch_size: int = 2048  # BPR triples per step (a LightGCN run: graph_batch_size)
    lr: float = 1e-3  # Adam learning rate
    lr_decay: float = 1.0  # multiply the learning rate by this after every epoch (1: constant)
    lr_min: float = 0.0  # ... but never below this floor
    lr_plateau: float = 1.0  # multiply it by this after validations without improvement ...
    lr_plateau_patience: int = 2  # ... this many in a row since the best (and as many more)
    l2: float = 1e-4  # weight of the L2 penalty on the batch's ego embeddings
    eval_every: int = 5  # validate every this many epochs (0: never)
    patience: int = 5  # stop after this many validations without improvement (0: never stop)
    metric: str = "recall@20"  # the validation metric early stopping watches
    ks: tuple[int, ...] = field(default=(20,))  # cut-offs reported at validation
    sampling: str = "users"  # "users": user-uniform triples (LightGCN/NGCF code); "pairs"
    loss: str = "bpr"  # "bpr" or "ccl", SimpleX's cosine contrastive loss (models.losses);
    # fit's plain runs default to the loss chosen on validation (pipeline.options)
    n_negatives: int = 256  # CCL: negatives drawn per batch, shared by its positives
    margin: float = 0.9  # CCL: negatives are pushed below this cosine (SimpleX's default)
    neg_weight: float = 150.0  # CCL: weight of the negatives' mean term (SimpleX's default)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.epochs > 0, "epochs", self.epochs, "a positive integer")
        check(self.batch_size > 0, "batch_size", self.batch_size, "a positive integer")
        check(finite(self.lr) and self.lr > 0, "lr", self.lr, "a positive finite number")
        check(0 < self.lr_decay <= 1, "lr_decay", self.lr_decay, "a number in (0, 1]")
        check(0 < self.lr_plateau <= 1, "lr_plateau", self.lr_plateau, "a number in (0, 1]")
        check(self.lr_plateau_patience >= 1, "lr_plateau_patience", self.lr_plateau_patience,
              "an integer >= 1")
        check(0 <= self.lr_min <= self.lr, "lr_min", self.lr_min, "a number in [0, lr]")
        check(finite(self.l2) and self.l2 >= 0, "l2", self.l2, "a finite number >= 0")
        check(self.eval_every >= 0, "eval_every", self.eval_every, "an integer >= 0")
        check(self.patience >= 0, "patience", self.patience, "an integer >= 0")
        check(self.sampling in ("users", "pairs"), "sampling", self.sampling,
              "'users' or 'pairs'")
        check(self.loss in LOSSES, "loss", self.loss, f"one of {LOSSES}")
        check(self.n_negatives > 0, "n_negatives", self.n_negatives, "a positive integer")
        check(-1 <= self.margin < 1, "margin", self.margin, "a number in [-1, 1)")
        check(self.neg_weight > 0, "neg_weight", self.neg_weight, "a positive number")
        check(len(self.ks) > 0 and all(k > 0 for k in self.ks), "ks", self.ks,
               "a non-empty list of positive integers")
        name, _, k = self.metric.partition("@")
        check(name in ("recall", "ndcg", "precision", "hitrate") and k.isdigit()
               and int(k) in self.ks, "metric", self.metric,
               f"recall|ndcg|precision|hitrate@K with K in ks={list(self.ks)}")

    def to_json(self) -> dict:
        return {**asdict(self), "ks": list(self.ks)}
