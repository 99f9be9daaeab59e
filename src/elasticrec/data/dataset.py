"""The ``Dataset`` value (train, optional given test split, content fingerprint) and
``load_dataset``, the one entry point from a name or a path to it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elasticrec.data.folder import ensure_dataset
from elasticrec.data.interactions import Interactions
from elasticrec.data.lightgcn_format import read_lightgcn
from elasticrec.data.parquet import PARQUET_SUFFIXES
from elasticrec.data.readers import read_table
from elasticrec.data.registry import DATASETS, resolve_data_dir
from elasticrec.errors import ElasticrecError

FINGERPRINT_CHARS = 16


def _label_bytes(labels: np.ndarray | None) -> bytes:
    if labels is None:
        return b"no labels;"
    text = "\0".join(labels.astype(str).tolist()).encode("utf-8")
    return f"labels {len(labels)} {len(text)};".encode() + text


def fingerprint(train: Interactions, test: Interactions | None) -> str:
    """First 16 hex chars of a sha256 over the arrays, sizes and labels of both splits.

    Equal content gives an equal fingerprint; the dataset's name does not enter it.
    """
    digest = hashlib.sha256()
    for split, inter in (("train", train), ("test", test)):
        if inter is None:
            digest.update(f"{split} none;".encode())
            continue
        digest.update(f"{split} {inter.n_users} {inter.n_items} {len(inter)};".encode())
        for name in ("user", "item", "timestamp"):
            values = getattr(inter, name)
            if values is None:
                digest.update(f"{name} none;".encode())
            else:
                digest.update(f"{name};".encode())
                digest.update(np.ascontiguousarray(values, dtype="<i8").tobytes())
        digest.update(_label_bytes(inter.user_labels))
        digest.update(_label_bytes(inter.item_labels))
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def concat(first: Interactions, second: Interactions) -> Interactions:
    """The events of ``first`` then ``second``, which must share one id space.

    Timestamps are kept only when both have them; labels are ``first``'s.
    """
    if (first.n_users, first.n_items) != (second.n_users, second.n_items):
        raise ElasticrecError(
            f"concat: id spaces differ: {first.n_users} x {first.n_items} users x items "
            f"vs {second.n_users} x {second.n_items}"
        )
    both = first.timestamp is not None and second.timestamp is not None
    return Interactions(
        user=np.concatenate([first.user, second.user]),
        item=np.concatenate([first.item, second.item]),
        n_users=first.n_users,
        n_items=first.n_items,
        timestamp=np.concatenate([first.timestamp, second.timestamp]) if both else None,
        user_labels=first.user_labels,
        item_labels=first.item_labels,
    )


@dataclass(frozen=True, eq=False)
class Dataset:
    """Loaded interactions. ``test`` is the split published with the data (LightGCN-format
    datasets), else None and the caller splits ``train`` itself.

    Build one with ``Dataset.of``, which computes ``fingerprint``.
    """

    name: str
    train: Interactions
    test: Interactions | None
    fingerprint: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Dataset.name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.train, Interactions):
            raise ValueError(f"Dataset.train must be Interactions, got {type(self.train)}")
        if self.test is not None and (
            not isinstance(self.test, Interactions)
            or (self.test.n_users, self.test.n_items) != (self.train.n_users, self.train.n_items)
        ):
            raise ValueError(
                "Dataset.test must be None or Interactions in the train split's id space "
                f"({self.train.n_users} users x {self.train.n_items} items)"
            )
        if not re.fullmatch(f"[0-9a-f]{{{FINGERPRINT_CHARS}}}", str(self.fingerprint)):
            raise ValueError(
                f"Dataset.fingerprint must be {FINGERPRINT_CHARS} lowercase hex characters, "
                f"got {self.fingerprint!r}"
            )

    @classmethod
    def of(cls, name: str, train: Interactions, test: Interactions | None = None) -> Dataset:
        return cls(name=name, train=train, test=test, fingerprint=fingerprint(train, test))

    @property
    def n_users(self) -> int:
        return self.train.n_users

    @property
    def n_items(self) -> int:
        return self.train.n_items

    def all(self) -> Interactions:
        """Train and test events together (train first), in the shared id space."""
        return self.train if self.test is None else concat(self.train, self.test)


def load_dataset(
    name_or_path: str | Path,
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    verify: bool = True,
    progress: bool | None = None,
    **reader_options,
) -> Dataset:
    """Load a named dataset from ``<data_dir>/<name>/`` or a user's file or folder.

    A name from ``DATASETS`` is looked up first (fetching missing files when ``download``;
    checking sha256 when ``verify``). Otherwise ``name_or_path`` is a path: a .csv/.tsv/.txt/
    .parquet file read with ``read_table(path, **reader_options)``, or a folder holding
    LightGCN-format ``train.txt`` and ``test.txt``. The dataset's name is then the file stem
    or folder name. ``data_dir`` None means the user cache (``resolve_data_dir``).
    """
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        spec = DATASETS[name_or_path]
        if reader_options:
            raise ElasticrecError(
                f"reader options {sorted(reader_options)} apply to files, not to the named "
                f"dataset {spec.name!r}"
            )
        folder = resolve_data_dir(data_dir, None) / spec.name
        ensure_dataset(spec, folder, download=download, verify=verify, progress=progress)
        train, test = spec.read(folder)
        return Dataset.of(spec.name, train, test)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if reader_options:
            raise ElasticrecError(
                f"reader options {sorted(reader_options)} apply to files, not to the folder "
                f"{path}"
            )
        if not (path / "train.txt").is_file() or not (path / "test.txt").is_file():
            raise ElasticrecError(
                f"{path} is a folder without LightGCN-format train.txt and test.txt; give a "
                "dataset name or a .csv/.tsv/.txt/.parquet file"
            )
        train, test = read_lightgcn(path / "train.txt", path / "test.txt")
        return Dataset.of(path.name, train, test)
    if path.is_file():
        return Dataset.of(path.stem, read_table(path, **reader_options))
    if path.exists():
        raise ElasticrecError(f"{path}: not a regular file or folder (a FIFO, socket or "
                              "device); give a data file or a folder")
    looks_like_file = path.suffix.lower() in (".csv", ".tsv", ".txt", *PARQUET_SUFFIXES)
    if looks_like_file or len(path.parts) > 1:
        raise ElasticrecError(f"{path}: no such file or folder")
    known = ", ".join(DATASETS)
    raise ElasticrecError(
        f"unknown dataset {str(name_or_path)!r}; known datasets: {known}; or give the path of "
        "a .csv/.tsv/.txt/.parquet file or of a folder with train.txt and test.txt"
    )
