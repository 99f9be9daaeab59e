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


def read_tensors(path: Path, what: str, make_config: Callable[[dict], Config],
                 required: tuple[str, ...] = ()) -> tuple[Config, dict, dict[str, np.ndarray]]:
    """(the configuration built from ``meta["config"]``, the metadata, every tensor);
    ``what`` names the run kind in the error for a missing file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; is {path.parent} a finished {what} run?")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads((fh.metadata() or {})[KEY])
            config = make_config(meta["config"])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, KeyError, TypeError, ValueError, OSError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from exc
    missing = sorted(set(required) - tensors.keys())
    if missing:
        raise ValueError(f"{path}: missing tensors {missing}")
    return config, meta, tensors
