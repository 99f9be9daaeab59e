"""Product quantisation of the item table: codebooks trained with faiss, each item as codes.

The item table's width ``D`` is cut into ``m`` sub-vectors of width ``D / m``; each sub-space
gets a codebook of ``K = 256`` centroids (k-means, ``faiss.ProductQuantizer`` with 8 bits),
and each item ships one uint8 code per sub-vector: the package's pq layout (format version 3,
docs/FORMAT.md), whose size counts the header, the user vector, the id map, the codebooks
(``m x K x D / m`` values: ``K * D`` whatever ``m``) and the codes (``m`` bytes per item).

``train_pq`` is the only function that needs faiss (the optional extra ``pq``), imported when
it is called. A table of at most ``K`` items needs no training: each item is its own
centroid (``K = n_items``), so the codes are exact. ``fit_pq`` chooses the largest ``m``
(a divisor of ``D``) whose package fits a budget from the manifest alone, before anything
is trained; ``build_pq`` encodes the package. Nothing here touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from elasticrec.budget.fit import BudgetExceeded
from elasticrec.checks import check
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, common_tensors, plan_layout
from elasticrec.format import quantize
from elasticrec.format.container import encode
from elasticrec.format.manifest import (
    PQ_MAX_CENTROIDS,
    PQ_VALUE_DTYPES,
    PQ_VERSION,
    Manifest,
    PQLayout,
)
from elasticrec.format.sizes import device_bytes
from elasticrec.format.values import VALUE_DTYPES

if TYPE_CHECKING:
    from elasticrec.embeddings import RunEmbeddings

PQ_BITS = 8  # one uint8 code per sub-vector
KMEANS_ITERATIONS = 25  # faiss's default for a product quantizer


@dataclass(frozen=True, eq=False)
class PQTables:
    """A trained product quantizer: ``codebooks`` float32 ``(m, K, D / m)`` (values that the
    package's codebook dtype holds exactly) and ``codes`` uint8 ``(n_items, m)``."""

    codebooks: np.ndarray
    codes: np.ndarray

    @property
    def m(self) -> int:
        return self.codebooks.shape[0]

    @property
    def centroids(self) -> int:
        return self.codebooks.shape[1]

    def decoded(self) -> np.ndarray:
        """float32 ``(n_items, D)``: each item's sub-vectors replaced by their centroids."""
        picked = self.codebooks[np.arange(self.m), self.codes]
        return picked.reshape(len(self.codes), -1)


def pq_centroids(n_items: int) -> int:
    """Centroids per codebook: 256, or one per item for a table of fewer items."""
    return max(1, min(PQ_MAX_CENTROIDS, n_items))


def sub_vector_counts(dim: int) -> list[int]:
    """The ``m`` a width ``dim`` allows (its divisors), largest first."""
    return [m for m in range(dim, 0, -1) if dim % m == 0]


def train_pq(item: np.ndarray, m: int, *, value_dtype: str = "float32",
             seed: int = 0) -> PQTables:
    """Codebooks for ``m`` sub-vectors of ``item`` (float32 ``(n, D)``) and every item's codes.

    faiss trains 256 centroids per sub-space (k-means from ``seed``); with ``value_dtype``
    float16 the centroids are rounded to float16 first and the items encoded against the
    rounded ones, so the codes are the nearest centroids of what ships."""
    check(value_dtype in PQ_VALUE_DTYPES, "value_dtype", value_dtype, str(PQ_VALUE_DTYPES))
    x = np.ascontiguousarray(item, dtype=np.float32)
    n, dim = x.shape
    check(isinstance(m, int) and m >= 1 and dim % m == 0, "m", m,
          f"an int >= 1 dividing dim={dim}")
    if not np.isfinite(x).all():
        raise ElasticrecError("the item table holds NaN or infinite values; nothing to ship")
    if n <= PQ_MAX_CENTROIDS:
        return _exact(x, m, value_dtype)
    faiss = _faiss()
    pq = faiss.ProductQuantizer(dim, m, PQ_BITS)
    pq.cp.seed = int(seed)
    pq.cp.niter = KMEANS_ITERATIONS
    # faiss warns below 39 points per centroid (9,984 items); small catalogues are what
    # this baseline is measured on, and the warning would go to the bench's output
    pq.cp.min_points_per_centroid = 1
    pq.train(x)
    codebooks = faiss.vector_to_array(pq.centroids).reshape(m, pq.ksub, pq.dsub)
    if value_dtype == "float16":
        codebooks = quantize.to_float16(codebooks).astype(np.float32)
        faiss.copy_array_to_vector(codebooks.reshape(-1), pq.centroids)
    codes = pq.compute_codes(x).reshape(n, m)
    return PQTables(np.ascontiguousarray(codebooks, dtype=np.float32), codes)


def _exact(x: np.ndarray, m: int, value_dtype: str) -> PQTables:
    """Every item its own centroid (at most 256 items): the codes are exact."""
    n, dim = x.shape
    k = pq_centroids(n)
    codebooks = np.zeros((m, k, dim // m), dtype=np.float32)
    codebooks[:, :n] = x.reshape(n, m, dim // m).transpose(1, 0, 2)
    if value_dtype == "float16":
        codebooks = quantize.to_float16(codebooks).astype(np.float32)
    codes = np.repeat(np.arange(n, dtype=np.uint8)[:, None], m, axis=1)
    return PQTables(codebooks, codes)


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ElasticrecError("product quantisation trains its codebooks with faiss: install "
                              "the extra, pip install 'elasticrec[pq]'") from None
    return faiss


def plan_pq(emb: RunEmbeddings, m: int, options: BuildOptions,
            centroids: int | None = None) -> Manifest:
    """The manifest of the pq package of ``emb`` with ``m`` sub-vectors of ``centroids``
    each (default: what ``train_pq`` trains, ``pq_centroids``); nothing is trained."""
    _check_options(options)
    k = pq_centroids(len(emb.item)) if centroids is None else centroids
    return plan_layout(emb, PQLayout(m, k), options, version=PQ_VERSION)


def fit_pq(emb: RunEmbeddings, options: BuildOptions, budget_bytes: int) -> int:
    """The largest ``m`` dividing the width whose package fits ``budget_bytes`` (each
    single-user package, for a package of several users); ``BudgetExceeded`` when none."""
    counts = sub_vector_counts(emb.item.shape[1])
    for m in counts:
        if device_bytes(plan_pq(emb, m, options)) <= budget_bytes:
            return m
    smallest = device_bytes(plan_pq(emb, counts[-1], options))
    raise BudgetExceeded(smallest, budget_bytes, smallest, "m=1: one code per item",
                         request="the pq package")


def build_pq(emb: RunEmbeddings, tables: PQTables, options: BuildOptions,
             budget_bytes: int | None = None) -> bytes:
    """The pq package bytes of ``emb``'s users and ``tables`` (trained on ``emb.item``);
    ``BudgetExceeded`` (nothing encoded) when over ``budget_bytes``."""
    manifest = plan_pq(emb, tables.m, options, tables.centroids)
    if (tables.codes.shape != (manifest.n_items, tables.m)
            or tables.codebooks.shape[2] != manifest.sub_width):
        raise ElasticrecError(f"pq tables of codes {tables.codes.shape} and codebooks "
                              f"{tables.codebooks.shape} do not fit a table of "
                              f"{manifest.n_items} items of width {manifest.dim}")
    if budget_bytes is not None:
        needed = device_bytes(manifest)
        if needed > budget_bytes:
            smallest = device_bytes(plan_pq(emb, 1, options, tables.centroids))
            raise BudgetExceeded(needed, budget_bytes, smallest, "m=1: one code per item",
                                 request="the pq package")
    if not np.isfinite(emb.user).all():
        raise ElasticrecError("the user table holds NaN or infinite values; nothing to ship")
    tensors = common_tensors(emb, options, manifest)
    codebooks = (quantize.to_float16(tables.codebooks) if options.value_dtype == "float16"
                 else tables.codebooks)
    tensors["codebooks"] = (VALUE_DTYPES[options.value_dtype], codebooks)
    tensors["codes"] = ("U8", tables.codes)
    return encode(manifest.to_json(), tensors)


def _check_options(options: BuildOptions) -> None:
    check(options.value_dtype in PQ_VALUE_DTYPES, "value_dtype", options.value_dtype,
          f"one of {PQ_VALUE_DTYPES} (the codebooks' values) for a pq package")
