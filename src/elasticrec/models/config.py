"""The base model's typed, validated configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from elasticrec.checks import check

MODELS = ("mf", "lightgcn", "pop")  # pop: the most-popular ranking, nothing trained
DOT_INIT_STD = 0.1  # LightGCN-PyTorch's initial scale (BPR)
COSINE_INIT_STD = 1e-4  # SimpleX's initial scale (CCL)


@dataclass(frozen=True)
class ModelConfig:
    model: Literal["mf", "lightgcn", "pop"] = "lightgcn"
    dim: int = 64  # width of the ego embeddings
    n_layers: int = 3  # LightGCN propagation layers
    combine: Literal["mean", "concat"] = "mean"  # LightGCN layer combination
    # N(0, init_std) initialisation; None: by loss (``init_std_for``)
    init_std: float | None = None
    # MF only: items as quotient x remainder rows (models/qr.py), m remainder rows; 0: a
    # full item table
    qr_buckets: int = 0
    # MF only: mixed dimensions by popularity (models/mixed.py): items in len(item_widths)
    # equal groups by training events, the most popular first, group g's rows item_widths[g]
    # wide (each at most dim); (): every row full width
    item_widths: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check(self.model in MODELS, "model", self.model, f"one of {MODELS}")
        check(self.dim > 0, "dim", self.dim, "a positive integer")
        check(self.n_layers >= 0, "n_layers", self.n_layers, "an integer >= 0")
        check(self.combine in ("mean", "concat"), "combine", self.combine, "'mean' or 'concat'")
        check(self.init_std is None or self.init_std > 0, "init_std", self.init_std,
              "a positive number, or None (by loss)")
        check(isinstance(self.qr_buckets, int) and not isinstance(self.qr_buckets, bool)
              and self.qr_buckets >= 0, "qr_buckets", self.qr_buckets,
              "an int >= 0 (0: a full item table)")
        check(self.qr_buckets == 0 or self.model == "mf", "qr_buckets", self.qr_buckets,
              f"0 for model {self.model!r} (compositional item tables are for MF only: "
              "LightGCN's propagated items are not products of two rows)")

        widths = self.item_widths
        check(isinstance(widths, tuple) and all(
            isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= self.dim
            for w in widths), "item_widths", widths,
            f"a tuple of ints in [0, dim={self.dim}], one per popularity group")
        check(not widths or (self.model == "mf" and not self.qr_buckets), "item_widths",
              widths, f"() for model {self.model!r}" + (" with qr_buckets" if self.qr_buckets
                                                         else "") +
              " (mixed dimensions are MF's own rows: LightGCN's propagated items fill every "
              "position)")

    def to_json(self) -> dict:
        """The config as a run's ``config.json`` holds it; ``qr_buckets`` and
        ``item_widths`` only when set, so that runs without them keep the config they were
        started with (and resume)."""
        out = dict(self.__dict__)
        if not self.qr_buckets:
            del out["qr_buckets"]
        if self.item_widths:
            out["item_widths"] = list(self.item_widths)
        else:
            del out["item_widths"]
        return out

    def init_std_for(self, cosine: bool) -> float:
        """The initial scale: the one given, else SimpleX's N(0, 1e-4) for a cosine model (a
        cosine score's gradient shrinks as the norms grow, so a small start is a large
        effective learning rate), LightGCN-PyTorch's N(0, 0.1) for a dot-product one."""
        if self.init_std is not None:
            return self.init_std
        return COSINE_INIT_STD if cosine else DOT_INIT_STD
