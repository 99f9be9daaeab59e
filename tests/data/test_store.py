"""A dataset folder: verification, fetching what is missing, error messages, status."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from elasticrec.data.folder import dataset_status, ensure_dataset, status_of
from elasticrec.data.lightgcn_format import read_lightgcn
from elasticrec.data.readers import read_movielens_100k
from elasticrec.data.registry import ArchiveSpec, DatasetSpec, FileSpec
from elasticrec.errors import ElasticrecError

TRAIN = b"0 0 1\n1 1 2\n"
TEST = b"0 2\n1 0\n"
U_DATA = b"1\t2\t5\t100\n2\t2\t4\t200\n"
README = b"toy data\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_spec(name: str, data: bytes, url: str | None = None, required: bool = True) -> FileSpec:
    return FileSpec(name, len(data), (sha(data),), url, required)


def lightgcn_spec(train_url: str | None, test_url: str | None) -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        format="LightGCN split",
        files=(file_spec("train.txt", TRAIN, train_url), file_spec("test.txt", TEST, test_url)),
        read=lambda folder: read_lightgcn(folder / "train.txt", folder / "test.txt"),
        how_to_get="a toy made up for tests",
    )


def zip_spec(url: str) -> DatasetSpec:
    return DatasetSpec(
        name="toy-zip",
        format="u.data",
        files=(file_spec("u.data", U_DATA), file_spec("README", README, required=False)),
        read=lambda folder: (read_movielens_100k(folder / "u.data"), None),
        archive=ArchiveSpec(url, "toy/"),
    )


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_downloads_missing_files_then_uses_them(http_server, tmp_path):
    spec = lightgcn_spec(
        http_server.serve("/toy/train.txt", TRAIN), http_server.serve("/toy/test.txt", TEST)
    )
    folder = tmp_path / "toy"
    ensure_dataset(spec, folder, progress=False)
    assert listing(folder) == ["test.txt", "train.txt"]
    train, test = spec.read(folder)
    assert len(train) == 4 and len(test) == 2
    http_server.routes.clear()
    ensure_dataset(spec, folder)  # present and intact: no request
    assert http_server.hits == ["/toy/train.txt", "/toy/test.txt"]


def test_offline_error_names_file_folder_and_url(refused_url, tmp_path):
    spec = lightgcn_spec(refused_url, refused_url)
    folder = tmp_path / "toy"
    with pytest.raises(ElasticrecError) as info:
        ensure_dataset(spec, folder)
    message = str(info.value)
    assert "dataset 'toy'" in message and refused_url in message
    assert f"place it at {folder / 'train.txt'}" in message
    assert listing(folder) == []


def test_checksum_mismatch_in_download_leaves_nothing(http_server, tmp_path):
    spec = lightgcn_spec(
        http_server.serve("/toy/train.txt", TRAIN.replace(b"2", b"3")),
        http_server.serve("/toy/test.txt", TEST),
    )
    folder = tmp_path / "toy"
    with pytest.raises(ElasticrecError, match="does not match"):
        ensure_dataset(spec, folder)
    assert listing(folder) == []


def test_damaged_present_file_is_an_error_not_replaced(tmp_path):
    spec = lightgcn_spec("http://127.0.0.1:9/unused", "http://127.0.0.1:9/unused")
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "train.txt").write_bytes(TRAIN.replace(b"2", b"3"))  # same size
    (folder / "test.txt").write_bytes(TEST)
    with pytest.raises(ElasticrecError, match=r"train\.txt has sha256 .* Delete it"):
        ensure_dataset(spec, folder)
    ensure_dataset(spec, folder, verify=False)  # sizes match: accepted unverified
    (folder / "test.txt").write_bytes(TEST + b"\n")
    with pytest.raises(ElasticrecError, match="has 9 bytes, expected 8"):
        ensure_dataset(spec, folder, verify=False)


def test_downloads_turned_off(tmp_path):
    spec = lightgcn_spec("https://example.invalid/toy/train.txt", None)
    with pytest.raises(ElasticrecError) as info:
        ensure_dataset(spec, tmp_path / "toy", download=False)
    message = str(info.value)
    assert "train.txt is missing from" in message and "downloads are turned off" in message
    assert "https://example.invalid/toy/train.txt" in message


def test_file_without_source_says_where_to_place_it(tmp_path):
    spec = lightgcn_spec(None, None)
    with pytest.raises(ElasticrecError) as info:
        ensure_dataset(spec, tmp_path / "toy")
    message = str(info.value)
    assert "no stable download address" in message and "a toy made up for tests" in message
    assert f"Place the file at {tmp_path / 'toy' / 'train.txt'}" in message


def test_archive_is_extracted_and_removed(http_server, tmp_path):
    body = make_zip({"toy/u.data": U_DATA, "toy/README": README, "toy/other": b"x"})
    spec = zip_spec(http_server.serve("/toy.zip", body))
    folder = tmp_path / "toy-zip"
    ensure_dataset(spec, folder)
    assert listing(folder) == ["README", "u.data"]
    assert len(spec.read(folder)[0]) == 2


def test_archive_with_path_escape_is_refused(http_server, tmp_path):
    body = make_zip({"toy/u.data": U_DATA, "toy/../../evil": b"x"})
    spec = zip_spec(http_server.serve("/toy.zip", body))
    folder = tmp_path / "toy-zip"
    with pytest.raises(ElasticrecError, match=r"refusing to extract: member 'toy/\.\./\.\./evil'"):
        ensure_dataset(spec, folder)
    assert listing(folder) == []
    assert not (tmp_path / "evil").exists()


def test_archive_without_the_required_member(http_server, tmp_path):
    spec = zip_spec(http_server.serve("/toy.zip", make_zip({"toy/README": README})))
    with pytest.raises(ElasticrecError, match="the downloaded archive does not hold it"):
        ensure_dataset(spec, tmp_path / "toy-zip")


def test_status_states(tmp_path):
    spec = lightgcn_spec(None, None)
    folder = tmp_path / "toy"
    assert status_of(spec, folder).state == "missing"
    folder.mkdir()
    (folder / "train.txt").write_bytes(TRAIN)
    status = status_of(spec, folder)
    assert (status.state, status.missing, status.downloadable) == ("missing", ("test.txt",), False)
    (folder / "test.txt").write_bytes(TEST)
    assert status_of(spec, folder).state == "ok"
    (folder / "test.txt").write_bytes(b"x")
    status = status_of(spec, folder)
    assert (status.state, status.mismatched) == ("mismatch", ("test.txt",))
    assert "has 1 bytes, expected 8" in status.problems[0][1]


def test_dataset_status_covers_every_named_dataset(tmp_path):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_bytes(b"wrong")
    statuses = {s.name: s for s in dataset_status(tmp_path)}
    assert statuses["ml-100k"].state == "mismatch"
    assert statuses["gowalla"].state == "missing"
    assert statuses["gowalla"].missing == ("train.txt", "test.txt")
    assert statuses["gowalla"].folder == tmp_path / "gowalla"
    assert not statuses["ciaodvd"].downloadable and statuses["ml-100k"].downloadable
