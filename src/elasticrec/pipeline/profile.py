"""Where a training step's time goes, before committing to a long run or to more processes.

``profile_steps`` builds the model ``fit`` would train on the same data and options and times
single training steps, split into the part that grows with the batch (forward and backward:
what ranks share out when training is distributed) and the part that does not (the
optimiser's update of every table row: what every rank repeats). docs/distributed.md uses the
two, measured at a batch and at half of it, to predict when a second process pays.
"""

from __future__ import annotations

import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from elasticrec.data.prepare import split_dataset
from elasticrec.data.sampling import BPRSampler
from elasticrec.errors import ElasticrecError
from elasticrec.models.factory import build_model
from elasticrec.pipeline.inputs import COLUMN_OPTIONS, data_source
from elasticrec.pipeline.options import make_configs
from elasticrec.train.trainer import Trainer


def profile_steps(data, *, model: str = "lightgcn", batch_sizes: tuple[int, ...] = (2048,),
                  steps: int = 20, warmup: int = 3, data_dir: str | Path | None = None,
                  download: bool = True, **options) -> list[dict]:
    """Median seconds per training step at each of ``batch_sizes``, over ``steps`` steps after
    ``warmup`` unmeasured ones (one model, trained on as it is timed): ``batch_seconds``
    (forward and backward) and ``table_seconds`` (the optimiser's step), with the model's
    ``rows`` (users + items), ``dim``, the data's ``triples`` per epoch and ``n_batches`` per
    epoch at that batch. ``data`` and ``options`` as ``fit`` takes them (method ``full``).

    >>> elasticrec.profile_steps("ml-100k", model="mf", batch_sizes=(2048, 1024))  # doctest: +SKIP
    """
    if steps < 1 or warmup < 0:
        raise ElasticrecError(f"steps={steps}, warmup={warmup}: give steps >= 1, warmup >= 0")
    if not batch_sizes or any(b < 1 for b in batch_sizes):
        raise ElasticrecError(f"batch_sizes={batch_sizes!r}: give positive batch sizes")
    columns = {k: options.pop(k) for k in COLUMN_OPTIONS if k in options}
    source = data_source(data, columns)
    configs = make_configs(source.name, model, "full", options)
    ds = source.load(None if data_dir is None else Path(data_dir), download=download,
                     columns={k: v for k, v in columns.items() if v is not None})
    prepared = split_dataset(configs.data, ds)
    torch.manual_seed(configs.train.seed)
    net = build_model(configs.model, prepared.train, configs.train.seed)
    sampler = BPRSampler.from_interactions(prepared.train)
    trainer = Trainer(net, sampler, configs.train)
    rows = prepared.train.n_users + prepared.train.n_items
    out = []
    for batch_size in batch_sizes:
        batch_part, table_part = _time_steps(trainer, sampler, int(batch_size), steps, warmup)
        out.append({"batch_size": int(batch_size), "batch_seconds": batch_part,
                    "table_seconds": table_part, "rows": rows, "dim": configs.model.dim,
                    "triples": len(sampler), "n_batches": sampler.n_batches(int(batch_size)),
                    "steps": steps})
    return out


def _time_steps(trainer: Trainer, sampler: BPRSampler, batch_size: int, n: int,
                warmup: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    batch_part, table_part = [], []
    for users, pos, neg in islice(sampler.epoch(batch_size, rng), n + warmup):
        u = torch.from_numpy(users)
        items = torch.from_numpy(np.concatenate([pos, neg]))
        t0 = time.perf_counter()
        loss = trainer.objective(trainer.model(u, items), u, items)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t1 = time.perf_counter()
        trainer.optimizer.step()
        batch_part.append(t1 - t0)
        table_part.append(time.perf_counter() - t1)
    if len(batch_part) <= warmup:
        raise ElasticrecError(f"batch {batch_size}: an epoch has only {len(batch_part)} "
                              f"steps, not more than the {warmup} warm-up steps")
    return float(np.median(batch_part[warmup:])), float(np.median(table_part[warmup:]))
