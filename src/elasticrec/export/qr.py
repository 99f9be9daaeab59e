"""Packages of a compositional item table (QR-MF, ``models/qr.py``) in the qr layout.

A qr package (format version 4, docs/FORMAT.md) ships the two trained factor tables of the
item table, ``quotient`` (``ceil(n / m)`` rows) and ``remainder`` (``m`` rows), both of the
model's width, instead of the ``n`` composed rows. Its size is a function of the manifest
alone, so the shape for a budget is chosen before anything is trained (``qr_shape``): a
model is trained per shape, as the paper's baseline is.

Choosing the shape. A width-``D`` table of ``T(m) = m + ceil(n / m)`` rows costs ``T(m) *
D`` values. Every ``m`` up to ``ceil(sqrt(n))`` gives a distinct table size, from ``n + 1``
rows (``m = 1``) down to the fewest, ``ceil(2 sqrt(n))`` (``m = ceil(sqrt(n))``; a larger ``m``
only swaps the two tables' roles). ``qr_shape`` keeps the model's width and takes the largest
table (the most rows, ties to the larger ``m``) whose package fits: more rows mean fewer
items share each row. When even the fewest rows do not fit at full width, it keeps
``m = ceil(sqrt(n))`` and narrows the width (user vectors too) to the widest that fits, as
the uniform baseline narrows a full table. Nothing here touches the disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from elasticrec.budget.fit import BudgetExceeded, largest_fitting
from elasticrec.checks import check
from elasticrec.embeddings import QRFactors
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, common_tensors, plan_layout
from elasticrec.format import quantize
from elasticrec.format.container import encode
from elasticrec.format.manifest import QR_VALUE_DTYPES, QR_VERSION, Manifest, QRLayout
from elasticrec.format.sizes import device_bytes, longest_label
from elasticrec.format.values import VALUE_DTYPES

if TYPE_CHECKING:
    from elasticrec.embeddings import RunEmbeddings


@dataclass(frozen=True)
class QRShape:
    """A compositional table's shape: ``buckets`` remainder rows (``m``), ``quotient_rows``
    (``ceil(n_items / m)``) and the tables' (and user vectors') ``width``."""

    buckets: int
    quotient_rows: int
    width: int

    @property
    def rows(self) -> int:
        return self.buckets + self.quotient_rows


def fewest_rows_buckets(n_items: int) -> int:
    """The ``m`` of the smallest table, ``ceil(sqrt(n_items))`` (1 for an empty table)."""
    return math.isqrt(n_items - 1) + 1 if n_items > 0 else 1


def bucket_counts(n_items: int) -> list[int]:
    """The ``m`` worth training, largest table first: ``1 .. ceil(sqrt(n))``, each giving
    ``m + ceil(n / m)`` rows (ties to the larger ``m``, whose quotient is smaller)."""
    counts = range(1, fewest_rows_buckets(n_items) + 1)
    return sorted(counts, key=lambda m: (-(m + -(-n_items // m)), -m))


def plan_qr(emb: RunEmbeddings, buckets: int, options: BuildOptions) -> Manifest:
    """The manifest of the qr package of ``emb`` (its users and item labels, its width) with
    ``buckets`` remainder rows; nothing is trained or encoded."""
    check(options.value_dtype in QR_VALUE_DTYPES, "value_dtype", options.value_dtype,
          f"one of {QR_VALUE_DTYPES} (the two tables' values) for a qr package")
    return plan_layout(emb, QRLayout(buckets), options, version=QR_VERSION)


def qr_shape(emb: RunEmbeddings, options: BuildOptions, budget_bytes: int) -> QRShape:
    """The largest compositional table whose package fits ``budget_bytes`` (each
    single-user package, for a package of several users): full width with the most rows,
    else the fewest rows at the widest width; ``BudgetExceeded`` when not even one column
    fits. Sizes come from manifests only (one planned, the others derived from it)."""
    n, dim = emb.item.shape
    base = plan_qr(emb, fewest_rows_buckets(n), options)
    if len(base.users) > 1:  # the largest single-user package, once
        base = replace(base, users=(longest_label(base.users),))

    def size(m: int, width: int) -> int:
        return device_bytes(replace(base, layout=QRLayout(m), dim=width))

    for m in bucket_counts(n):
        if size(m, dim) <= budget_bytes:
            return QRShape(m, -(-n // m), dim)
    m = base.layout.m
    level = largest_fitting(lambda w: size(m, w + 1), dim - 1, budget_bytes)
    if level < 0:
        raise BudgetExceeded(size(m, 1), budget_bytes, size(m, 1),
                             f"m={m}, {base.quotient_rows + m} rows of width 1",
                             request="the smallest qr package")
    return QRShape(m, -(-n // m), level + 1)


def build_qr(emb: RunEmbeddings, factors: QRFactors, options: BuildOptions,
             budget_bytes: int | None = None) -> bytes:
    """The qr package bytes of ``emb``'s users with the item tables ``factors`` (the QR-MF
    run's, whose composed rows are ``emb.item``); ``BudgetExceeded`` (nothing encoded) when
    over ``budget_bytes``."""
    manifest = plan_qr(emb, factors.buckets, options)
    if factors.quotient.shape != (manifest.quotient_rows, manifest.dim) or (
            factors.remainder.shape[1] != manifest.dim):
        raise ElasticrecError(f"qr tables of shapes {factors.quotient.shape} and "
                              f"{factors.remainder.shape} do not fit a table of "
                              f"{manifest.n_items} items of width {manifest.dim}")
    if budget_bytes is not None:
        needed = device_bytes(manifest)
        if needed > budget_bytes:
            m = fewest_rows_buckets(manifest.n_items)
            smallest = device_bytes(replace(manifest, layout=QRLayout(m)))
            raise BudgetExceeded(needed, budget_bytes, smallest,
                                 f"m={m}, the fewest rows at this width",
                                 request="the qr package")
    if not np.isfinite(emb.user).all():
        raise ElasticrecError("the user table holds NaN or infinite values; nothing to ship")
    tensors = common_tensors(emb, options, manifest)
    for name in ("quotient", "remainder"):
        table = np.ascontiguousarray(getattr(factors, name), dtype=np.float32)
        if options.value_dtype == "float16":
            table = quantize.to_float16(table)
        tensors[name] = (VALUE_DTYPES[options.value_dtype], table)
    return encode(manifest.to_json(), tensors)
