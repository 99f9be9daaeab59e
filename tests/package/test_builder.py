"""The builder: item id maps, value encodings, and refusals with messages naming the input."""

from __future__ import annotations

import numpy as np
import pytest
from package_strategies import embeddings_from

from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, item_id_kind, plan
from elasticrec.format.quantize import INT8_MAX
from elasticrec.runtime import load_bytes


def test_repeated_item_labels_are_refused():
    with pytest.raises(ElasticrecError, match="item labels repeat"):
        item_id_kind(["3", "3"])


def test_int8_values_decode_within_half_a_step_and_scales_cover_whole_rows():
    rng = np.random.default_rng(1)
    emb = embeddings_from(rng, 50, 8, 1)
    emb.item[:, 7] *= 10  # the largest value of each row lies outside the shipped width
    pkg = load_bytes(build(emb, DenseSelection(4), BuildOptions(value_dtype="int8")))
    scales = pkg.tensors["scales"]
    np.testing.assert_allclose(scales, np.abs(emb.item).max(axis=1) / INT8_MAX, rtol=1e-6)
    decoded = pkg.item_vectors(np.arange(50))[:, :4]
    assert (np.abs(decoded - emb.item[:, :4]) <= scales[:, None] / 2 + 1e-6).all()


def test_block_scales_cover_whole_blocks():
    rng = np.random.default_rng(2)
    emb = embeddings_from(rng, 30, 8, 1)
    sel = BlockSelection.from_groups(4, np.arange(30) % 2, [[3, 1], [0]])
    pkg = load_bytes(build(emb, sel, BuildOptions(value_dtype="int8", scales="block")))
    decoded = pkg.item_vectors(np.arange(30))
    mask = np.zeros((30, 8), bool)
    mask[0::2, 6:8] = mask[0::2, 2:4] = mask[1::2, 0:2] = True
    assert (decoded[~mask] == 0).all()
    block_max = np.abs(emb.item).reshape(30, 4, 2).max(axis=2).repeat(2, axis=1)
    assert (np.abs(decoded - emb.item)[mask] <= (block_max / INT8_MAX / 2 + 1e-6)[mask]).all()


def test_float16_overflow_and_nan_embeddings_are_refused():
    emb = embeddings_from(np.random.default_rng(3), 5, 2, 1)
    emb.item[0, 0] = 1e6
    with pytest.raises(ElasticrecError, match="exceed the float16 range"):
        build(emb, DenseSelection(2), BuildOptions(value_dtype="float16"))
    emb.item[0, 0] = np.nan
    with pytest.raises(ElasticrecError, match="NaN or infinite"):
        build(emb, DenseSelection(2), BuildOptions())


@pytest.mark.parametrize(("selection", "options", "message"), [
    (DenseSelection(9), BuildOptions(), "DenseSelection.width=9 is not allowed: <= dim=8"),
    (RaggedSelection(np.full(10, 9)), BuildOptions(), "widths maximum=9"),
    (RaggedSelection(np.full(3, 2)), BuildOptions(), "RaggedSelection.widths='3 rows'"),
    (BlockSelection(3, 1, np.zeros(10, np.int64), ()), BuildOptions(), "n_blocks=3"),
    (BlockSelection(4, 1, np.zeros(9, np.int64), ()), BuildOptions(), "item_group='9 items'"),
    (DenseSelection(2), BuildOptions(value_dtype="int8", scales="block"), "scales='block'"),
])
def test_bad_requests_name_the_field(selection, options, message):
    emb = embeddings_from(np.random.default_rng(4), 10, 8, 1)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(emb, selection, options)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"value_dtype": "int3"}, "value_dtype='int3'"),
    ({"scales": "block"}, "'auto' unless value_dtype is one of"),
    ({"item_ids": "short"}, "item_ids='short'"),
    ({"seen": (3, 1)}, "seen="),
    ({"method": ""}, "method=''"),
])
def test_bad_options_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BuildOptions(**kwargs)
