"""RULE after training: label block configurations with the true validation metric, fit the
performance estimator on most of them and measure it on the rest (METHODS.md 3.2)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.estimator import (
    EstimatorConfig,
    fit_estimator,
    predict,
    spearman,
    within_budget_spearman,
)
from elasticrec.elastic.labels import config_quality, label_users, sample_configs
from elasticrec.elastic.store import ElasticState


def fit_rule_estimator(
    config: ElasticConfig, user: np.ndarray, item: np.ndarray, item_group: np.ndarray,
    train: sp.csr_matrix, valid: sp.csr_matrix, *, seed: int = 0,
    log: Callable[[str], None] = print,
) -> ElasticState:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    configs = sample_configs(config.n_groups, config.n_blocks, config.label_configs, rng)
    users = label_users(valid, config.label_users, rng)
    log(f"labelling {len(configs)} block configurations with {config.label_metric} on "
        f"{len(users)} validation users")
    labels = config_quality(user, item, item_group, configs, train, valid, config.label_metric,
                            users, rescale=config.rescale)
    label_seconds = time.perf_counter() - t0
    n_test = max(1, round(config.held_out * len(configs)))
    order = rng.permutation(len(configs))
    test, fit_on = order[:n_test], order[n_test:]
    t1 = time.perf_counter()
    params = fit_estimator(configs[fit_on], labels[fit_on], EstimatorConfig(seed=seed))
    fit_seconds = time.perf_counter() - t1
    predicted = predict(params, configs[test])
    report = {
        "label_metric": config.label_metric, "label_users": len(users),
        "n_labelled": len(configs), "n_fit": len(fit_on), "n_held_out": int(n_test),
        "spearman_held_out": spearman(predicted, labels[test]),
        "spearman_held_out_within_size": within_budget_spearman(configs[test], predicted,
                                                                labels[test]),
        "spearman_train": spearman(predict(params, configs[fit_on]), labels[fit_on]),
        "label_range": [float(labels.min()), float(labels.max())],
        "label_seconds": label_seconds, "fit_seconds": fit_seconds,
    }
    log(f"estimator: Spearman {report['spearman_held_out']:.3f} on {n_test} held-out "
        f"configurations ({report['spearman_held_out_within_size']:.3f} within similar sizes); "
        f"labels {label_seconds:.0f}s, fit {fit_seconds:.1f}s")
    return ElasticState(config=config, item_group=item_group, estimator=params, report=report)
