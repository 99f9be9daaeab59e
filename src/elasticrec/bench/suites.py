"""The suites: which data, base models, budgets and training recipes a benchmark runs.

A suite is data, not code: a frozen ``BenchSuite`` of ``BenchData`` entries. ``SUITES`` maps
the names the command line takes (``quick``, ``full``) to them; a caller may build its own
suite (the tests do, on a toy dataset) and pass it to ``run_bench``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elasticrec import ElasticrecError


@dataclass(frozen=True, eq=False)
class BenchData:
    """One dataset of a suite: ``data`` as ``elasticrec.fit`` takes it (a dataset name, or
    in-memory data), and per base model its recipe (``fit`` options shared by every run of
    that model: full, RULE, the uniform widths); ``rule`` adds RULE's options, ``peel``
    PEEL's; ``streams`` are SCALL-setting streams (method, budget, ``stream`` options);
    ``retrained``: the base models whose retrained baselines (``*-retrained``: a model
    trained again for every budget) are measured (``None``: every model)."""

    label: str
    data: object
    recipes: dict = field(default_factory=dict)
    rule: dict = field(default_factory=dict)
    peel: dict = field(default_factory=dict)
    streams: tuple[tuple[str, str, dict], ...] = ()  # (method, budget, stream options)
    retrained: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.retrained or ()) - set(self.recipes))
        if unknown:
            raise ElasticrecError(f"dataset {self.label!r}: retrained names {unknown[0]!r}, "
                                  f"which has no recipe (models: {sorted(self.recipes)})")

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.recipes)


@dataclass(frozen=True, eq=False)
class BenchSuite:
    """Datasets, the budgets every package is cut to (shares of the full float32 item table
    or byte counts), the baselines measured (names in ``baselines.BASELINES``; ``None``: all)
    and the seeds of the random-block baseline."""

    name: str
    datasets: tuple[BenchData, ...]
    budgets: tuple[str, ...] = ("10%", "25%", "50%")
    baselines: tuple[str, ...] | None = None
    random_seeds: tuple[int, ...] = (0, 1, 2)
    stream_only: tuple[BenchData, ...] = ()  # datasets measured by streams alone

    def __post_init__(self) -> None:
        if not self.budgets:
            raise ElasticrecError(f"suite {self.name!r}: give at least one budget")
        labels = [d.label for d in (*self.datasets, *self.stream_only)]
        if len(set(labels)) != len(labels):
            raise ElasticrecError(f"suite {self.name!r}: dataset labels repeat: {labels}")


# One BPR recipe per dataset, shared by every model and method trained on it (valid_ratio 0.1
# everywhere, so the full, uniform and elastic runs share one split).
_SMALL = dict(epochs=20, batch_size=4096, lr=1e-2, lr_decay=0.95, l2=1e-3, eval_every=0,
              valid_ratio=0.1, seed=0)
_SMALL_RULE = dict(label_configs=100, label_users=500)
_SMALL_PEEL = dict(n_clusters=4, peel_epochs=2)

# SCALL's setting in minutes: ml-100k's events in time order, four equal windows, MF, a few
# epochs and policy steps per window (about 40 s for the three methods on two cores)
_STREAMS_QUICK = tuple((m, "c=16", dict(model="mf", segments=4, epochs=5, reward_steps=20))
                       for m in ("scall", "su", "mr"))

QUICK = BenchSuite(
    name="quick",
    datasets=(
        BenchData("ml-100k", "ml-100k", recipes={"mf": _SMALL}, rule=_SMALL_RULE,
                  peel=_SMALL_PEEL, streams=_STREAMS_QUICK),
        BenchData("ml-latest-small", "ml-latest-small", recipes={"mf": _SMALL},
                  rule=_SMALL_RULE, peel=_SMALL_PEEL),
    ),
    budgets=("10%", "25%", "50%"),
)

# The recipes of docs/results/foundation.md and rule.md (fixed schedules, no model selection).
_LIGHTGCN = dict(epochs=220, batch_size=16384, lr=0.01, lr_decay=0.99, lr_min=0.001,
                 eval_every=0, valid_ratio=0.1, seed=0)
_MF = dict(epochs=40, batch_size=8192, lr=5e-3, lr_decay=0.95, l2=2e-2, eval_every=0,
           valid_ratio=0.1, seed=0)
_STREAMS_GROCERY = tuple((m, "c=16", {"new_entities": 3000}) for m in ("scall", "su", "mr"))
_STREAMS_ML = tuple((m, "c=16", {"new_entities": 1200}) for m in ("scall", "su", "mr"))

# The retrained baselines train a model again for every budget: on MF only, since a LightGCN
# training here takes half an hour to hours (foundation.md), six of them per dataset more
# than the rest of the suite together; MF's rows stand for the retrained family.
FULL = BenchSuite(
    name="full",
    datasets=(
        BenchData("gowalla", "gowalla", recipes={"lightgcn": _LIGHTGCN, "mf": _MF},
                  rule=dict(n_blocks=32), retrained=("mf",)),
        # yelp2018's LightGCN trained 20 epochs here until its defaults run reached 0.0579 in
        # 200 (base_models.md): 20 left it (0.0461) below MF, not the strongest base
        BenchData("yelp2018", "yelp2018", recipes={"lightgcn": _LIGHTGCN, "mf": _MF},
                  rule=dict(n_blocks=32), retrained=("mf",)),
    ),
    budgets=("1%", "2%", "5%", "10%", "20%", "50%"),  # issue 13's budgets
    stream_only=(
        BenchData("amazon-grocery", "amazon-grocery", streams=_STREAMS_GROCERY),
        BenchData("ml-latest-small", "ml-latest-small", streams=_STREAMS_ML),
    ),
)

SUITES: dict[str, BenchSuite] = {"quick": QUICK, "full": FULL}


def suite_named(name: str | BenchSuite) -> BenchSuite:
    if isinstance(name, BenchSuite):
        return name
    if name not in SUITES:
        raise ElasticrecError(f"suite {name!r} is not one of {sorted(SUITES)}")
    return SUITES[name]
