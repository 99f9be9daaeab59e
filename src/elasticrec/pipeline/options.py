"""``fit``'s keyword options, routed to the frozen configs that validate them.

Every option is a field of exactly one config: the data split (``DataConfig``), the model
(``ModelConfig``), training (``TrainConfig``), elastic blocks (``ElasticConfig``, methods
``rule`` and ``peel``) or personalisation (``PeelConfig``, method ``peel``; fields that share
a name with training take a ``peel_`` prefix: ``peel_epochs``, ``peel_lr``...). ``seed`` seeds
them all. An unknown option, or one that the method does not use, is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from elasticrec.checks import ConfigError
from elasticrec.data.config import DataConfig
from elasticrec.elastic.config import ElasticConfig
from elasticrec.errors import ElasticrecError
from elasticrec.models.config import ModelConfig
from elasticrec.peel.config import PeelConfig
from elasticrec.train.config import TrainConfig

METHODS = ("full", "rule", "peel")
_DATA = {f.name for f in fields(DataConfig)} - {"dataset", "seed"}
_MODEL = {f.name for f in fields(ModelConfig)} - {"model"}
_TRAIN = {f.name for f in fields(TrainConfig)} - {"seed"}
_ELASTIC = {f.name for f in fields(ElasticConfig)}
_PEEL_SHARED = {f.name for f in fields(PeelConfig)} & (_TRAIN | _DATA | {"seed"})
_PEEL = ({f.name for f in fields(PeelConfig)} - _PEEL_SHARED) | {
    f"peel_{name}" for name in _PEEL_SHARED - {"seed"}}
RULE_VALID_RATIO = 0.1  # RULE labels its estimator on validation events


@dataclass(frozen=True)
class RunConfigs:
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    elastic: ElasticConfig | None
    peel: PeelConfig | None

    @property
    def method(self) -> str:
        return "peel" if self.peel else "rule" if self.elastic else "full"


def option_names(method: str) -> list[str]:
    """Every option ``fit`` accepts for ``method``."""
    names = _DATA | _MODEL | _TRAIN | {"seed"}
    if method in ("rule", "peel"):
        names |= _ELASTIC
    if method == "peel":
        names |= _PEEL
    return sorted(names)


def make_configs(dataset: str, model: str, method: str, options: dict) -> RunConfigs:
    """The validated configs for a run; ``ElasticrecError`` naming a bad option."""
    if method not in METHODS:
        raise ElasticrecError(f"method {method!r} is not one of {METHODS}")
    allowed = set(option_names(method))
    unknown = sorted(set(options) - allowed)
    if unknown:
        others = sorted(set(option_names("peel")) - allowed)
        hint = (f"; {unknown[0]!r} needs another method" if unknown[0] in others else
                f"; allowed: {', '.join(sorted(allowed))}")
        raise ElasticrecError(f"unknown option {unknown[0]!r} for method {method!r}{hint}")
    seed = options.get("seed", 0)
    pick = lambda names: {k: v for k, v in options.items() if k in names}  # noqa: E731
    data = pick(_DATA)
    if data.get("valid_ratio") is None:
        data["valid_ratio"] = RULE_VALID_RATIO if method != "full" else 0.0
    train = pick(_TRAIN)
    if "ks" in train:
        train["ks"] = tuple(sorted(set(train["ks"])))
    elastic = ElasticConfig(**pick(_ELASTIC)) if method != "full" else None
    peel = None
    if method == "peel":
        peel_options = {k.removeprefix("peel_"): v for k, v in pick(_PEEL).items()}
        peel_options.setdefault("l2", train.get("l2", TrainConfig.l2))
        try:
            peel = PeelConfig(seed=seed, **peel_options)
        except ConfigError as exc:  # name the option as fit takes it: peel_lr, not lr
            if exc.field not in _PEEL_SHARED:
                raise
            raise ConfigError(f"peel_{exc}", f"peel_{exc.field}") from None
    try:
        return RunConfigs(
            data=DataConfig(dataset=dataset, seed=seed, **data),
            model=ModelConfig(model=model, **pick(_MODEL)),
            train=TrainConfig(seed=seed, **train), elastic=elastic, peel=peel)
    except TypeError as exc:  # pragma: no cover - the option names come from the fields
        raise ElasticrecError(str(exc)) from exc


def option_choices() -> dict[str, tuple]:
    """The allowed values of every option that takes one of a few (``model``, ``method``,
    ``split``...), for a command line's choices and a caller's checks."""
    from elasticrec.data.config import SPLITS
    from elasticrec.elastic.config import DIVERSITY_FORMS, GROUPINGS, SUBSET_SIZES
    from elasticrec.elastic.estimator import ESTIMATORS
    from elasticrec.models.config import MODELS
    from elasticrec.peel.config import GATES

    return {"model": MODELS, "method": METHODS, "split": SPLITS, "grouping": GROUPINGS,
            "diversity_form": DIVERSITY_FORMS, "subset_sizes": SUBSET_SIZES,
            "estimator": ESTIMATORS, "gate": GATES, "sampling": ("users", "pairs"),
            "combine": ("mean", "concat")}
