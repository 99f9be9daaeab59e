"""A package can carry its user's seen items (counted in the budget); the device leaves them
out of its recommendations by default."""

from __future__ import annotations

import numpy as np

import elasticrec
from elasticrec import runtime


def test_seen_training_items_ship_and_are_left_out():
    rng = np.random.default_rng(0)
    run = elasticrec.fit((rng.integers(0, 60, 3000), rng.integers(0, 80, 3000)), model="mf",
                         method="full", epochs=1)
    user = run.user_ids[3]
    row = int(np.flatnonzero(run.user_ids == user)[0])
    trained = np.sort(run.data().known.to_csr()[row].indices)
    with_seen = runtime.load_bytes(run.export(4000, user=user, dtype="int4", seen=True))
    without = runtime.load_bytes(run.export(4000, user=user, dtype="int4"))
    np.testing.assert_array_equal(with_seen.seen, trained)
    assert with_seen.file_bytes <= 4000 and with_seen.manifest.seen == len(trained)
    # the seen items cost bytes: the same budget holds no wider a table
    assert with_seen.manifest.layout.width <= without.manifest.layout.width
    rec = with_seen.recommend(80)
    assert not set(rec.items.tolist()) & set(trained.tolist())
    assert len(rec.items) == 80 - len(trained)
    assert len(with_seen.recommend(80, exclude_seen=False).items) == 80
