"""Downloads and zip extraction against a local HTTP server: nothing partial is ever left."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest

from elasticrec.data.download import DownloadError, download_zip, extract_zip, fetch_url

BODY = b"0 1 2 3\n1 2 3\n" * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_fetch_url_success(http_server, tmp_path):
    url = http_server.serve("/d/train.txt", BODY)
    fetch_url(url, tmp_path / "train.txt", size=len(BODY), sha256=(sha(BODY),))
    assert (tmp_path / "train.txt").read_bytes() == BODY
    assert listing(tmp_path) == ["train.txt"]


def test_fetch_url_accepts_any_listed_digest(http_server, tmp_path):
    url = http_server.serve("/d/train.txt", BODY)
    fetch_url(url, tmp_path / "train.txt", sha256=("0" * 64, sha(BODY)))
    assert (tmp_path / "train.txt").read_bytes() == BODY


def test_checksum_mismatch_leaves_nothing(http_server, tmp_path):
    url = http_server.serve("/d/train.txt", BODY)
    with pytest.raises(DownloadError, match=f"sha256 {sha(BODY)} does not match"):
        fetch_url(url, tmp_path / "train.txt", size=len(BODY), sha256=("0" * 64,))
    assert listing(tmp_path) == []


def test_truncated_download_leaves_nothing(http_server, tmp_path):
    url = http_server.serve("/d/train.txt", BODY[:5000], declared_length=len(BODY))
    with pytest.raises(DownloadError, match=f"cut off after 5,000 of {len(BODY):,} bytes"):
        fetch_url(url, tmp_path / "train.txt")
    with pytest.raises(DownloadError, match="cut off after 5,000"):
        fetch_url(url, tmp_path / "train.txt", size=len(BODY), sha256=(sha(BODY),))
    assert listing(tmp_path) == []


def test_oversized_download_is_stopped(http_server, tmp_path):
    url = http_server.serve("/d/train.txt", BODY)
    with pytest.raises(DownloadError, match="more than the expected 10 bytes"):
        fetch_url(url, tmp_path / "train.txt", size=10)
    assert listing(tmp_path) == []


def test_http_error(http_server, tmp_path):
    with pytest.raises(DownloadError, match=r"could not download .*/missing\.txt to .*404"):
        fetch_url(http_server.base_url + "/missing.txt", tmp_path / "x.txt")
    assert listing(tmp_path) == []


def test_connection_refused_names_url_and_destination(refused_url, tmp_path):
    dest = tmp_path / "train.txt"
    with pytest.raises(DownloadError) as info:
        fetch_url(refused_url, dest, timeout=5)
    assert refused_url in str(info.value) and str(dest) in str(info.value)
    assert "refused" in str(info.value).lower()
    assert listing(tmp_path) == []


def make_zip(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return buf.getvalue()


U_DATA = b"1\t2\t5\t100\n2\t2\t4\t200\n"
README = b"toy data\n"
MEMBERS = {
    "toy/u.data": ("u.data", len(U_DATA), (sha(U_DATA),)),
    "toy/README": ("README", len(README), (sha(README),)),
}


def test_extract_zip_writes_only_listed_members(tmp_path):
    archive = tmp_path / "toy.zip"
    archive.write_bytes(
        make_zip({"toy/u.data": U_DATA, "toy/README": README, "toy/u1.base": b"x", "toy/": b""})
    )
    out = tmp_path / "out"
    assert sorted(extract_zip(archive, out, MEMBERS)) == ["README", "u.data"]
    assert (out / "u.data").read_bytes() == U_DATA
    assert listing(out) == ["README", "u.data"]


@pytest.mark.parametrize(
    ("evil", "problem"),
    [
        ("toy/../evil", "a '..' path component"),
        ("../evil", "a '..' path component"),
        ("/etc/evil", "an absolute path"),
        ("C:/evil", "an absolute path"),
        ("toy/link", "a symbolic link"),
    ],
)
def test_extract_zip_refuses_unsafe_archives(tmp_path, evil, problem):
    archive = tmp_path / "toy.zip"
    archive.write_bytes(make_zip({"toy/u.data": U_DATA, evil: b"/etc/passwd"}, symlinks=(evil,)))
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match=f"member '{evil}' has {problem}"):
        extract_zip(archive, out, MEMBERS)
    assert not out.exists() or listing(out) == []
    assert not (tmp_path / "evil").exists()


def test_extract_zip_checksum_mismatch_leaves_nothing(tmp_path):
    archive = tmp_path / "toy.zip"
    archive.write_bytes(make_zip({"toy/u.data": U_DATA.replace(b"5", b"4")}))
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="does not match"):
        extract_zip(archive, out, MEMBERS)
    assert listing(out) == []


def test_extract_zip_wrong_member_size(tmp_path):
    archive = tmp_path / "toy.zip"
    archive.write_bytes(make_zip({"toy/u.data": U_DATA + b"1\t1\t1\t1\n"}))
    with pytest.raises(DownloadError, match=r"toy/u\.data from .*holds 28 bytes, expected 20"):
        extract_zip(archive, tmp_path / "out", MEMBERS)


def test_extract_zip_rejects_non_zip(tmp_path):
    archive = tmp_path / "toy.zip"
    archive.write_bytes(b"<html>not a zip</html>")
    with pytest.raises(DownloadError, match="not a readable zip archive"):
        extract_zip(archive, tmp_path / "out", MEMBERS)


def test_download_zip_removes_the_archive(http_server, tmp_path):
    url = http_server.serve("/toy.zip", make_zip({"toy/u.data": U_DATA, "toy/README": README}))
    assert sorted(download_zip(url, tmp_path, MEMBERS)) == ["README", "u.data"]
    assert listing(tmp_path) == ["README", "u.data"]
