"""Fetch a file over HTTP(S) and extract zip members, verifying size and sha256 as they land.

Nothing partial is ever left at a destination: bytes stream into a temporary file beside it
(``atomic_path``), which replaces the destination only after the checks pass.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

from elasticrec.atomic import atomic_path
from elasticrec.errors import ElasticrecError
from elasticrec.version import __version__

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 60.0
logger = logging.getLogger(__name__)


class DownloadError(ElasticrecError):
    """A download or extraction failed; nothing was left at the destination."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_content(
    what: str, size: int, digest: str, expected_size: int | None, sha256: tuple[str, ...] | None
) -> None:
    """Raise ``DownloadError`` when ``size`` / ``digest`` differ from what is expected."""
    if expected_size is not None and size != expected_size:
        raise DownloadError(f"{what}: got {size:,} bytes, expected {expected_size:,}")
    if sha256 is not None and digest not in sha256:
        raise DownloadError(
            f"{what}: sha256 {digest} does not match the expected {' or '.join(sha256)}"
        )


def _copy(
    src: BinaryIO, dst: BinaryIO, limit: int | None, bar: tqdm | None = None
) -> tuple[int, str]:
    """Copy at most ``limit + 1`` bytes (all when None); return the count and the sha256."""
    digest = hashlib.sha256()
    copied = 0
    while True:
        want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit + 1 - copied)
        block = src.read(want) if want > 0 else b""
        if not block:
            return copied, digest.hexdigest()
        dst.write(block)
        digest.update(block)
        copied += len(block)
        if bar is not None:
            bar.update(len(block))


def fetch_url(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: tuple[str, ...] | None = None,
    progress: bool = False,
    timeout: float = TIMEOUT_S,
) -> None:
    """Download ``url`` to ``dest``, checking the length the server announced, ``size`` and
    ``sha256`` when given. On any failure raise ``DownloadError`` naming the URL and ``dest``."""
    request = urllib.request.Request(url, headers={"User-Agent": f"elasticrec/{__version__}"})
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout) as response,
            atomic_path(dest) as tmp,
        ):
            announced = response.headers.get("Content-Length")
            announced = int(announced) if announced and announced.isdigit() else None
            total = size if size is not None else announced
            with (
                open(tmp, "wb") as out,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                ) as bar,
            ):
                received, digest = _copy(response, out, size, bar)
            if size is not None and received > size:
                raise DownloadError(
                    f"download of {url} to {dest}: the server sent more than the expected "
                    f"{size:,} bytes"
                )
            if announced is not None and received != announced:
                raise DownloadError(
                    f"download of {url} to {dest} was cut off after {received:,} of "
                    f"{announced:,} bytes"
                )
            check_content(f"download of {url} to {dest}", received, digest, size, sha256)
    except DownloadError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = exc.reason if type(exc) is urllib.error.URLError else exc
        raise DownloadError(f"could not download {url} to {dest}: {reason}") from None


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be extracted (absolute path, '..', symlink), or None."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in parts:
        return "a '..' path component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def extract_zip(
    archive: Path,
    folder: Path,
    members: Mapping[str, tuple[str, int, tuple[str, ...]]],
) -> list[str]:
    """Extract the listed members of ``archive`` into ``folder``; return the names written.

    ``members`` maps a member name to (file name in ``folder``, size, accepted sha256). The
    whole archive is refused if any member is unsafe (``unsafe_member``); members not listed
    are ignored; listed members absent from the archive are skipped (the caller checks what
    it needs). Each file is verified before it replaces anything.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(f"{archive}: not a readable zip archive ({exc})") from None
    written = []
    with zf:
        for info in zf.infolist():
            problem = unsafe_member(info)
            if problem is not None:
                raise DownloadError(
                    f"{archive}: refusing to extract: member {info.filename!r} has {problem}"
                )
        for info in zf.infolist():
            if info.filename not in members or info.is_dir():
                continue
            name, size, sha256 = members[info.filename]
            what = f"{info.filename} from {archive}"
            if info.file_size != size:
                raise DownloadError(f"{what}: holds {info.file_size:,} bytes, expected {size:,}")
            dest = folder / name
            try:
                with zf.open(info) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                    copied, digest = _copy(src, out, size)
                    check_content(what, copied, digest, size, sha256)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DownloadError(f"{what}: could not extract to {dest} ({exc})") from None
            logger.info("extracted %s", dest)
            written.append(name)
    return written


def download_zip(
    url: str,
    folder: Path,
    members: Mapping[str, tuple[str, int, tuple[str, ...]]],
    *,
    progress: bool = False,
    timeout: float = TIMEOUT_S,
) -> list[str]:
    """Download a zip to a temporary file in ``folder``, extract ``members``, delete the zip."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=".download.", dir=folder))
    except OSError as exc:
        raise DownloadError(f"cannot download {url} into {folder}: {exc}") from None
    try:
        archive = tmp_dir / (PurePosixPath(url).name or "archive.zip")
        logger.info("downloading %s", url)
        fetch_url(url, archive, progress=progress, timeout=timeout)
        return extract_zip(archive, folder, members)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
