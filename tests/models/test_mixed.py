"""Mixed dimensions by popularity (models/mixed.py): the groups and widths are the paper's
rule, ``fit`` trains each item row at its group's width (the rest exactly zero), and the
package ships every row at its trained width, scoring as the server does."""

from __future__ import annotations

import numpy as np
import pytest

import elasticrec
from elasticrec.models.config import ModelConfig
from elasticrec.models.mixed import ginart_widths, item_widths, popularity_groups, trained_widths
from toy_data import clustered


def test_groups_are_equal_sizes_by_descending_count_ties_to_the_smaller_row():
    counts = np.array([5, 1, 9, 1, 0, 7, 3, 1])
    assert popularity_groups(counts, 4).tolist() == [1, 2, 0, 2, 3, 0, 1, 3]
    assert item_widths(counts, (8, 4, 2, 0)).tolist() == [4, 2, 8, 2, 0, 8, 4, 0]


def test_ginart_widths_follow_the_power_law_and_are_the_largest_that_fit():
    counts = np.repeat([1000, 100, 10, 0], 50)
    limit = 50 * 40

    def fits(widths):
        return 50 * sum(widths) <= limit

    widths = ginart_widths(counts, 64, fits, alpha=0.3)
    assert fits(widths) and widths == tuple(sorted(widths, reverse=True))
    shares = np.array([1001, 101, 11, 1]) / 1001
    scale = widths[0]  # the most popular group's width is lambda (rounded)
    np.testing.assert_allclose(widths, np.clip(np.rint(scale * shares ** 0.3), 1, 64), atol=1)
    wider = tuple(w + 1 if i == 0 else w for i, w in enumerate(widths))
    assert not fits(wider) or wider[0] > 64  # one more value in the top group would not fit
    assert ginart_widths(counts, 64, lambda w: True) == (64, 64, 64, 64)
    assert ginart_widths(counts, 64, lambda w: False) == ()
    assert ginart_widths(counts, 64, fits, alpha=0.0) == (10, 10, 10, 10)  # uniform


def test_trained_widths_are_one_past_the_last_nonzero_position():
    table = np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 3, 3, 3], [0, 1, 0, 0]], np.float32)
    assert trained_widths(table).tolist() == [3, 0, 4, 2]


@pytest.mark.parametrize("bad, match", [
    (dict(model="lightgcn", item_widths=(4, 2)), "for model 'lightgcn'"),
    (dict(model="mf", qr_buckets=3, item_widths=(4, 2)), "with qr_buckets"),
    (dict(model="mf", dim=8, item_widths=(9, 2)), r"\[0, dim=8\]"),
    (dict(model="mf", item_widths=[4, 2]), "a tuple of ints"),
])
def test_item_widths_that_no_model_can_hold_are_refused(bad, match):
    with pytest.raises(elasticrec.ConfigError, match=match):
        ModelConfig(**bad)


def test_an_elastic_method_refuses_item_widths(tmp_path):
    with pytest.raises(elasticrec.ElasticrecError, match="item_widths: method 'rule'"):
        elasticrec.fit(clustered(), model="mf", method="rule", out=tmp_path / "r",
                       item_widths=[4, 2])


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    return elasticrec.fit(clustered(), model="mf", out=tmp_path_factory.mktemp("md") / "run",
                          dim=8, item_widths=[8, 4, 2, 1], epochs=3, eval_every=0,
                          valid_ratio=0.1, lr=1e-2, l2=1e-3, seed=0, progress=False,
                          log=lambda _m: None)


def test_fit_trains_every_item_row_at_its_groups_width(mixed_run):
    assert mixed_run.config["model"]["item_widths"] == [8, 4, 2, 1]
    counts = np.asarray(mixed_run.data().train.to_csr().sum(axis=0)).ravel()
    expected = item_widths(counts, (8, 4, 2, 1))
    item = mixed_run.embeddings.item
    positions = np.arange(item.shape[1])
    assert not item[positions >= expected[:, None]].any()  # masked exactly to zero
    np.testing.assert_array_equal(mixed_run.item_widths, expected)  # trained values nonzero


def test_its_package_is_ragged_at_the_trained_widths_and_scores_as_the_server(mixed_run):
    whole = mixed_run.export_detailed(10**7, user=mixed_run.user_ids[0])
    pkg = elasticrec.runtime.load_bytes(whole.data)
    assert whole.info["basis"] == "trained" and whole.info["level"] == mixed_run.item_widths.sum()
    np.testing.assert_allclose(pkg.scores(pkg.user_vector()),
                               mixed_run.embeddings.item @ mixed_run.embeddings.user[0],
                               rtol=1e-5, atol=1e-6)
    assert mixed_run.evaluate(budget=10**7)["recall@20"] == pytest.approx(
        mixed_run.result["recall@20"])
    smaller = len(whole.data) - 40  # a smaller budget keeps a column-major prefix
    cut = mixed_run.export_detailed(smaller, user=mixed_run.user_ids[0])
    assert len(cut.data) <= smaller and cut.info["level"] < whole.info["level"]


def test_mixed_shape_sizes_a_table_whose_package_fits(mixed_run):
    full = mixed_run.embeddings
    counts = np.asarray(mixed_run.data().train.to_csr().sum(axis=0)).ravel()
    budget = 3000
    widths = elasticrec.mixed_shape(full, counts, budget)
    assert len(widths) == 4 and widths == tuple(sorted(widths, reverse=True))
    with pytest.raises(elasticrec.ElasticrecError, match="no mixed-dimension table fits"):
        elasticrec.mixed_shape(full, counts, 100)
    with pytest.raises(elasticrec.ElasticrecError, match="one count per item"):
        elasticrec.mixed_shape(full, counts[:-1], budget)
