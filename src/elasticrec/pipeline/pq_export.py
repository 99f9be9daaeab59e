"""A product-quantised device package straight from a pair of tables (``export_pq``): the
item table in ``m`` uint8 codes per item plus the codebooks, the largest ``m`` that fits
(``elasticrec.export.pq``; the codebooks are trained with faiss, extra ``pq``)."""

from __future__ import annotations

import time

from elasticrec.budget.units import budget_to_bytes, format_bytes, full_table_bytes
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.basis import in_basis
from elasticrec.export.builder import BuildOptions
from elasticrec.export.pq import build_pq, fit_pq, plan_pq, train_pq
from elasticrec.pipeline.export import Exported, device_note


def export_pq(embeddings: RunEmbeddings, budget: int | str | None, *, user: int | None = None,
              m: int | None = None, dtype: str = "float32", basis: str = "svd",
              item_ids: str = "auto", seed: int = 0) -> Exported:
    """A pq package of ``embeddings`` within ``budget`` (bytes, or ``"2MB"``, ``"10%"`` of
    the full float32 item table; ``None``: no budget, then give ``m``): the largest ``m``
    dividing the width that fits, or the given ``m``. ``dtype``: the codebooks' values,
    ``float32`` or ``float16``. ``user``: the row of the one user it ships (default: every
    user, an evaluation bundle whose single-user packages fit the budget). ``basis``:
    ``"svd"`` quantises the tables rotated by their score-preserving basis (which
    ``embeddings`` must then hold every training user for), ``"trained"`` as they are.
    ``seed`` seeds k-means. ``info`` holds ``m``, ``centroids``, ``train_seconds`` and, for a
    bundle, each single-user package's size (``device_bytes``).

    >>> elasticrec.export_pq(run.embeddings, "10%", user=0).data  # doctest: +SKIP
    """
    budget_bytes = None if budget is None else budget_to_bytes(
        budget, full_table_bytes=full_table_bytes(*embeddings.item.shape))
    if budget_bytes is None and m is None:
        raise ElasticrecError("give a budget, or the number of sub-vectors m")
    if user is not None and not 0 <= int(user) < len(embeddings.user):
        raise ElasticrecError(f"user row {user} is not in 0..{len(embeddings.user) - 1}")
    emb = in_basis(embeddings, basis)
    options = BuildOptions(value_dtype=dtype, method="pq", item_ids=item_ids,
                           users=None if user is None else (int(user),))
    if m is None:
        m = fit_pq(emb, options, budget_bytes)
    t0 = time.perf_counter()
    tables = train_pq(emb.item, m, value_dtype=dtype, seed=seed)
    seconds = time.perf_counter() - t0
    data = build_pq(emb, tables, options, budget_bytes)
    info = {"m": m, "centroids": tables.centroids, "basis": basis, "train_seconds": seconds}
    n_users = len(emb.user) if user is None else 1
    per_device = device_note(n_users, lambda: plan_pq(emb, m, options), info)
    limit = "no budget" if budget_bytes is None else f"budget {format_bytes(budget_bytes)}"
    summary = (f"{format_bytes(len(data))}, pq m={m} x {tables.centroids} centroids, {dtype} "
               f"codebooks, {basis} basis, {n_users} user(s); {limit}{per_device}")
    return Exported(data, summary, info)
