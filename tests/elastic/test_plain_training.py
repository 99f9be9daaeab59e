"""``elastic_training="plain"``: RULE's estimator and search over the base model's tables."""

from __future__ import annotations

import numpy as np
import pytest

import elasticrec
from elasticrec.elastic.select import as_prefixes
from toy_data import clustered

QUIET = dict(log=lambda _: None, progress=False)
SMALL = dict(model="mf", epochs=3, dim=16, eval_every=0, valid_ratio=0.2)
ELASTIC = dict(n_blocks=4, n_groups=4, label_configs=12)


def test_plain_elastic_training_is_the_base_model_with_prefix_labels(tmp_path):
    """``elastic_training="plain"``: the RULE run trains exactly the full run's tables (the
    base model's loss, no block subsets) and labels its configurations in prefix form."""
    data = clustered()
    full = elasticrec.fit(data, out=tmp_path / "full", **SMALL, **QUIET)
    plain = elasticrec.fit(data, method="rule", out=tmp_path / "plain",
                           elastic_training="plain", **SMALL, **ELASTIC, **QUIET)
    # the same training, to float rounding (the loss is summed in another order)
    np.testing.assert_allclose(plain.embeddings.item, full.embeddings.item, atol=1e-6)
    np.testing.assert_allclose(plain.embeddings.user, full.embeddings.user, atol=1e-6)
    configs = plain.elastic_state.label_configs
    np.testing.assert_array_equal(configs, as_prefixes(configs))
    assert plain.config["elastic"]["elastic_training"] == "plain"
    subsets = elasticrec.fit(data, method="rule", out=tmp_path / "subsets", **SMALL,
                             **ELASTIC, **QUIET)
    assert "elastic_training" not in subsets.config["elastic"]  # older runs keep their bytes
    assert not np.allclose(subsets.embeddings.item, full.embeddings.item, atol=1e-3)
    assert len(plain.export("40%", user=plain.user_ids[0], dtype="auto")) <= plain.budget_bytes(
        "40%")
    with pytest.raises(ValueError, match="elastic_training"):
        elasticrec.fit(data, method="rule", elastic_training="nope", **SMALL, **ELASTIC,
                       **QUIET)
