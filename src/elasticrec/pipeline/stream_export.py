"""A device package from a stream's latest segment: its stored item rows at their own widths
(the ragged layout, built by the same builder as every other package) and one user's stored
vector, padded with zeros to the stream's largest size (the positions it never stored)."""

from __future__ import annotations

import numpy as np

from elasticrec.budget.selection import RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build
from elasticrec.tensorfile import read_tensors

TABLES_FILE = "embeddings.safetensors"


def dense_rows(values: np.ndarray, offsets: np.ndarray, ids: np.ndarray, n_rows: int,
               width: int) -> tuple[np.ndarray, np.ndarray]:
    """A ragged table as a dense ``(n_rows, width)`` table (zeros where nothing is stored)
    and each row's stored width."""
    widths = np.zeros(n_rows, dtype=np.int64)
    widths[ids] = np.diff(offsets)
    table = np.zeros((n_rows, width), dtype=np.float32)
    table[np.arange(width) < widths[:, None]] = values
    return table, widths


def stream_package(run, user, *, dtype: str = "float32") -> bytes:
    meta, tables = _read(run)
    user_labels, item_labels = meta["user_labels"], meta["item_labels"]
    d_max = int(meta["d_max"])
    index = {label: i for i, label in enumerate(user_labels)}
    if str(user) not in index:
        raise ElasticrecError(f"user {user!r} is not in the stream {run.path}")
    users, _ = dense_rows(tables["user_values"], tables["user_offsets"], tables["user_ids"],
                          len(user_labels), d_max)
    row = index[str(user)]
    if not np.isin(row, tables["user_ids"]):
        raise ElasticrecError(f"user {user!r} has no stored vector in the latest segment of "
                              f"{run.path}")
    items, widths = dense_rows(tables["item_values"], tables["item_offsets"],
                               tables["item_ids"], len(item_labels), d_max)
    emb = RunEmbeddings(user=users[row:row + 1], item=items, dataset=meta["dataset"],
                        dataset_fingerprint=meta["dataset_fingerprint"], model=meta["model"],
                        user_labels=[str(user)], item_labels=item_labels)
    options = BuildOptions(value_dtype=dtype, method=f"stream-{meta['method']}")
    return build(emb, RaggedSelection(widths), options)


def _read(run) -> tuple[dict, dict[str, np.ndarray]]:
    meta, tables = read_tensors(run.path / TABLES_FILE, "finished `elasticrec stream`")
    config = meta.get("config", {})
    if "user_labels" not in config:
        raise ElasticrecError(f"{run.path}: a stream written before streams could export; "
                              "run it again to export packages")
    return config, tables
