"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

``checkpoint.safetensors`` holds ``model.<name>`` for every parameter and
``optim.<index>.<key>`` for every optimiser state tensor; its metadata entry ``elasticrec``
holds a JSON object with the optimiser's param groups and the trainer's state (epoch, best
metric, random generator states, ...). Writes are atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from elasticrec.atomic import atomic_path

CHECKPOINT_FILE = "checkpoint.safetensors"


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


def load_checkpoint(
    run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Restore ``model`` and ``optimizer`` in place; return the trainer state saved with them."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads((fh.metadata() or {})["elasticrec"])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = set(model.state_dict()) - set(model_state)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks model tensors {sorted(missing)}")
    model.load_state_dict(model_state)
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, index, key = k.split(".", 2)
            optim_state.setdefault(int(index), {})[key] = v
    optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    return meta["state"]
