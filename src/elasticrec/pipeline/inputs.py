"""What ``fit`` and ``stream`` accept as data: a dataset name, a file or folder path, a
DataFrame, a ``scipy.sparse`` user-item matrix, or ``(users, items[, timestamps])`` arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elasticrec.data.dataset import Dataset, load_dataset
from elasticrec.data.memory import from_arrays, from_frame, from_sparse
from elasticrec.errors import ElasticrecError

COLUMN_OPTIONS = ("user_col", "item_col", "timestamp_col")


@dataclass(frozen=True, eq=False)
class DataSource:
    """A dataset reference (``name`` is what the run's config records) and, for data from
    memory, the dataset itself (the run keeps a copy, since nothing on disk can rebuild it)."""

    name: str
    dataset: Dataset | None = None

    @property
    def in_memory(self) -> bool:
        return self.dataset is not None

    def load(self, data_dir: Path | None, *, download: bool, columns: dict) -> Dataset:
        if self.dataset is not None:
            return self.dataset
        return load_dataset(self.name, data_dir, download=download, **columns)


def data_source(data, columns: dict) -> DataSource:
    """The source of ``data``; ``columns`` (``user_col``...) name a DataFrame's columns."""
    if isinstance(data, str | Path):
        return DataSource(str(data))
    if isinstance(data, Dataset):
        return DataSource(data.name, data)
    if hasattr(data, "tocoo") and hasattr(data, "shape"):
        return DataSource("matrix", from_sparse(data))
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):
        names = {k: v for k, v in columns.items() if v is not None}
        return DataSource("dataframe", from_frame(data, **names))
    if isinstance(data, tuple | list) and len(data) in (2, 3):
        return DataSource("arrays", from_arrays(*data))
    raise ElasticrecError(
        f"data of type {type(data).__name__} is not understood: give a dataset name, a file "
        "path, a DataFrame with user/item[/timestamp] columns, a scipy.sparse user-item "
        "matrix, or (users, items[, timestamps]) arrays")
