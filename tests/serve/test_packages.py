"""The server's package builder in-process: the cache gives exactly ``Run.export``'s bytes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import elasticrec
from elasticrec.serve.packages import PackageService

SRC = Path(__file__).resolve().parents[2] / "src"


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


def test_serving_needs_no_training_stack(tiny_runs):
    """The serve extra (starlette, uvicorn, safetensors) is enough: PyTorch, SciPy, tqdm and
    pyarrow are made unimportable, and the app still builds packages."""
    code = textwrap.dedent(f"""
        import sys
        for name in ("torch", "scipy", "tqdm", "pyarrow", "pandas"):
            sys.modules[name] = None
        import elasticrec
        from elasticrec.serve import PackageService
        from elasticrec.serve.app import make_app
        service = PackageService(elasticrec.load_run({str(tiny_runs["peel"])!r}), name="p")
        make_app(service)
        print(len(service.for_user("37", "5000").data),
              len(service.for_history([0, 1, 2], "5000").data))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    sizes = [int(x) for x in proc.stdout.split()]
    assert len(sizes) == 2 and max(sizes) <= 5000
