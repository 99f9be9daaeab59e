"""The final embeddings of a trained run, as later stages (export, evaluation) read them.

A run directory holds ``embeddings.safetensors``: tensors ``user`` [n_users, d] and ``item``
[n_items, d] (float32, the embeddings the model scores with, after any propagation) and a
metadata entry ``elasticrec`` with a JSON object: dataset, dataset_fingerprint, model,
user_labels and item_labels (the source file's id of each row). A run of QR-MF (a
compositional item table, ``models/qr.py``) also holds ``qr.safetensors``: tensors
``quotient`` [ceil(n_items / m), d] and ``remainder`` [m, d] (float32), whose products
``quotient[i // m] * remainder[i % m]`` are the ``item`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elasticrec.tensorfile import RunFileError, read_tensors, write_tensors

EMBEDDINGS_FILE = "embeddings.safetensors"
QR_FILE = "qr.safetensors"


@dataclass(frozen=True, eq=False)
class RunEmbeddings:
    user: np.ndarray
    item: np.ndarray
    dataset: str
    dataset_fingerprint: str
    model: str
    user_labels: list[str]
    item_labels: list[str]

    def __post_init__(self) -> None:
        if self.user.ndim != 2 or self.item.ndim != 2 or self.user.shape[1] != self.item.shape[1]:
            raise ValueError(
                f"the user {self.user.shape} and item {self.item.shape} embedding tables "
                "must be 2-d with the same width"
            )
        if len(self.user_labels) != len(self.user) or len(self.item_labels) != len(self.item):
            raise ValueError(f"{len(self.user_labels)} user and {len(self.item_labels)} item "
                             f"labels for {len(self.user)} user and {len(self.item)} item "
                             "rows; one label per row is required")
        for name in ("user", "item"):
            table = getattr(self, name)
            if table.dtype.kind != "f" or not np.isfinite(table).all():
                raise ValueError(f"the {name} embedding table holds NaN, infinite or non-float "
                                 "values")


def save_embeddings(run_dir: str | Path, emb: RunEmbeddings) -> Path:
    meta = {
        "dataset": emb.dataset,
        "dataset_fingerprint": emb.dataset_fingerprint,
        "model": emb.model,
        "user_labels": list(emb.user_labels),
        "item_labels": list(emb.item_labels),
    }
    tensors = {"user": np.asarray(emb.user, dtype=np.float32),
               "item": np.asarray(emb.item, dtype=np.float32)}
    return write_tensors(Path(run_dir) / EMBEDDINGS_FILE, tensors, meta)


def load_embeddings(run_dir: str | Path) -> RunEmbeddings:
    path = Path(run_dir) / EMBEDDINGS_FILE
    meta, tensors = read_tensors(path, "finished `elasticrec train`", ("user", "item"))
    try:
        return RunEmbeddings(
            user=tensors["user"], item=tensors["item"], dataset=meta["dataset"],
            dataset_fingerprint=meta["dataset_fingerprint"], model=meta["model"],
            user_labels=meta["user_labels"], item_labels=meta["item_labels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFileError(f"{path}: unreadable run embeddings ({exc})") from None


@dataclass(frozen=True, eq=False)
class QRFactors:
    """A compositional item table: item ``i`` is ``quotient[i // m] * remainder[i % m]``,
    with ``m = len(remainder)`` (the buckets)."""

    quotient: np.ndarray
    remainder: np.ndarray

    def __post_init__(self) -> None:
        q, r = self.quotient, self.remainder
        if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1] or not len(r):
            raise ValueError(f"the quotient {q.shape} and remainder {r.shape} tables must be "
                             "2-d with the same width and at least one remainder row")
        for name, table in (("quotient", q), ("remainder", r)):
            if table.dtype.kind != "f" or not np.isfinite(table).all():
                raise ValueError(f"the {name} table holds NaN, infinite or non-float values")

    @property
    def buckets(self) -> int:
        return len(self.remainder)

    def items(self, rows: np.ndarray) -> np.ndarray:
        """float32 composed vectors of item ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return (self.quotient[rows // self.buckets]
                * self.remainder[rows % self.buckets]).astype(np.float32)


def save_qr_factors(run_dir: str | Path, factors: QRFactors) -> Path:
    tensors = {"quotient": np.asarray(factors.quotient, dtype=np.float32),
               "remainder": np.asarray(factors.remainder, dtype=np.float32)}
    return write_tensors(Path(run_dir) / QR_FILE, tensors, {"buckets": factors.buckets})


def load_qr_factors(run_dir: str | Path) -> QRFactors:
    path = Path(run_dir) / QR_FILE
    _meta, tensors = read_tensors(path, "a finished QR-MF run", ("quotient", "remainder"))
    try:
        return QRFactors(tensors["quotient"], tensors["remainder"])
    except ValueError as exc:
        raise RunFileError(f"{path}: unreadable QR factors ({exc})") from None
