"""The server's package builder in-process: the cache gives exactly ``Run.export``'s bytes."""

from __future__ import annotations

import pytest

import elasticrec
from elasticrec.serve.packages import PackageService


@pytest.mark.parametrize("method, budget", [("peel", 5000), ("rule", 5500)])
def test_cached_packages_equal_fresh_exports(tiny_runs, method, budget):
    run = elasticrec.load_run(tiny_runs[method])
    service = PackageService(run, name=method, cache_size=64)
    users = [str(u) for u in run.user_ids.tolist()]
    built = [service.for_user(u, str(budget)) for u in users]
    assert sum(b.cached for b in built) > len(users) // 2  # most reuse an item part
    for user, b in zip(users, built, strict=True):
        assert b.data == run.export(budget, user=user), user
    stats = service.stats()
    assert stats["hits"] + stats["misses"] == len(users)


def test_without_a_cache_every_package_is_exported(tiny_runs):
    run = elasticrec.load_run(tiny_runs["peel"])
    service = PackageService(run, name="peel", cache_size=0)
    assert not any(service.for_user(u, "5000").cached for u in ("0", "37", "0"))
    assert service.stats()["cached_parts"] == 0


def test_the_cache_keeps_at_most_its_size(tiny_runs):
    run = elasticrec.load_run(tiny_runs["peel"])
    service = PackageService(run, name="peel", cache_size=2)
    for budget in ("4000", "5000", "6000", "7000"):
        service.for_user("37", budget)
    assert service.stats()["cached_parts"] == 2
    with pytest.raises(elasticrec.ElasticrecError, match="cache_size"):
        PackageService(run, name="peel", cache_size=-1)
