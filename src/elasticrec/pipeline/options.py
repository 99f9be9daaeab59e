"""``fit``'s keyword options, routed to the frozen configs that validate them.

Every option is a field of exactly one config: the data split (``DataConfig``), the model
(``ModelConfig``), training (``TrainConfig``), elastic blocks (``ElasticConfig``, methods
``rule`` and ``peel``) or personalisation (``PeelConfig``, method ``peel``; fields that share
a name with training take a ``peel_`` prefix: ``peel_epochs``, ``peel_lr``...). ``seed`` seeds
them all. An unknown option, or one that the method does not use, is refused by name.

The defaults of a plain run (method ``full``) are chosen to work on any dataset
(docs/training.md): a validation split (``DEFAULT_VALID_RATIO`` of each user's training
events) is carved whenever training validates; when no schedule option (``SCHEDULE``) is
given, the learning rate and L2 weight are chosen on
validation, together with the loss (CCL or BPR), by successive halving (``train.search``) in
``search_budget`` (10 minutes unless given); without the search the loss is
``DEFAULT_LOSS``. A plain run trains at most ``DEFAULT_EPOCHS`` and multiplies its learning
rate by ``DEFAULT_LR_PLATEAU`` after every ``lr_plateau_patience`` validations in a row that
do not improve on the best (``TrainConfig``). Any
option given explicitly wins over these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from elasticrec.checks import ConfigError
from elasticrec.data.config import DataConfig
from elasticrec.elastic.config import ElasticConfig
from elasticrec.errors import ElasticrecError
from elasticrec.models.config import ModelConfig
from elasticrec.peel.config import PeelConfig
from elasticrec.train.config import TrainConfig
from elasticrec.train.halving import LOSS_GRID, LR_GRID, SearchConfig, parse_duration

METHODS = ("full", "rule", "peel")
_DATA = {f.name for f in fields(DataConfig)} - {"dataset", "seed"}
_MODEL = {f.name for f in fields(ModelConfig)} - {"model"}
_TRAIN = {f.name for f in fields(TrainConfig)} - {"seed"}
_ELASTIC = {f.name for f in fields(ElasticConfig)}
_PEEL_SHARED = {f.name for f in fields(PeelConfig)} & (_TRAIN | _DATA | {"seed"})
_PEEL = ({f.name for f in fields(PeelConfig)} - _PEEL_SHARED) | {
    f"peel_{name}" for name in _PEEL_SHARED - {"seed"}}
RULE_VALID_RATIO = 0.1  # RULE labels its estimator on validation events
DEFAULT_VALID_RATIO = 0.1  # a plain run that validates holds out this share for it
DEFAULT_LOSS = "bpr"  # a plain run's loss when nothing searches it (docs/training.md)
DEFAULT_EPOCHS = 200  # a plain run's cap on epochs (early stopping ends most runs sooner)
DEFAULT_LR_PLATEAU = 0.5  # a plain run halves its rate when validation stalls
# options that set the training schedule: given any, no search runs unless search_budget is
SCHEDULE = frozenset({"lr", "l2", "epochs", "batch_size", "lr_decay", "lr_min", "lr_plateau",
                      "lr_plateau_patience", "loss",
                      "n_negatives", "margin", "neg_weight", "sampling"})
_SEARCH = {"search_budget"}


@dataclass(frozen=True)
class RunConfigs:
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    elastic: ElasticConfig | None
    peel: PeelConfig | None
    search: SearchConfig | None = None  # choose lr and L2 on validation first
    search_explicit: bool = False  # the caller asked for the search (search_budget=)

    @property
    def method(self) -> str:
        return "peel" if self.peel else "rule" if self.elastic else "full"


def option_names(method: str) -> list[str]:
    """Every option ``fit`` accepts for ``method``."""
    names = _DATA | _MODEL | _TRAIN | {"seed"}
    if method == "full":
        names |= _SEARCH
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
    if model == "pop" and method != "full":
        raise ElasticrecError(f"model 'pop' has no embeddings to make elastic: method "
                              f"{method!r} needs 'mf' or 'lightgcn'")
    seed = options.get("seed", 0)
    pick = lambda names: {k: v for k, v in options.items() if k in names}  # noqa: E731
    data = pick(_DATA)
    train = pick(_TRAIN)
    if "ks" in train:
        train["ks"] = tuple(sorted(set(train["ks"])))
    plain = method == "full" and model != "pop"
    if method != "full" and train.get("loss", "bpr") != "bpr":
        raise ElasticrecError(f"loss {train['loss']!r}: method {method!r} trains with its own "
                              "elastic BPR objective")
    if plain:
        for name, value in plain_defaults().items():
            train.setdefault(name, value)
    if options.get("qr_buckets"):  # a compositional item table (models/qr.py)
        if method != "full":
            raise ElasticrecError(f"qr_buckets: method {method!r} needs a full item table; "
                                  "a compositional one trains with method 'full'")
        if train.get("loss") == "ccl":
            raise ElasticrecError("qr_buckets: a compositional item table trains with loss "
                                  "'bpr' (a cosine model's normalised rows are not products "
                                  "of two)")
    validates = train.get("eval_every", TrainConfig.eval_every) > 0 and model != "pop"
    if data.get("valid_ratio") is None:
        data["valid_ratio"] = (RULE_VALID_RATIO if method != "full" else
                               DEFAULT_VALID_RATIO if validates else 0.0)
    search = None
    budget = options.get("search_budget")
    explicit = budget is not None
    seconds = _budget_seconds(budget) if explicit else None
    if plain and (seconds if explicit else not set(options) & SCHEDULE):
        if not validates or data["valid_ratio"] == 0:
            if explicit:
                raise ElasticrecError("search_budget needs a validation split: "
                                      "eval_every > 0 and valid_ratio > 0")
        else:
            search = SearchConfig(
                **({"budget_seconds": seconds} if seconds else {}),
                losses=(options["loss"],) if "loss" in options
                else ("bpr",) if options.get("qr_buckets") else LOSS_GRID,
                lrs=(train["lr"],) if "lr" in train else LR_GRID,
                l2s=(train["l2"],) if "l2" in train else None)
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
    model_options = pick(_MODEL)
    if isinstance(model_options.get("item_widths"), list | tuple):  # a list from JSON too
        model_options["item_widths"] = tuple(
            int(w) if isinstance(w, int | np.integer) and not isinstance(w, bool) else w
            for w in model_options["item_widths"])
    if method != "full" and model_options.get("item_widths"):
        raise ElasticrecError(f"item_widths: method {method!r} cuts its own blocks from full "
                              "rows; mixed dimensions train with method 'full'")
    try:
        return RunConfigs(
            data=DataConfig(dataset=dataset, seed=seed, **data),
            model=ModelConfig(model=model, **model_options),
            train=TrainConfig(seed=seed, **train), elastic=elastic, peel=peel,
            search=search, search_explicit=explicit)
    except TypeError as exc:  # pragma: no cover - the option names come from the fields
        raise ElasticrecError(str(exc)) from exc


def _budget_seconds(value) -> float:
    """The search budget in seconds (0: no search), or ``ElasticrecError`` naming it."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ElasticrecError(str(exc)) from exc
    if seconds < 0:
        raise ElasticrecError(f"search_budget={value!r} is not allowed: a duration >= 0")
    return seconds


def plain_defaults() -> dict[str, object]:
    """The schedule a plain run (method 'full', a trained model) gets where the caller gives
    none; the rule and peel methods keep ``TrainConfig``'s own defaults."""
    return {"loss": DEFAULT_LOSS, "epochs": DEFAULT_EPOCHS, "lr_plateau": DEFAULT_LR_PLATEAU}


def option_choices() -> dict[str, tuple]:
    """The allowed values of every option that takes one of a few (``model``, ``method``,
    ``split``...), for a command line's choices and a caller's checks."""
    from elasticrec.data.config import SPLITS
    from elasticrec.elastic.config import (
        DIVERSITY_FORMS,
        ELASTIC_TRAININGS,
        GROUPINGS,
        SUBSET_SIZES,
    )
    from elasticrec.elastic.estimator import ESTIMATORS
    from elasticrec.format.values import VALUE_DTYPES
    from elasticrec.models.config import MODELS
    from elasticrec.peel.config import GATES
    from elasticrec.pipeline.export import SCALES
    from elasticrec.train.config import LOSSES

    return {"model": MODELS, "method": METHODS, "split": SPLITS, "grouping": GROUPINGS,
            "diversity_form": DIVERSITY_FORMS, "subset_sizes": SUBSET_SIZES,
            "estimator": ESTIMATORS, "gate": GATES, "sampling": ("users", "pairs"),
            "combine": ("mean", "concat"), "loss": LOSSES,
            "dtype": tuple(VALUE_DTYPES), "scales": SCALES,
            "elastic_training": ELASTIC_TRAININGS}
