"""A run folder on disk: what it is (``config.json``), whether it is complete (``run.json``),
and the dataset it keeps when its data came from memory (``dataset.safetensors``).

``config.json`` is written when training starts and says everything needed to rebuild the
data and the model, the run's ``method`` (``full``, ``rule`` or ``peel``) included: readers
take the method from it, never from which files happen to exist. ``run.json`` is written
last, when every step succeeded: the method and the files that make the run complete, each
with its size and sha256. A folder without it is an unfinished run; a file whose size or
hash differs from the record is refused by name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from elasticrec.atomic import write_text
from elasticrec.embeddings import QR_FILE
from elasticrec.errors import ElasticrecError
from elasticrec.tensorfile import read_bounded, read_tensors, write_tensors

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
MANIFEST_FILE = "run.json"
DATASET_FILE = "dataset.safetensors"
METHODS = ("full", "rule", "peel")
# What each method's run must hold, besides config.json and result.json.
METHOD_FILES = {
    "full": ("embeddings.safetensors",),
    "rule": ("embeddings.safetensors", "elastic.safetensors"),
    "peel": ("embeddings.safetensors", "elastic.safetensors", "peel.safetensors"),
}
HASH_CHUNK = 1 << 20
MAX_JSON_BYTES = 256 << 20  # config, result and run records are far smaller

if TYPE_CHECKING:
    from elasticrec.data.dataset import Dataset


def read_json(path: Path, what: str) -> dict:
    """The JSON object in ``path``, read with a bounded size and nesting; refused by name."""
    if not path.exists():
        raise ElasticrecError(f"{path}: not found; is {path.parent} {what}?")
    try:
        value = json.loads(read_bounded(path, MAX_JSON_BYTES).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ElasticrecError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ElasticrecError(f"{path}: JSON nested too deeply to be a run file") from None
    if not isinstance(value, dict):
        raise ElasticrecError(f"{path}: not a JSON object")
    return value


def read_config(run_dir: Path) -> dict:
    config = read_json(Path(run_dir) / CONFIG_FILE, "an `elasticrec train` run")
    method = config.get("method")
    if method not in METHODS:
        raise ElasticrecError(f"{Path(run_dir) / CONFIG_FILE}: unknown method {method!r}; "
                              f"expected one of {METHODS}")
    return config


def write_config(run_dir: Path, config: dict) -> None:
    write_text(Path(run_dir) / CONFIG_FILE, json.dumps(config, indent=2) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def complete_files(config: dict) -> tuple[str, ...]:
    extra = (DATASET_FILE,) if config.get("data_source") == "memory" else ()
    if config.get("model", {}).get("qr_buckets"):  # QR-MF: the factors a qr package ships
        extra += (QR_FILE,)
    return (CONFIG_FILE, RESULT_FILE, *METHOD_FILES[config["method"]], *extra)


def seal(run_dir: Path, config: dict) -> dict:
    """Record the run as complete: its method and every file it needs, sized and hashed."""
    run_dir = Path(run_dir)
    files = {name: {"bytes": (run_dir / name).stat().st_size,
                    "sha256": sha256_file(run_dir / name)} for name in complete_files(config)}
    manifest = {"method": config["method"], "files": files}
    write_text(run_dir / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    return manifest


def unseal(run_dir: Path) -> None:
    """Mark the run unfinished again (before resuming or re-running a step)."""
    (Path(run_dir) / MANIFEST_FILE).unlink(missing_ok=True)


def check_complete(run_dir: Path, config: dict, *, verify: bool = True) -> None:
    """Refuse, naming the folder or the file, a run that did not finish or whose files are
    not the ones its record names (``verify``: by sha256 too, not only by size)."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST_FILE
    if not path.is_file():
        raise ElasticrecError(f"{run_dir}: an unfinished run (no {MANIFEST_FILE}); resume it "
                              "with `elasticrec train ... --resume` or train it again")
    manifest = read_json(path, "a finished run")
    if manifest.get("method") != config["method"]:
        raise ElasticrecError(f"{path}: method {manifest.get('method')!r} differs from "
                              f"{CONFIG_FILE}'s {config['method']!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ElasticrecError(f"{path}: no file list")
    for name in complete_files(config):
        entry, file = files.get(name), run_dir / name
        if not isinstance(entry, dict):
            raise ElasticrecError(f"{path}: does not list {name}, which a "
                                  f"{config['method']} run needs")
        if not file.is_file():
            raise ElasticrecError(f"{file}: missing; the run is incomplete")
        if file.stat().st_size != entry.get("bytes"):
            raise ElasticrecError(f"{file}: {file.stat().st_size:,} bytes, but the run recorded "
                                  f"{entry.get('bytes')}; the file was changed or damaged")
        if verify and sha256_file(file) != entry.get("sha256"):
            raise ElasticrecError(f"{file}: its sha256 differs from the run's record; the file "
                                  "was changed or damaged")


def save_dataset(run_dir: Path, ds: Dataset) -> None:
    """Keep a dataset that came from memory, so the run can rebuild its splits later."""
    inter = ds.train
    tensors = {"user": inter.user, "item": inter.item}
    if inter.timestamp is not None:
        tensors["timestamp"] = inter.timestamp
    meta = {"name": ds.name, "n_users": inter.n_users, "n_items": inter.n_items,
            "user_labels": [str(x) for x in _labels(inter.user_labels, inter.n_users)],
            "item_labels": [str(x) for x in _labels(inter.item_labels, inter.n_items)]}
    write_tensors(Path(run_dir) / DATASET_FILE, tensors, meta)


def load_dataset_file(run_dir: Path) -> Dataset:
    from elasticrec.data.dataset import Dataset
    from elasticrec.data.interactions import Interactions

    path = Path(run_dir) / DATASET_FILE
    meta, tensors = read_tensors(path, "an `elasticrec.fit` run on in-memory data",
                                 ("user", "item"))
    try:
        inter = Interactions(
            user=tensors["user"], item=tensors["item"], n_users=int(meta["n_users"]),
            n_items=int(meta["n_items"]), timestamp=tensors.get("timestamp"),
            user_labels=np.array(meta["user_labels"], dtype=str),
            item_labels=np.array(meta["item_labels"], dtype=str))
        return Dataset.of(str(meta["name"]), inter)
    except (KeyError, TypeError, ValueError) as exc:
        raise ElasticrecError(f"{path}: unreadable dataset ({exc})") from exc


def _labels(labels: np.ndarray | None, n: int) -> np.ndarray:
    return np.arange(n).astype(str) if labels is None else labels
