"""``Dataset`` and ``load_dataset`` on files and folders (named datasets: see test_real_data)."""

from __future__ import annotations

import numpy as np
import pytest

from elasticrec.data.dataset import Dataset, concat, fingerprint, load_dataset
from elasticrec.data.interactions import Interactions
from elasticrec.errors import ElasticrecError

CSV = b"user,item,t\nann,x,2020-01-01\nbob,y,2020-01-02\nann,y,2020-01-03\n"


def test_load_csv_path(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes(CSV)
    ds = load_dataset(path, timestamp_col="t")
    assert ds.name == "mine" and ds.test is None
    assert (ds.n_users, ds.n_items, len(ds.train)) == (2, 2, 3)
    assert ds.train.timestamp is not None
    assert ds.all() is ds.train
    assert load_dataset(str(path), timestamp_col="t").fingerprint == ds.fingerprint


def test_fingerprint_follows_content(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(CSV)
    b.write_bytes(CSV.replace(b"2020-01-03", b"2020-01-04"))
    fa = load_dataset(a, timestamp_col="t").fingerprint
    assert load_dataset(b, timestamp_col="t").fingerprint != fa
    assert load_dataset(a).fingerprint != fa  # without timestamps
    b.write_bytes(CSV)
    assert load_dataset(b, timestamp_col="t").fingerprint == fa  # the name does not enter it
    assert len(fa) == 16


def test_load_lightgcn_folder(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "train.txt").write_bytes(b"0 0 1\n1 1\n")
    (tmp_path / "toy" / "test.txt").write_bytes(b"0 2\n")
    ds = load_dataset(tmp_path / "toy")
    assert ds.name == "toy" and len(ds.train) == 3 and len(ds.test) == 1
    both = ds.all()
    assert both.user.tolist() == [0, 0, 1, 0] and both.item.tolist() == [0, 1, 1, 2]
    with pytest.raises(ElasticrecError, match=r"folder without LightGCN-format train\.txt"):
        load_dataset(tmp_path)


def test_unknown_names_and_paths(tmp_path):
    with pytest.raises(ElasticrecError, match="unknown dataset 'movielens'; known datasets: "):
        load_dataset("movielens", tmp_path)
    with pytest.raises(ElasticrecError, match=r"nope\.csv: no such file or folder"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(ElasticrecError, match=r"reader options \['user_col'\] apply to files"):
        load_dataset("ml-100k", tmp_path, user_col="u")


def test_named_dataset_missing_without_download(tmp_path):
    with pytest.raises(ElasticrecError, match=r"u\.data is missing from .*downloads are turned"):
        load_dataset("ml-100k", tmp_path, download=False)


def small(n_users: int = 2, n_items: int = 3, timestamp: bool = False) -> Interactions:
    return Interactions(
        user=np.array([0, 1], dtype=np.int64),
        item=np.array([2, 0], dtype=np.int64),
        n_users=n_users,
        n_items=n_items,
        timestamp=np.array([5, 6], dtype=np.int64) if timestamp else None,
    )


def test_dataset_validation():
    with pytest.raises(ValueError, match=r"Dataset\.fingerprint must be 16 lowercase hex"):
        Dataset("x", small(), None, "ABC")
    with pytest.raises(ValueError, match=r"Dataset\.test must be None or Interactions in"):
        Dataset.of("x", small(), small(n_items=4))
    with pytest.raises(ValueError, match=r"Dataset\.name must be a non-empty string"):
        Dataset.of("", small())
    assert Dataset.of("x", small(), small()).fingerprint == fingerprint(small(), small())


def test_concat_keeps_timestamps_only_when_both_have_them():
    assert concat(small(timestamp=True), small(timestamp=True)).timestamp.tolist() == [5, 6, 5, 6]
    assert concat(small(timestamp=True), small()).timestamp is None
    with pytest.raises(ElasticrecError, match="id spaces differ"):
        concat(small(), small(n_users=3))
