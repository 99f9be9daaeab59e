"""int4 / int2 packages are scored packed: one user's scores never widen the table."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions, build
from elasticrec.runtime import load_bytes

N_ITEMS, DIM = 30_000, 64


@pytest.mark.parametrize("dtype", ["int4", "int2"])
@pytest.mark.parametrize("layout", ["dense", "blocks", "ragged"])
def test_scoring_allocates_far_less_than_a_float32_table(dtype, layout):
    rng = np.random.default_rng(0)
    emb = RunEmbeddings(user=rng.standard_normal((1, DIM), dtype=np.float32),
                        item=rng.standard_normal((N_ITEMS, DIM), dtype=np.float32),
                        dataset="toy", dataset_fingerprint="f", model="mf", user_labels=["a"],
                        item_labels=[str(i) for i in range(N_ITEMS)])
    selection = {
        "dense": DenseSelection(DIM),
        "blocks": BlockSelection.from_groups(8, rng.integers(0, 3, N_ITEMS),
                                             [list(range(8)), [0, 1, 2], [5]]),
        "ragged": RaggedSelection(rng.integers(1, DIM + 1, N_ITEMS)),
    }[layout]
    pkg = load_bytes(build(emb, selection, BuildOptions(value_dtype=dtype)))
    u = pkg.user_vector()
    pkg.scores(u)
    tracemalloc.start()
    scores = pkg.scores(u)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    float32_table = N_ITEMS * DIM * 4
    assert peak < float32_table / 8, f"{peak:,} bytes allocated to score"
    np.testing.assert_allclose(scores, pkg.item_vectors(np.arange(N_ITEMS)) @ u, rtol=1e-4,
                               atol=1e-3)
