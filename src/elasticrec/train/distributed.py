"""Training on several processes with torch.distributed (DDP launched by torchrun, gloo).

A ``DistContext`` says which process this is (``rank`` of ``world_size``) and where the
processes meet; ``from_environment`` reads it from the variables torchrun sets (the CLI passes
``os.environ``; nothing else here reads the environment). ``process_group`` joins the group for
the length of a ``with`` block. World size 1 (``SINGLE``) is today's single-process path:
every helper below then returns at once, without touching torch.distributed.

What the processes share and what each owns:

* the model: every rank holds the whole table; gradients are averaged by
  ``DistributedDataParallel`` (one all-reduce of the table's gradient per step);
* sampling: each rank draws its share of every batch with its own generator
  (``rank_generator``); a generator common to all ranks (``shared_generator``) draws what must
  agree, such as the order of training pairs;
* decisions (validation metrics, early stopping, the epoch's loss) are made once and sent to
  every rank (``broadcast_object``, ``all_mean``), so the ranks cannot disagree;
* independent work (RULE's labels, PEEL's user groups) is split by ``owners`` and collected
  with ``all_gather_objects`` / ``gather_objects``.

A collective that fails because another rank died raises ``PeerFailure``: one line that says
so, and that ``--resume`` continues from the last checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from elasticrec.checks import check
from elasticrec.errors import ElasticrecError

BACKENDS = ("gloo",)  # the models train on CPU tensors; NCCL needs them on GPUs
DEFAULT_TIMEOUT = timedelta(minutes=30)  # a rank waiting for rank 0's validation waits this long


class PeerFailure(ElasticrecError):
    """A collective operation failed: another process of the job stopped or is unreachable."""


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str = "127.0.0.1"  # where the TCP store (rendezvous) listens
    master_port: int = 0
    agent_store: bool = False  # torchrun's agent hosts the store: every rank is a client
    backend: str = "gloo"

    def __post_init__(self) -> None:
        check(self.world_size >= 1, "world_size", self.world_size, "an integer >= 1")
        check(0 <= self.rank < self.world_size, "rank", self.rank,
              f"an integer in [0, {self.world_size})")
        check(self.local_rank >= 0, "local_rank", self.local_rank, "an integer >= 0")
        check(0 <= self.master_port < 2**16, "master_port", self.master_port,
              "a port number in [0, 65535]")
        check(self.backend in BACKENDS, "backend", self.backend, f"one of {BACKENDS}")

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes the run folder: config, checkpoints, metrics, results."""
        return self.rank == 0


SINGLE = DistContext()


def from_environment(env: Mapping[str, str]) -> DistContext:
    """The context torchrun describes in ``env`` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE); ``SINGLE`` when WORLD_SIZE is absent or 1."""
    world = _int(env, "WORLD_SIZE", "1")
    if world == 1:
        return SINGLE
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if not env.get(name):
            raise ValueError(f"WORLD_SIZE={world} but {name} is not set: launch with torchrun "
                             "(or set RANK, MASTER_ADDR and MASTER_PORT)")
    return DistContext(rank=_int(env, "RANK"), world_size=world,
                       local_rank=_int(env, "LOCAL_RANK", "0"), master_addr=env["MASTER_ADDR"],
                       master_port=_int(env, "MASTER_PORT"),
                       agent_store=env.get("TORCHELASTIC_USE_AGENT_STORE") == "True")


@contextmanager
def process_group(ctx: DistContext, timeout: timedelta = DEFAULT_TIMEOUT
                  ) -> Iterator[DistContext]:
    """Join the job's process group for the block (nothing to join at world size 1)."""
    if not ctx.is_distributed:
        yield ctx
        return
    try:
        store = dist.TCPStore(ctx.master_addr, ctx.master_port, ctx.world_size,
                              is_master=ctx.is_writer and not ctx.agent_store, timeout=timeout,
                              multi_tenant=not ctx.agent_store)
        dist.init_process_group(ctx.backend, store=store, rank=ctx.rank,
                                world_size=ctx.world_size, timeout=timeout)
    except (RuntimeError, dist.DistError) as exc:
        raise PeerFailure(f"rank {ctx.rank} of {ctx.world_size}: could not join the process "
                          f"group at {ctx.master_addr}:{ctx.master_port} "
                          f"({_first_line(exc)})") from exc
    try:
        yield ctx
    finally:
        dist.destroy_process_group()


@contextmanager
def collectives(ctx: DistContext, what: str) -> Iterator[None]:
    """Turn a failed collective inside the block into ``PeerFailure`` naming ``what``."""
    try:
        yield
    except RuntimeError as exc:  # DistError is one; DDP's all-reduce in backward raises plain
        if not (isinstance(exc, dist.DistError) or _is_transport_error(exc)):
            raise
        raise PeerFailure(f"rank {ctx.rank} of {ctx.world_size}: {what}: another process of "
                          f"the job failed ({_first_line(exc)}); restart the job with --resume "
                          "to continue from the last checkpoint") from exc


def rank_generator(seed: int, ctx: DistContext) -> np.random.Generator:
    """This rank's own stream: ``default_rng(seed)`` at world size 1 (today's stream); else
    child ``rank`` of ``seed``'s seed sequence, independent of every other rank's."""
    if not ctx.is_distributed:
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ctx.rank,)))


def shared_generator(seed: int) -> np.random.Generator:
    """A stream that is the same on every rank (what all ranks must agree on)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**32 - 1,)))


def owners(costs: Sequence[float] | np.ndarray, world_size: int) -> np.ndarray:
    """The rank that owns each task: largest tasks first, each to the least loaded rank
    (ties to the lowest rank), so the ranks finish close together. Deterministic."""
    costs = np.asarray(costs, dtype=np.float64)
    owner = np.empty(len(costs), dtype=np.int64)
    load = np.zeros(world_size)
    for task in np.argsort(-costs, kind="stable"):
        owner[task] = int(np.argmin(load))
        load[owner[task]] += costs[task]
    return owner


def all_mean(ctx: DistContext, value: float) -> float:
    """The mean of ``value`` over the ranks (a NaN anywhere makes it NaN everywhere)."""
    if not ctx.is_distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t[0]) / ctx.world_size


def broadcast_object(ctx: DistContext, obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (a picklable object; pickle only on the wire)."""
    if not ctx.is_distributed:
        return obj
    box = [obj if ctx.rank == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(ctx: DistContext, obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not ctx.is_distributed:
        return [obj]
    out: list = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def gather_objects(ctx: DistContext, obj: Any) -> list | None:
    """Every rank's ``obj``, in rank order, on rank 0; ``None`` on the other ranks."""
    if not ctx.is_distributed:
        return [obj]
    out: list | None = [None] * ctx.world_size if ctx.is_writer else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_parameters(ctx: DistContext, module: nn.Module) -> None:
    """Overwrite every rank's parameters and buffers with rank 0's."""
    if not ctx.is_distributed:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def data_parallel(ctx: DistContext, module: nn.Module) -> nn.Module:
    """``module`` itself at world size 1; else wrapped so that ``backward`` averages the
    gradients over the ranks (construction also copies rank 0's parameters to every rank)."""
    if not ctx.is_distributed:
        return module
    return nn.parallel.DistributedDataParallel(module)


def _int(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    raw = env.get(name, default)
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def _is_transport_error(exc: BaseException) -> bool:
    """A RuntimeError from the communication layer (gloo's transport), not from our code."""
    text = str(exc)
    return "gloo" in text or "Connection reset" in text or "Connection closed" in text


def _first_line(exc: BaseException) -> str:
    """The first sentence of the message, without gloo's leading source location."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip())
    text = text.splitlines()[0] if text else type(exc).__name__
    return text.split(". ")[0]
