"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

``checkpoint.safetensors`` holds ``model.<name>`` for every parameter and
``optim.<index>.<key>`` for every optimiser state tensor; its metadata entry ``elasticrec``
holds a JSON object with the optimiser's param groups and the trainer's state (epoch, best
metric, random generator states, ...). Writes are atomic. A truncated, foreign or altered
checkpoint is refused with its path (``ElasticrecError``), never a library's traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from elasticrec.atomic import atomic_path
from elasticrec.errors import ElasticrecError
from elasticrec.tensorfile import read_json_lines

CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"
MAX_METRICS_BYTES = 256 << 20  # one short record per epoch


class CheckpointError(ElasticrecError, ValueError):
    """A checkpoint that cannot be resumed from; a ``ValueError`` too, so that the trainer
    passes it from rank 0 to the other ranks like its own refusals."""


def save_checkpoint(
    run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
) -> Path:
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for index, entry in opt["state"].items():
        for key, value in entry.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = t.detach().contiguous()
    meta = {"param_groups": opt["param_groups"], "state": state}
    path = Path(run_dir) / CHECKPOINT_FILE
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"elasticrec": json.dumps(meta)})
    return path


def read_checkpoint(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(the metadata object, every tensor) of the run's checkpoint, after checking that it
    is a whole elasticrec checkpoint; ``ElasticrecError`` naming the file otherwise."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["elasticrec"])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except KeyError:
        raise CheckpointError(f"{path}: not an elasticrec checkpoint (no elasticrec "
                              "metadata)") from None
    except (SafetensorError, ValueError, TypeError, OSError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({_short(exc)}); train the run "
                              "again") from None
    if (not isinstance(meta, dict) or not isinstance(meta.get("state"), dict)
            or not isinstance(meta.get("param_groups"), list)
            or not isinstance(meta["state"].get("epoch"), int)
            or not isinstance(meta["state"].get("config"), dict)):
        raise CheckpointError(f"{path}: not an elasticrec checkpoint (its metadata lacks the "
                              "trainer state)")
    for key in tensors:
        parts = key.split(".", 2)
        if parts[0] == "optim" and (len(parts) != 3 or not parts[1].isdigit()):
            raise CheckpointError(f"{path}: not an elasticrec checkpoint (tensor {key!r})")
    return meta, tensors


def check_resumable(run_dir: str | Path, train_config: dict[str, Any], *,
                    run_id: str | None = None) -> None:
    """Refuse, before anything in the folder changes, a resume whose checkpoint or metrics
    file is damaged, whose checkpoint was written by another run (``run_id``, when both the
    run and the checkpoint record one) or whose training configuration (all but ``epochs``)
    differs."""
    meta, _ = read_checkpoint(run_dir)
    theirs = meta["state"].get("run_id")
    if run_id is not None and theirs is not None and theirs != run_id:
        raise CheckpointError(f"{Path(run_dir) / CHECKPOINT_FILE}: written by another run "
                              f"({theirs}), not by this one ({run_id}); it cannot be resumed "
                              "here")
    saved = {k: v for k, v in meta["state"]["config"].items() if k != "epochs"}
    ours = {k: v for k, v in train_config.items() if k != "epochs"}
    if saved != ours:
        changed = sorted(k for k in ours if saved.get(k) != ours[k])
        raise CheckpointError(f"{run_dir}: cannot resume with a different training "
                              f"configuration (changed: {', '.join(changed)})")
    path = Path(run_dir) / METRICS_FILE
    if path.is_file():
        read_json_lines(path, MAX_METRICS_BYTES, valid=_metrics_record,
                        what="a metrics record (a JSON object with an integer epoch)")


def _metrics_record(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("epoch"), int)


def load_checkpoint(
    run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Restore ``model`` and ``optimizer`` in place; return the trainer state saved with them."""
    path = Path(run_dir) / CHECKPOINT_FILE
    meta, tensors = read_checkpoint(run_dir)
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = set(model.state_dict()) - set(model_state)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks model tensors {sorted(missing)}")
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, index, key = k.split(".", 2)
            optim_state.setdefault(int(index), {})[key] = v
    try:
        model.load_state_dict(model_state)
        optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: does not fit this run's model ({_short(exc)})") from None
    return meta["state"]


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
