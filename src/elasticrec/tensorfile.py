"""Run-directory files of named tensors plus a JSON metadata object, in safetensors format:
written atomically, read without unpickling, refused with the file's name when damaged."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from elasticrec.atomic import atomic_path
from elasticrec.errors import ElasticrecError

KEY = "elasticrec"


class RunFileError(ElasticrecError, ValueError):
    """A run file that is damaged, foreign or not a regular file (a ``ValueError`` too, as
    the readers' callers have always caught)."""


class RunFileMissing(ElasticrecError, FileNotFoundError):
    """A run file that is not there: the folder is not the kind of run asked for."""
Config = TypeVar("Config")


def write_tensors(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> Path:
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                  metadata={KEY: json.dumps(meta)})
    return path


def read_tensors(path: Path, what: str, required: tuple[str, ...] = ()
                 ) -> tuple[dict, dict[str, np.ndarray]]:
    """(the metadata object, every tensor); ``what`` names the run kind in the error for a
    missing file, and a damaged file or one lacking a ``required`` tensor is refused by name."""
    if not path.exists():
        raise RunFileMissing(f"{path}: not found; is {path.parent} a {what} run?")
    if not path.is_file():
        raise RunFileError(f"{path}: not a regular file (a folder, FIFO or device)")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads((fh.metadata() or {})[KEY])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except KeyError:
        raise RunFileError(f"{path}: unreadable (no {KEY!r} metadata: not written by "
                              "elasticrec)") from None
    except (SafetensorError, TypeError, ValueError, OSError, RecursionError) as exc:
        raise RunFileError(f"{path}: unreadable ({_short(exc)})") from None
    if not isinstance(meta, dict):
        raise RunFileError(f"{path}: unreadable (its metadata is not a JSON object)")
    missing = sorted(set(required) - tensors.keys())
    if missing:
        raise RunFileError(f"{path}: missing tensors {missing}")
    return meta, tensors


def config_of(path: Path, meta: dict, make_config: Callable[[dict], Config]) -> Config:
    """The configuration stored as ``meta["config"]``, refused by the file's name if bad."""
    try:
        return make_config(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFileError(f"{path}: unreadable configuration ({_short(exc)})") from None


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them: a FIFO or device is
    refused without being read (opened without blocking) and a larger file by its size."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise RunFileError(f"{path}: not a regular file (a folder, FIFO or device)")
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > limit:
            raise RunFileError(f"{path}: {info.st_size:,} bytes, more than the "
                                  f"{limit:,} such a file may hold")
        return fh.read(limit)


def read_json_lines(path: Path, limit: int, *,
                    valid: Callable[[object], bool] = lambda r: isinstance(r, dict),
                    what: str = "a JSON object") -> list[dict]:
    """The record on each non-blank line of the regular file ``path`` (at most ``limit``
    bytes, ``read_bounded``); a line that is not JSON, or whose value fails ``valid``, is
    refused by file and line as not ``what``."""
    records = []
    for number, line in enumerate(read_bounded(path, limit).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not valid(record):
            raise RunFileError(f"{path} line {number}: not {what}")
        records.append(record)
    return records


def _short(exc: BaseException) -> str:
    """An exception's text on one line, cut to a readable length."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__
