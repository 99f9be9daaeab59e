"""Compositional (quotient-remainder) device packages: ``qr_shape`` sizes the QR-MF model a
budget holds before it is trained, ``export_qr`` ships a trained one's two item tables
(``elasticrec.export.qr``; the model is ``fit(model="mf", qr_buckets=m)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elasticrec.budget.units import budget_to_bytes, format_bytes, full_table_bytes
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions
from elasticrec.export.qr import QRShape, build_qr, plan_qr
from elasticrec.export.qr import qr_shape as fit_shape
from elasticrec.pipeline.export import Exported, device_note

if TYPE_CHECKING:
    from elasticrec.pipeline.run import Run


def qr_shape(embeddings: RunEmbeddings, budget: int | str, *,
             dtype: str = "float32") -> QRShape:
    """The compositional table a package of ``embeddings``' users and items holds within
    ``budget`` (bytes, or ``"2MB"``, ``"10%"`` of the full float32 item table): at the
    tables' width, the ``m`` with the most rows that fit (``m`` up to ``ceil(sqrt(n))``);
    else ``m = ceil(sqrt(n))`` at the widest width that fits. Train it with
    ``fit(..., model="mf", qr_buckets=shape.buckets, dim=shape.width)``.

    >>> elasticrec.qr_shape(run.embeddings, "10%")  # doctest: +SKIP
    QRShape(buckets=41, quotient_rows=42, width=64)
    """
    options = BuildOptions(value_dtype=dtype, method="qr")  # every user's package fits
    return fit_shape(embeddings, options, budget_to_bytes(
        budget, full_table_bytes=full_table_bytes(*embeddings.item.shape)))


def export_qr(run: Run, budget: int | str | None, *, user=None, dtype: str = "float32",
              item_ids: str = "auto") -> Exported:
    """The qr package of a QR-MF ``run`` (its quotient and remainder tables, as trained)
    within ``budget`` (bytes, ``"2MB"``, ``"10%"``; ``None``: no budget). ``user``: the id
    of the one user it ships (default: every user, an evaluation bundle whose single-user
    packages fit the budget). ``dtype``: the tables' values, ``float32`` or ``float16``.
    ``info`` holds ``m``, ``quotient_rows``, ``width`` and, for a bundle, each single-user
    package's size (``device_bytes``).

    >>> elasticrec.export_qr(run, "10%", user=42).data  # doctest: +SKIP
    """
    factors = run.qr_factors
    if factors is None:
        raise ElasticrecError(f"{run.path} is not a QR-MF run: train one with "
                              "fit(model='mf', qr_buckets=m)")
    emb = run.embeddings
    budget_bytes = None if budget is None else budget_to_bytes(
        budget, full_table_bytes=full_table_bytes(*emb.item.shape))
    users = None if user is None else (int(run._rows([user], run.user_ids, "user")[0]),)
    options = BuildOptions(value_dtype=dtype, method="qr", item_ids=item_ids, users=users)
    data = build_qr(emb, factors, options, budget_bytes)
    manifest = plan_qr(emb, factors.buckets, options)
    info = {"m": factors.buckets, "quotient_rows": manifest.quotient_rows,
            "width": manifest.dim}
    per_device = device_note(len(manifest.users), lambda: manifest, info)
    limit = "no budget" if budget_bytes is None else f"budget {format_bytes(budget_bytes)}"
    summary = (f"{format_bytes(len(data))}, qr m={factors.buckets} x "
               f"{manifest.quotient_rows} quotient rows of width {manifest.dim}, {dtype}, "
               f"{len(manifest.users)} user(s); {limit}{per_device}")
    return Exported(data, summary, info)
