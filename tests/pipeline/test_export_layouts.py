"""Packages straight from tables with a layout of the caller's (dense, blocks, ragged), a
catalogue reference or no budget, and what each exact item id map would cost: the public
face the benchmarks build their packages through."""

from __future__ import annotations

import numpy as np
import pytest

import elasticrec
from elasticrec import runtime

N_USERS, N_ITEMS, DIM = 3, 120, 16


def tables(labels=None, seed=0) -> elasticrec.RunEmbeddings:
    rng = np.random.default_rng(seed)
    return elasticrec.RunEmbeddings(
        user=rng.standard_normal((N_USERS, DIM), dtype=np.float32),
        item=rng.standard_normal((N_ITEMS, DIM), dtype=np.float32), dataset="toy",
        dataset_fingerprint="-", model="random", user_labels=[f"u{i}" for i in range(N_USERS)],
        item_labels=labels or [str(i) for i in range(N_ITEMS)])


def masked(emb, widths: np.ndarray) -> np.ndarray:
    """The item table with each row cut to its width (zeros beyond)."""
    return emb.item * (np.arange(DIM)[None, :] < widths[:, None])


def test_a_ragged_layout_without_budget_ships_every_given_value():
    emb = tables()
    widths = np.random.default_rng(1).integers(0, DIM + 1, N_ITEMS)
    got = elasticrec.export_embeddings(emb, None, user=1, basis="trained",  # the given values
                                       layout=elasticrec.RaggedSelection(widths))
    pkg = runtime.load_bytes(got.data)
    assert isinstance(pkg.manifest.layout, runtime.RaggedLayout)
    assert pkg.manifest.layout.n_values == int(widths.sum()) == got.info["level"]
    assert pkg.manifest.method == "given-truncate" and pkg.users == ("u1",)
    np.testing.assert_allclose(pkg.scores(emb.user[1]), masked(emb, widths) @ emb.user[1],
                               rtol=1e-5, atol=1e-5)
    assert "no budget" in got.summary


def test_a_block_layout_is_cut_to_the_longest_prefix_that_fits():
    emb = tables()
    groups = np.arange(N_ITEMS) % 3
    layout = elasticrec.BlockSelection.from_groups(4, groups, [[0, 1, 2, 3], [2, 0], [1]])
    whole = elasticrec.export_embeddings(emb, None, user=0, layout=layout)
    budget = len(whole.data) - 500
    got = elasticrec.export_embeddings(emb, budget, user=0, layout=layout)
    level = got.info["level"]
    assert 0 < level < layout.level and len(got.data) <= budget
    longer = elasticrec.export_embeddings(emb, None, user=0, layout=layout.truncate(level + 1))
    assert len(longer.data) > budget
    assert got.data == elasticrec.export_embeddings(emb, None, user=0,
                                                    layout=layout.truncate(level)).data
    assert runtime.load_bytes(got.data).manifest.method == "given-truncate"


def test_the_default_layout_is_the_widest_dense_prefix():
    emb = tables()
    default = elasticrec.export_embeddings(emb, 6000, user=2)
    given = elasticrec.export_embeddings(emb, 6000, user=2,
                                         layout=elasticrec.DenseSelection(DIM))
    assert default.data == given.data and 0 < default.info["width"] < DIM
    assert len(elasticrec.export_embeddings(emb, None, user=2).data) > 6000


def test_a_catalogue_reference_replaces_the_id_map():
    labels = [f"sku-{i * 7:05d}" for i in range(N_ITEMS)]
    emb = tables(labels)
    named = elasticrec.export_embeddings(emb, "40%", user=0)
    ref = elasticrec.export_embeddings(emb, "40%", user=0, item_ids="catalogue")
    assert runtime.load_bytes(named.data).manifest.items.kind == "front"
    assert runtime.load_bytes(ref.data, catalogue=labels).item_labels == tuple(labels)
    assert ref.info["width"] > named.info["width"]  # the freed bytes hold values
    with pytest.raises(elasticrec.ElasticrecError, match="item_ids 'names'"):
        elasticrec.export_embeddings(emb, "40%", item_ids="names")


def test_refusals_name_the_input():
    emb = tables()
    with pytest.raises(elasticrec.BudgetExceeded, match="over the budget of 100 bytes"):
        elasticrec.export_embeddings(emb, 100, user=0)
    assert issubclass(elasticrec.BudgetExceeded, elasticrec.ElasticrecError)
    with pytest.raises(elasticrec.ElasticrecError, match="layout ndarray is not"):
        elasticrec.export_embeddings(emb, None, layout=np.ones(N_ITEMS, dtype=int))
    with pytest.raises(elasticrec.ConfigError, match=r"RaggedSelection\.widths maximum"):
        elasticrec.export_embeddings(emb, None,
                                     layout=elasticrec.RaggedSelection(np.full(N_ITEMS, 17)))


@pytest.mark.parametrize(("labels", "kinds"), [
    ([str(i + 5) for i in range(N_ITEMS)],
     {"range", "int32", "int64", "delta", "labels", "catalogue"}),
    ([str(i) for i in range(N_ITEMS + 20) if i % 12 != 3],
     {"int32", "int64", "delta", "holes", "labels", "catalogue"}),
    ([str(i * 2**33) for i in range(N_ITEMS)], {"int64", "delta", "labels", "catalogue"}),
    ([f"sku-{i:04d}" for i in range(N_ITEMS)], {"front", "labels", "catalogue"}),
])
def test_id_map_costs_price_every_exact_map_and_the_chosen_one_as_shipped(labels, kinds):
    labels = labels[:N_ITEMS]
    manifest = runtime.load_bytes(elasticrec.export_embeddings(tables(labels), None).data
                                  ).manifest
    costs = runtime.id_map_costs(manifest, labels)
    assert set(costs) == kinds
    assert costs[manifest.items.kind] == runtime.id_map_bytes(manifest)
    assert costs[manifest.items.kind] == min(v for k, v in costs.items() if k != "catalogue")
    tensor_kinds = kinds - {"range", "labels", "catalogue"}
    assert all(costs[k] > costs["catalogue"] for k in tensor_kinds)
    if "int32" in costs:  # the same ids at 4 bytes a row rather than 8
        assert costs["int64"] - costs["int32"] == 4 * N_ITEMS


def test_id_map_costs_refuse_labels_that_are_not_the_packages():
    manifest = runtime.load_bytes(elasticrec.export_embeddings(tables(), None).data).manifest
    with pytest.raises(runtime.PackageError, match="119 item labels for a package of 120"):
        runtime.id_map_costs(manifest, [str(i) for i in range(N_ITEMS - 1)])
    with pytest.raises(runtime.PackageError, match="item labels repeat"):
        runtime.id_map_costs(manifest, ["1"] * N_ITEMS)
