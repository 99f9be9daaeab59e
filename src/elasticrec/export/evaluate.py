"""Quality at a budget, measured on what ships: a package evaluated through the runtime.

The package is scored by ``elasticrec.runtime`` exactly as a device scores it, and ranked and
measured by the same ``elasticrec.eval.evaluate.evaluate_ranking`` that evaluates the server
model. The package must hold every user of the split, in row order: what ``elasticrec
export`` writes without ``--user``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from elasticrec.errors import ElasticrecError
from elasticrec.eval.evaluate import EvalResult, ScoreFn, evaluate_ranking
from elasticrec.runtime import Package


def package_score_fn(package: Package) -> ScoreFn:
    """``score_fn(user_ids)``: the package's scores for its users at those rows."""
    vectors = package.tensors["user"]

    def score(user_ids: np.ndarray) -> np.ndarray:
        return package.scores(vectors[user_ids])

    return score


def evaluate_package(package: Package, train: sp.spmatrix, test: sp.spmatrix,
                     ks: Sequence[int] = (20,), **kwargs) -> EvalResult:
    """Full-ranking metrics of ``package`` on ``test``, with ``train`` items excluded;
    ``kwargs`` go to ``evaluate_ranking`` (``users``, ``chunk_size``, ``per_user``...)."""
    n_users, n_items = train.shape
    if len(package.users) != n_users or package.n_items != n_items:
        raise ElasticrecError(
            f"the package holds {len(package.users)} users and {package.n_items} items but the "
            f"split has {n_users} users and {n_items} items; evaluate a package exported "
            "without --user from the same run")
    return evaluate_ranking(package_score_fn(package), train, test, ks, **kwargs)
