"""The ``qr-retrained`` baseline on a toy dataset, through a small Context that trains as the
bench runner does: the shape ``qr_shape`` chose, a package within the budget evaluated
through the runtime, infeasible budgets and base models refused with ``ElasticrecError``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import elasticrec
from elasticrec.bench import baselines
from toy_data import clustered

RECIPE = dict(epochs=3, dim=16, eval_every=0, valid_ratio=0.1, lr=1e-2, l2=1e-3, seed=0)


class ToyContext:
    """The runner's Context for one dataset and MF: runs trained on first use."""

    seeds = (0,)

    def __init__(self, folder, model="mf"):
        self.folder, self.model, self.runs, self.trained = folder, model, {}, []

    def _fit(self, kind, **options):
        if kind not in self.runs:
            self.trained.append(kind)
            self.runs[kind] = elasticrec.fit(
                clustered(), model=self.model, out=self.folder / kind, progress=False,
                log=lambda _m: None, **{**RECIPE, **options})
        return self.runs[kind]

    def run(self, kind):
        return self._fit(kind)

    def qr(self, buckets, width):
        return self._fit(f"qr-{buckets}-{width}", qr_buckets=buckets, dim=width)

    def train_seconds(self, kind):
        return 0.0


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return ToyContext(tmp_path_factory.mktemp("qr-bench"))


def test_qr_retrained_ships_the_shape_that_fits_and_scores_like_its_run(ctx):
    full = ctx.run("full")
    budget = full.budget_bytes("40%")
    shipped = baselines.BASELINES["qr-retrained"](ctx, budget)
    shape = elasticrec.qr_shape(full.embeddings, budget)
    assert shipped.info == {"m": shape.buckets, "quotient_rows": shape.quotient_rows,
                            "width": shape.width}
    assert ctx.trained[-1] == f"qr-{shape.buckets}-{shape.width}" and shape.width == 16
    assert len(shipped.package) <= budget and shipped.evaluation["device_bytes"] <= budget
    pkg = elasticrec.runtime.load_bytes(shipped.package)
    assert pkg.manifest.layout == elasticrec.runtime.QRLayout(shape.buckets)
    run = ctx.runs[ctx.trained[-1]]
    # the runtime's scores are the trained model's, so its quality is the run's own
    np.testing.assert_allclose(pkg.scores(pkg.user_vector()),
                               run.embeddings.item @ run.embeddings.user[0], rtol=1e-5,
                               atol=1e-6)
    assert shipped.evaluation["recall@20"] == pytest.approx(run.result["recall@20"])
    assert shipped.retrain_seconds == run.result["seconds"] > 0


def test_a_budget_without_any_qr_table_is_infeasible(ctx):
    with pytest.raises(elasticrec.ElasticrecError, match="the smallest qr package needs"):
        baselines.BASELINES["qr-retrained"](ctx, 200)


def test_lightgcn_has_no_compositional_table():
    class LightGCNContext:  # the baseline asks for nothing but the full run's model
        def run(self, kind):
            return SimpleNamespace(model="lightgcn")

    with pytest.raises(elasticrec.ElasticrecError, match="compositional tables are MF's"):
        baselines.BASELINES["qr-retrained"](LightGCNContext(), 10_000)
