"""The training loop: owns the optimiser, the epochs, validation, early stopping, checkpoints.

Each epoch draws as many positives as there are training pairs (``BPRSampler``), with one
negative each or, for the contrastive loss, negatives shared per batch; each step minimises an
``Objective`` (``config.loss`` + L2 by default, ``objective_for``; elastic methods bring their
own). Every
``eval_every`` epochs the ``validate`` callback scores the model; the best model by
``config.metric`` is kept and restored at the end; ``patience`` validations without
improvement stop training. With a ``run_dir``, each epoch's record is written to
``metrics.jsonl`` and a checkpoint (model, optimiser, generator states) after every epoch,
so ``fit(resume=True)`` continues exactly where an interrupted run stopped.

Across processes (``distributed``, see ``train.distributed``), every rank steps on its share
of each batch and DDP averages the gradients, so a step is one step of the single-process
batch; rank 0 alone validates (its metrics, and so the early-stopping decision, are sent to
every rank) and writes the run folder. The checkpoint then also holds every rank's generator
state, and resuming needs the same number of processes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from elasticrec.atomic import atomic_path, write_text
from elasticrec.data.sampling import BPRSampler, Shard
from elasticrec.models.base import Recommender
from elasticrec.models.losses import BPRObjective, CCLObjective, Objective
from elasticrec.train.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from elasticrec.train.config import TrainConfig
from elasticrec.train.distributed import (
    SINGLE,
    DistContext,
    all_mean,
    broadcast_object,
    broadcast_parameters,
    collectives,
    data_parallel,
    gather_objects,
    rank_generator,
    shared_generator,
)

METRICS_FILE = "metrics.jsonl"
BEST_FILE = "best.safetensors"

Evaluator = Callable[[Recommender], dict[str, float]]


def objective_for(config: TrainConfig) -> Objective:
    """The objective ``config.loss`` names, with its L2 weight and parameters."""
    if config.loss == "ccl":
        return CCLObjective(config.l2, config.n_negatives, config.margin, config.neg_weight)
    return BPRObjective(config.l2)


@dataclass(frozen=True)
class TrainResult:
    epochs_run: int
    best_epoch: int
    best_metric: float | None
    seconds: float
    seconds_per_epoch: float
    history: list[dict]
    stopped_early: bool


class Trainer:
    def __init__(
        self,
        model: Recommender,
        sampler: BPRSampler,
        config: TrainConfig,
        *,
        validate: Evaluator | None = None,
        monitors: dict[str, Evaluator] | None = None,
        run_dir: str | Path | None = None,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
        objective: Objective | None = None,
        distributed: DistContext = SINGLE,
        run_id: str | None = None,
        start_metric: float | None = None,
    ) -> None:
        """``start_metric``: the validation score the model already has (it was trained
        before, e.g. by the search); it stays the best, as epoch 0, until an epoch beats it."""
        self.model, self.sampler, self.config = model, sampler, config
        self.dist = distributed
        self.run_id = run_id  # written into every checkpoint, checked on resume
        self._net: torch.nn.Module = model  # what a step runs: the model, or its DDP wrapper
        self.objective = objective if objective is not None else objective_for(config)
        self._best_in_memory: dict[str, torch.Tensor] | None = None
        self.validate = validate
        self.monitors = monitors or {}
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress and distributed.is_writer
        self.log = log if log is not None and distributed.is_writer else (lambda _msg: None)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
        self.start_metric = start_metric

    def step(self, users: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
        u = torch.from_numpy(users)
        items = torch.from_numpy(np.concatenate([pos, neg]))
        loss = self.objective(self._net(u, items), u, items)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def fit(self, *, resume: bool = False) -> TrainResult:
        with collectives(self.dist, "training"):
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainResult:
        cfg, ctx = self.config, self.dist
        rng = rank_generator(cfg.seed, ctx)
        shard = (Shard(ctx.rank, ctx.world_size, shared_generator(cfg.seed))
                 if ctx.is_distributed else None)
        state = {"epoch": 0, "best_metric": None, "best_epoch": 0, "bad_evals": 0,
                 "seconds": 0.0}
        history: list[dict] = []
        if resume:
            state = self._resume(rng, shard, history)
        elif self.start_metric is not None and self.validate is not None:
            state["best_metric"] = self.start_metric
            if ctx.is_writer:
                self._keep_best()
        self._net = data_parallel(ctx, self.model)  # DDP starts every rank from rank 0's model
        start_epoch = state["epoch"] + 1
        stopped_early = False
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            loss = self.train_epoch(epoch, rng, shard)
            train_seconds = time.perf_counter() - t0
            record = {"epoch": epoch, "loss": loss, "lr": lr, "train_seconds": train_seconds}
            if cfg.eval_every and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                record.update(self._evaluate(epoch, state))
                stopped_early = cfg.patience > 0 and state["bad_evals"] >= cfg.patience
            state["epoch"] = epoch
            state["seconds"] += time.perf_counter() - t0
            record["seconds"] = state["seconds"]
            history.append(record)
            self.log(_describe(record))
            self._save(state, rng, shard, history)
            if stopped_early:
                self.log(f"early stop: no improvement of {cfg.metric} in {cfg.patience} "
                         f"validations; best at epoch {state['best_epoch']}")
                break
        self._restore_best()
        epochs_run = state["epoch"]
        return TrainResult(
            epochs_run=epochs_run,
            best_epoch=state["best_epoch"] if state["best_metric"] is not None else epochs_run,
            best_metric=state["best_metric"], seconds=state["seconds"],
            seconds_per_epoch=float(np.mean([h["train_seconds"] for h in history]))
            if history else 0.0,
            history=history, stopped_early=stopped_early,
        )

    def train_epoch(self, epoch: int, rng: np.random.Generator,
                    shard: Shard | None = None) -> float:
        """One epoch of steps, then the learning rate's decay; the mean loss (over ranks)."""
        cfg = self.config
        self.model.train()
        batches = tqdm(self.sampler.epoch(cfg.batch_size, rng, cfg.sampling, shard=shard,
                                          shared_negatives=getattr(self.objective,
                                                                   "shared_negatives", 0)),
                       total=self.sampler.n_batches(cfg.batch_size),
                       desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                       disable=not self.progress, unit="batch")
        total = sum(self.step(users, pos, neg) for users, pos, neg in batches)
        self._scale_lr(cfg.lr_decay)
        loss = all_mean(self.dist, total / self.sampler.n_batches(cfg.batch_size))
        if not math.isfinite(loss):
            raise FloatingPointError(f"epoch {epoch}: the training loss is {loss}; "
                                     "lower the learning rate")
        return loss

    def _evaluate(self, epoch: int, state: dict) -> dict[str, float]:
        self.model.eval()
        # rank 0 measures; every rank takes the same decision on the same numbers
        out, metrics = broadcast_object(self.dist, self._measure() if self.dist.is_writer
                                        else None)
        if metrics is None:
            return out
        value = metrics[self.config.metric]
        if state["best_metric"] is None or value > state["best_metric"]:
            state.update(best_metric=value, best_epoch=epoch, bad_evals=0)
            if self.dist.is_writer:  # it sends the best model to the others at the end
                self._keep_best()
        else:
            state["bad_evals"] += 1
            if state["bad_evals"] % self.config.lr_plateau_patience == 0:
                self._scale_lr(self.config.lr_plateau)
        return out

    def _scale_lr(self, factor: float) -> None:
        """Every group's learning rate times ``factor``, floored at ``lr_min``."""
        for group in self.optimizer.param_groups:
            group["lr"] = max(self.config.lr_min, group["lr"] * factor)

    def _keep_best(self) -> None:
        if self.run_dir is not None:
            with atomic_path(self.run_dir / BEST_FILE) as tmp:
                save_file({k: v.contiguous() for k, v in self.model.state_dict().items()},
                          str(tmp))
        else:
            self._best_in_memory = {k: v.clone() for k, v in self.model.state_dict().items()}

    def _measure(self) -> tuple[dict[str, float], dict[str, float] | None]:
        """The monitors' and the validation's metrics (None: no validation)."""
        out: dict[str, float] = {}
        for name, fn in self.monitors.items():
            out.update({f"{name}/{k}": v for k, v in fn(self.model).items()})
        if self.validate is None:
            return out, None
        metrics = self.validate(self.model)
        out.update({f"valid/{k}": v for k, v in metrics.items()})
        return out, metrics

    def _restore_best(self) -> None:
        if self.validate is None:
            return
        if self.dist.is_writer:
            if self.run_dir is not None and (self.run_dir / BEST_FILE).is_file():
                self.model.load_state_dict(load_file(str(self.run_dir / BEST_FILE)))
            elif self._best_in_memory is not None:
                self.model.load_state_dict(self._best_in_memory)
        broadcast_parameters(self.dist, self.model)

    def _save(self, state: dict, rng: np.random.Generator, shard: Shard | None,
              history: list[dict]) -> None:
        if self.run_dir is None:
            return
        ctx = self.dist
        rank_rngs = gather_objects(ctx, rng.bit_generator.state) if shard is not None else None
        if not ctx.is_writer:
            return
        full_state = {**state, "rng": rng.bit_generator.state, "config": self.config.to_json()}
        if self.run_id is not None:
            full_state["run_id"] = self.run_id
        objective_rng = self._objective_generator()
        if objective_rng is not None:  # the elastic objective's block subsets
            full_state["objective_rng"] = objective_rng.get_state().tolist()
        if shard is not None:
            full_state.update(world_size=ctx.world_size, rank_rngs=rank_rngs,
                              shared_rng=shard.shared.bit_generator.state)
        # metrics first: a run stopped between the two writes resumes from the checkpoint and
        # drops the records after it (_load), rather than losing the checkpoint's own record
        write_text(self.run_dir / METRICS_FILE,
                   "".join(json.dumps(h, sort_keys=True) + "\n" for h in history))
        save_checkpoint(self.run_dir, self.model, self.optimizer, full_state)

    def _resume(self, rng: np.random.Generator, shard: Shard | None,
                history: list[dict]) -> dict:
        """Rank 0 reads the checkpoint and sends it on: the other ranks need no copy of the
        run folder (on another node, they have none)."""
        ctx = self.dist
        loaded: tuple | BaseException | None = None
        if ctx.is_writer:
            try:
                loaded = (self._load(history), history, self.optimizer.state_dict())
            except (OSError, ValueError) as exc:
                loaded = exc
        loaded = broadcast_object(ctx, loaded)
        if isinstance(loaded, BaseException):
            raise loaded
        state, saved_history, optim_state = loaded
        if not ctx.is_writer:
            self.optimizer.load_state_dict(optim_state)
            history.extend(saved_history)
        saved_world = state.pop("world_size", 1)
        if saved_world != ctx.world_size:
            raise ValueError(f"{self.run_dir}: cannot resume a run trained on {saved_world} "
                             f"process(es) with {ctx.world_size}: launch the same number")
        rank_rngs, shared_rng = state.pop("rank_rngs", None), state.pop("shared_rng", None)
        rng.bit_generator.state = rank_rngs[ctx.rank] if shard is not None else state["rng"]
        if shard is not None:
            shard.shared.bit_generator.state = shared_rng
        del state["rng"]
        objective_rng, saved_objective_rng = self._objective_generator(), state.pop(
            "objective_rng", None)
        if objective_rng is not None and saved_objective_rng is not None:
            objective_rng.set_state(torch.tensor(saved_objective_rng, dtype=torch.uint8))
        self.log(f"resumed from epoch {state['epoch']}")
        return state

    def _objective_generator(self) -> torch.Generator | None:
        """The objective's own generator, if it has one (RULE's block subsets): it is part
        of the state a resumed run must continue from."""
        gen = getattr(self.objective, "generator", None)
        return gen if isinstance(gen, torch.Generator) else None

    def _load(self, history: list[dict]) -> dict:
        """The checkpoint into the model and optimiser; its trainer state; ``history`` with
        the metrics records up to its epoch."""
        if self.run_dir is None or not (self.run_dir / CHECKPOINT_FILE).is_file():
            raise FileNotFoundError(f"{self.run_dir}: no checkpoint to resume from")
        state = load_checkpoint(self.run_dir, self.model, self.optimizer)
        saved = {k: v for k, v in state.pop("config").items() if k != "epochs"}
        ours = {k: v for k, v in self.config.to_json().items() if k != "epochs"}
        if saved != ours:
            changed = sorted(k for k in ours if saved.get(k) != ours[k])
            raise ValueError(f"{self.run_dir}: cannot resume with a different training "
                             f"configuration (changed: {', '.join(changed)})")
        metrics_path = self.run_dir / METRICS_FILE
        if metrics_path.is_file():
            history.extend(record for line in metrics_path.read_text().splitlines()
                           if line.strip()
                           and (record := json.loads(line))["epoch"] <= state["epoch"])
        return state


def _describe(record: dict) -> str:
    parts = [f"epoch {record['epoch']}", f"loss {record['loss']:.4f}",
             f"{record['train_seconds']:.1f}s"]
    parts += [f"{k} {v:.4f}" for k, v in record.items() if "@" in k]
    return "  ".join(parts)
