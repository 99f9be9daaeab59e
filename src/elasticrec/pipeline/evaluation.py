"""A run's quality: the server model, or what ships at a budget through the NumPy runtime,
on the test or the validation split, as means and, when asked, per user (``Run.evaluate``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from elasticrec import runtime
from elasticrec.errors import ElasticrecError
from elasticrec.export.basis import BASES
from elasticrec.format.sizes import device_bytes

if TYPE_CHECKING:
    from elasticrec.data.prepare import PreparedData
    from elasticrec.pipeline.run import Run


def evaluate_run(run: Run, ks: tuple[int, ...], *, budget, package, dtype: str, strategy: str,
                 seed: int, split: str, per_user: bool, basis: str, data_dir,
                 download: bool, scales: str = "row") -> dict:
    """``Run.evaluate``'s record (see its docstring)."""
    from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
    from elasticrec.export.evaluate import evaluate_package

    if basis not in BASES:
        raise ElasticrecError(f"basis {basis!r} is not one of {BASES}")
    data = run.data(data_dir=data_dir, download=download)
    known, target = _split(data, split)
    record = {"dataset": data.name, "model": run.model, "method": run.method}
    if split != "test":
        record["split"] = split
    if budget is None and package is None:
        emb = run.embeddings
        result = evaluate_ranking(score_fn_from_embeddings(emb.user, emb.item), known,
                                  target, ks, per_user=per_user)
        return {**record, "method": "full", **result.metrics, "n_test_users": result.n_users,
                "seconds": result.seconds, **_per_user(result, target, per_user)}
    if package is None and run.method == "peel":
        from elasticrec.peel.quality import packages_quality

        t0 = time.perf_counter()
        users, info = packages_quality(run.embeddings, run.peel_state,
                                       run.elastic_state.item_group, known, target,
                                       run.budget_bytes(budget), ks, value_dtype=dtype,
                                       scales=scales, basis=basis)
        metrics = {name: float(np.nanmean(v)) for name, v in users.items()}
        return {**record, "budget_bytes": run.budget_bytes(budget), "basis": basis, **metrics,
                "n_test_users": int(np.isfinite(next(iter(users.values()))).sum()),
                **info, "seconds": time.perf_counter() - t0,
                **({"per_user": users} if per_user else {})}
    if package is None:
        package = run.export_bundle(budget, dtype=dtype, strategy=strategy, seed=seed,
                                    basis=basis, scales=scales)
    pkg = (runtime.load_bytes(package) if isinstance(package, bytes)
           else runtime.load(package))
    where = "the package" if isinstance(package, bytes) else str(package)
    if pkg.manifest.dataset_fingerprint != run.config["dataset_fingerprint"]:
        raise ElasticrecError(f"{where} was not built from the data of {run.path} "
                              f"(dataset fingerprint {pkg.manifest.dataset_fingerprint} "
                              f"!= {run.config['dataset_fingerprint']})")
    result = evaluate_package(pkg, known, target, ks, per_user=per_user)
    return {**record, "method": pkg.manifest.method,
            "package_bytes": len(package) if isinstance(package, bytes)
            else Path(package).stat().st_size,
            "device_bytes": device_bytes(pkg.manifest), **result.metrics,
            "n_test_users": result.n_users, "seconds": result.seconds,
            **_per_user(result, target, per_user)}


SPLITS = ("test", "valid")


def _split(data: PreparedData, split: str):
    """(known, target) CSR matrices of an evaluation split: items a user is scored against and
    the held-out items that count as hits."""
    if split == "test":
        return data.known.to_csr(), data.test.to_csr()
    if split == "valid":
        if data.valid is None:
            raise ElasticrecError("split='valid': this run has no validation split "
                                  "(it was trained with valid_ratio=0)")
        return data.train.to_csr(), data.valid.to_csr()
    raise ElasticrecError(f"split {split!r} is not one of {SPLITS}")


def _per_user(result, target, wanted: bool) -> dict:
    """``{"per_user": metric -> values over every user row}`` (NaN where not evaluated)."""
    if not wanted:
        return {}
    out = {}
    for name, values in result.per_user.items():
        out[name] = np.full(target.shape[0], np.nan)
        out[name][result.users] = values
    return {"per_user": out}
