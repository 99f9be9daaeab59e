"""Run-directory files of named tensors plus a JSON metadata object, in safetensors format:
written atomically, read without unpickling, refused with the file's name when damaged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from elasticrec.atomic import atomic_path

KEY = "elasticrec"
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
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; is {path.parent} a {what} run?")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads((fh.metadata() or {})[KEY])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, KeyError, TypeError, ValueError, OSError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: unreadable (its metadata is not a JSON object)")
    missing = sorted(set(required) - tensors.keys())
    if missing:
        raise ValueError(f"{path}: missing tensors {missing}")
    return meta, tensors


def config_of(path: Path, meta: dict, make_config: Callable[[dict], Config]) -> Config:
    """The configuration stored as ``meta["config"]``, refused by the file's name if bad."""
    try:
        return make_config(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable configuration ({exc})") from exc
