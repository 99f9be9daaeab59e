"""Shrinking on the device gives, byte for byte, the package the server builds for that
budget from the same priorities; it never grows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elasticrec.budget.fit import BudgetExceeded
from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, fit, plan
from elasticrec.format.sizes import device_bytes
from elasticrec.runtime import load_bytes, shrink


def make_run(seed: int, n_items: int, dim: int, n_users: int) -> RunEmbeddings:
    rng = np.random.default_rng(seed)
    return RunEmbeddings(
        user=rng.standard_normal((n_users, dim), dtype=np.float32),
        item=rng.standard_normal((n_items, dim), dtype=np.float32),
        dataset="toy", dataset_fingerprint="f", model="mf",
        user_labels=[f"user-{i}" * (i + 1) for i in range(n_users)],
        item_labels=[str(5 * i) for i in range(n_items)],
    )


@st.composite
def requests(draw: st.DrawFn):
    n_items, dim = draw(st.integers(1, 40)), draw(st.sampled_from([2, 4, 8, 12]))
    run = make_run(draw(st.integers(0, 10**6)), n_items, dim, draw(st.integers(1, 3)))
    rng = np.random.default_rng(draw(st.integers(0, 10**6)))
    kind = draw(st.sampled_from(["dense", "blocks", "ragged"]))
    if kind == "dense":
        selection = DenseSelection(dim)
    elif kind == "ragged":
        selection = RaggedSelection(rng.integers(0, dim + 1, n_items))
    else:
        n_blocks = draw(st.sampled_from([b for b in (1, 2, 4) if dim % b == 0]))
        n_groups = draw(st.integers(1, 4))
        priorities = [list(rng.permutation(n_blocks)) for _ in range(n_groups)]
        selection = BlockSelection.from_groups(n_blocks, rng.integers(0, n_groups, n_items),
                                               priorities, rescale=draw(st.booleans()))
    dtype = draw(st.sampled_from(["float32", "float16", "int8", "int4", "int2"]))
    scales = "auto"
    if dtype.startswith("int"):  # row scales, column scales or (blocks) block scales
        scales = draw(st.sampled_from(["auto", "column", "block"] if kind == "blocks"
                                      else ["auto", "column"]))
    users = draw(st.sampled_from([None, (0,)]))
    return run, selection, BuildOptions(value_dtype=dtype, scales=scales, users=users)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.floats(0, 1), st.floats(0, 1))
def test_shrink_equals_the_server_build_for_that_budget(request, a, b):
    run, selection, options = request
    lo = device_bytes(plan(run, selection.truncate(min(1, selection.level)), options))
    hi = device_bytes(plan(run, selection, options))
    small, big = sorted(int(lo + f * (hi - lo)) for f in (a, b))
    package = load_bytes(build(run, fit(run, selection, options, big), options))
    server = build(run, fit(run, selection, options, small), options)
    if small > package.device_bytes():  # the package already fits: nothing to drop
        with pytest.raises(ElasticrecError, match="a larger package needs the server"):
            shrink(package, small)
        assert package.device_bytes() == device_bytes(load_bytes(server).manifest)
        return
    shrunk = shrink(package, small)
    assert shrunk == server
    smaller = load_bytes(shrunk)
    assert smaller.device_bytes() <= small
    middle = load_bytes(shrink(package, max(small, min(big, package.device_bytes()) - 1)))
    if middle.device_bytes() >= small:
        assert shrink(middle, small) == server  # nested: shrinking twice = shrinking once


def test_shrunk_package_ranks_as_the_server_package():
    run = make_run(1, 500, 16, 1)
    selection = BlockSelection.from_groups(4, np.arange(500) % 5, [[0, 1, 2, 3]] * 5)
    full = load_bytes(build(run, selection, BuildOptions()))
    budget = full.device_bytes() // 2
    shrunk = load_bytes(shrink(full, budget))
    server = load_bytes(build(run, fit(run, selection, BuildOptions(), budget), BuildOptions()))
    assert shrunk.recommend(20).labels == server.recommend(20).labels
    assert len(shrunk.manifest.layout.order) < len(selection.order)


def test_growing_needs_the_server():
    run = make_run(2, 50, 8, 1)
    package = load_bytes(build(run, DenseSelection(4), BuildOptions()))
    with pytest.raises(ElasticrecError, match="a larger package needs the server"):
        shrink(package, package.device_bytes() + 1)
    assert shrink(package, package.device_bytes()) == build(run, DenseSelection(4),
                                                            BuildOptions())


def test_shrinking_below_the_fixed_overhead_is_refused_with_the_smallest_size():
    run = make_run(3, 50, 8, 1)
    package = load_bytes(build(run, DenseSelection(8), BuildOptions()))
    smallest = device_bytes(plan(run, DenseSelection(0), BuildOptions()))
    with pytest.raises(BudgetExceeded, match=f"no item values\\) is {smallest:,} bytes"):
        shrink(package, 100)
