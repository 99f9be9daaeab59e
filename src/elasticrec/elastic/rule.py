"""RULE after training: label block configurations with the true validation metric, fit the
performance estimator on most of them and measure it on the rest (METHODS.md 3.2).

Under ``distributed`` the labels, the costly part, are spread over the ranks: each labels a
contiguous share of the configurations and every rank receives all of them, in order, so the
estimator that follows is fitted on exactly the labels of one process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.estimator import (
    ESTIMATORS,
    EstimatorConfig,
    fit_estimator,
    predict,
    spearman,
    within_budget_spearman,
)
from elasticrec.elastic.labels import config_quality, label_users, sample_configs
from elasticrec.elastic.select import as_prefixes
from elasticrec.elastic.state import ElasticState
from elasticrec.train.distributed import SINGLE, DistContext, all_gather_objects


def fit_rule_estimator(
    config: ElasticConfig, user: np.ndarray, item: np.ndarray, item_group: np.ndarray,
    train: sp.csr_matrix, valid: sp.csr_matrix, *, seed: int = 0,
    log: Callable[[str], None] = print, distributed: DistContext = SINGLE,
    prefixes: bool = False,
) -> ElasticState:
    """``prefixes``: label each sampled configuration in its prefix form (``as_prefixes``),
    for tables in the score-preserving basis whose packages ship each group's leading
    blocks."""
    t0 = time.perf_counter()
    configs, users, labels = rule_labels(config, user, item, item_group, train, valid,
                                         seed=seed, log=log, distributed=distributed,
                                         prefixes=prefixes)
    label_seconds = time.perf_counter() - t0
    state = fit_on_labels(config, item_group, configs, labels, seed=seed,
                          precisions=label_precisions(config, len(configs), seed))
    report = {**state.report, "label_metric": config.label_metric, "label_users": len(users),
              "label_prefixes": prefixes,
              "label_range": [float(labels.min()), float(labels.max())],
              "label_seconds": label_seconds}
    report = {k: report[k] for k in sorted(report)}
    log(f"estimator ({config.estimator}): Spearman {report['spearman_held_out']:.3f} on "
        f"{report['n_held_out']} held-out configurations "
        f"({report['spearman_held_out_within_size']:.3f} within similar sizes); labels "
        f"{label_seconds:.0f}s, fit {report['fit_seconds']:.1f}s")
    return replace(state, report=report)


def rule_labels(
    config: ElasticConfig, user: np.ndarray, item: np.ndarray, item_group: np.ndarray,
    train: sp.csr_matrix, valid: sp.csr_matrix, *, seed: int = 0,
    log: Callable[[str], None] = print, distributed: DistContext = SINGLE,
    prefixes: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sampled configurations, the validation users and each configuration's label."""
    rng = np.random.default_rng(seed)
    configs = sample_configs(config.n_groups, config.n_blocks, config.label_configs, rng)
    if prefixes:
        configs = as_prefixes(configs)
    users = label_users(valid, config.label_users, rng)
    log(f"labelling {len(configs)} block configurations with {config.label_metric} on "
        f"{len(users)} validation users")

    precisions = label_precisions(config, len(configs), seed)

    def quality(part: np.ndarray) -> np.ndarray:
        return config_quality(user, item, item_group, configs[part], train, valid,
                              config.label_metric, users, rescale=config.rescale,
                              precisions=None if precisions is None else precisions[part])

    if not distributed.is_distributed:
        return configs, users, quality(np.arange(len(configs)))
    share = np.array_split(np.arange(len(configs)), distributed.world_size)
    labels = all_gather_objects(distributed, quality(share[distributed.rank]))
    return configs, users, np.concatenate(labels)


def label_precisions(config: ElasticConfig, n: int, seed: int) -> np.ndarray | None:
    """The value dtype each of ``n`` labels is measured at, uniform over
    ``config.label_precisions``; ``None`` with float32 alone (labels as before). A generator
    of its own, so the configurations and users drawn do not depend on it."""
    if config.label_precisions == ("float32",):
        return None
    rng = np.random.default_rng(seed + 2)
    return np.asarray(config.label_precisions, dtype=object)[
        rng.integers(len(config.label_precisions), size=n)]


def fit_on_labels(config: ElasticConfig, item_group: np.ndarray, configs: np.ndarray,
                  labels: np.ndarray, *, seed: int = 0,
                  precisions: np.ndarray | None = None) -> ElasticState:
    """Fit the configured estimator on most labels and measure every kind on the rest
    (``precisions``: each label's value dtype, a feature of the estimator)."""
    rng = np.random.default_rng(seed + 1)
    n_test = max(1, round(config.held_out * len(configs)))
    order = rng.permutation(len(configs))
    test, fit_on = order[:n_test], order[n_test:]
    report: dict = {"n_labelled": len(configs), "n_fit": len(fit_on), "n_held_out": n_test,
                    "estimator": config.estimator}
    chosen = None

    def pick(idx: np.ndarray) -> np.ndarray | None:
        return None if precisions is None else precisions[idx]

    for kind in ESTIMATORS:
        t0 = time.perf_counter()
        params = fit_estimator(configs[fit_on], labels[fit_on], EstimatorConfig(seed=seed), kind,
                               precisions=pick(fit_on))
        seconds = time.perf_counter() - t0
        predicted = predict(params, configs[test], _or_f32(pick(test)))
        scores = {"spearman_held_out": spearman(predicted, labels[test]),
                  "spearman_held_out_within_size": within_budget_spearman(
                      configs[test], predicted, labels[test]),
                  "spearman_train": spearman(predict(params, configs[fit_on],
                                                     _or_f32(pick(fit_on))), labels[fit_on]),
                  "fit_seconds": seconds}
        report.update({f"{k}_{kind}": v for k, v in scores.items()})
        if kind == config.estimator:
            chosen = params
            report.update(scores)
    return ElasticState(config=config, item_group=item_group, estimator=chosen, report=report,
                        label_configs=configs, label_values=labels,
                        label_precisions=precisions)


def _or_f32(precisions):
    return "float32" if precisions is None else precisions
