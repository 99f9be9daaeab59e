"""Exact accounting: the size computed from the manifest is the written file's size, and no
package is ever written over its budget (1,000 random budgets)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from package_strategies import package_requests

from elasticrec.budget.fit import BudgetExceeded
from elasticrec.export.builder import build, fit, plan, write_package
from elasticrec.format.sizes import byte_breakdown, device_bytes, package_bytes
from elasticrec.runtime import load, load_bytes


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast(150)
@given(package_requests())
def test_computed_size_equals_written_file_size(request):
    emb, selection, options = request
    manifest = plan(emb, selection, options)
    data = build(emb, selection, options)
    assert len(data) == package_bytes(manifest)
    assert sum(byte_breakdown(manifest).values()) == len(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.erpk"
        write_package(path, data)
        assert os.path.getsize(path) == package_bytes(manifest)
        pkg = load(path)
        assert pkg.file_bytes == len(data)
        assert pkg.device_bytes() == device_bytes(manifest)


@fast(100)
@given(package_requests(max_items=20), st.data())
def test_no_package_exceeds_its_budget(request, data):
    """100 random packages x 10 random budgets each: 1,000 budgets."""
    emb, selection, options = request
    lo = device_bytes(plan(emb, selection.truncate(0), options))
    hi = device_bytes(plan(emb, selection, options))
    budgets = data.draw(st.lists(st.integers(max(1, lo - 200), hi + 200), min_size=10,
                                 max_size=10), label="budgets")
    for budget in budgets:
        check_fit(emb, selection, options, budget)


def check_fit(emb, selection, options, budget: int) -> None:
    try:
        fitted = fit(emb, selection, options, budget)
    except BudgetExceeded as exc:
        assert exc.needed_bytes > budget
        assert "over the budget" in str(exc) and "smallest package" in str(exc)
        with pytest.raises(BudgetExceeded):
            build(emb, selection.truncate(min(1, selection.level)), options, budget)
        return
    written = build(emb, fitted, options, budget_bytes=budget)
    manifest = plan(emb, fitted, options)
    assert len(written) == package_bytes(manifest)
    assert device_bytes(manifest) <= budget
    if fitted.level < selection.level:  # the largest truncation that fits
        assert device_bytes(plan(emb, selection.truncate(fitted.level + 1), options)) > budget
    pkg = load_bytes(written)
    sizes = [len(pkg.for_user(u)) for u in pkg.users]
    assert max(sizes, default=len(written)) == device_bytes(manifest)
    assert all(s <= budget for s in sizes)


@fast(60)
@given(package_requests(max_items=12))
def test_over_budget_is_refused_with_the_overshoot_and_the_smallest_size(request):
    emb, selection, options = request
    needed = device_bytes(plan(emb, selection, options))
    smallest = device_bytes(plan(emb, selection.truncate(0), options))
    with pytest.raises(BudgetExceeded) as info:
        build(emb, selection, options, budget_bytes=needed - 1)
    message = str(info.value)
    assert f"needs {needed:,} bytes" in message
    assert "1 bytes over the budget" in message
    assert f"(no item values) is {smallest:,} bytes" in message
