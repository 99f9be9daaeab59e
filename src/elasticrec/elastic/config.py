"""The typed, validated configuration of elastic (RULE) training and its estimator."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from elasticrec.checks import check, finite
from elasticrec.elastic.estimator import PRECISIONS  # value dtypes an estimator can price

GROUPINGS = ("popularity", "id-range")
DIVERSITY_FORMS = ("consecutive", "cosine")
SUBSET_SIZES = ("uniform", "bernoulli")
# how the elastic model trains: "subsets", RULE's objective (every block subset must rank);
# "plain", the base model's own loss, its blocks then being the positions of the
# score-preserving basis, labelled in prefix form (docs/methods.md)
ELASTIC_TRAININGS = ("subsets", "plain")


@dataclass(frozen=True)
class ElasticConfig:
    n_blocks: int = 16  # N positional blocks per item embedding (released code: 16)
    n_groups: int = 20  # G item groups; blocks are chosen per group (released code: 20)
    grouping: str = "popularity"  # or "id-range", the released code's contiguous id ranges
    diversity: float = 1e-5  # weight of the diversity regulariser (0: off)
    diversity_form: str = "consecutive"  # the released code's form, or "cosine"
    subset_sizes: str = "uniform"  # how training samples block subsets (see blocks.py)
    rescale: bool = False  # score a subset by N/|S| times its dot product
    label_configs: int = 400  # K block configurations labelled with the true metric
    label_users: int = 2000  # validation users each label is measured on (0: all)
    label_metric: str = "recall@20"  # what the estimator learns to predict
    held_out: float = 0.2  # share of the labelled configurations kept to test the estimator
    estimator: str = "additive"  # or "nfm", the released code's model (see estimator.py)
    # value dtypes the labels are measured at (each configuration at one, drawn uniformly):
    # with more than one, the estimator gets precision as a feature and export may choose it
    label_precisions: tuple[str, ...] = ("float32",)
    elastic_training: str = "subsets"  # or "plain" (ELASTIC_TRAININGS)

    def __post_init__(self) -> None:
        check(self.n_blocks >= 1, "n_blocks", self.n_blocks, "an integer >= 1")
        check(self.n_groups >= 1, "n_groups", self.n_groups, "an integer >= 1")
        check(self.grouping in GROUPINGS, "grouping", self.grouping, f"one of {GROUPINGS}")
        check(finite(self.diversity) and self.diversity >= 0, "diversity", self.diversity,
              "a finite number >= 0")
        check(self.diversity_form in DIVERSITY_FORMS, "diversity_form", self.diversity_form,
              f"one of {DIVERSITY_FORMS}")
        check(self.subset_sizes in SUBSET_SIZES, "subset_sizes", self.subset_sizes,
              f"one of {SUBSET_SIZES}")
        check(self.label_configs >= 10, "label_configs", self.label_configs, "an integer >= 10")
        check(self.label_users >= 0, "label_users", self.label_users, "an integer >= 0")
        name, _, k = self.label_metric.partition("@")
        check(name in ("recall", "ndcg", "precision", "hitrate") and k.isdigit() and int(k) > 0,
              "label_metric", self.label_metric, "recall|ndcg|precision|hitrate@K")
        check(0 < self.held_out < 1, "held_out", self.held_out, "a number in (0, 1)")
        check(self.estimator in ("additive", "nfm"), "estimator", self.estimator,
              "'additive' or 'nfm'")
        precisions = self.label_precisions
        check(isinstance(precisions, list | tuple) and len(precisions) > 0
              and len(set(precisions)) == len(precisions)
              and all(p in PRECISIONS for p in precisions), "label_precisions", precisions,
              f"distinct values of {PRECISIONS}")
        object.__setattr__(self, "label_precisions", tuple(precisions))
        check(self.elastic_training in ELASTIC_TRAININGS, "elastic_training",
              self.elastic_training, f"one of {ELASTIC_TRAININGS}")

    @property
    def label_k(self) -> int:
        return int(self.label_metric.partition("@")[2])

    @property
    def plain(self) -> bool:
        """Trained with the base model's own loss; labelled and shipped in prefix form."""
        return self.elastic_training == "plain"

    def to_json(self) -> dict:
        """As a run's config holds it; ``elastic_training`` only when not the default, so
        that older runs keep their bytes."""
        out = {**asdict(self), "label_precisions": list(self.label_precisions)}
        if not self.plain:
            del out["elastic_training"]
        return out
