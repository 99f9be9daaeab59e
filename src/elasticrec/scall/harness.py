"""One streaming run: segments in time order, each trained warm from the previous one with
the sizes a policy gives, evaluated on its own test rows, with its storage measured.

Per segment t (METHODS.md 2.8): the vocabulary is every user and item in the training rows;
the policy sizes them under the parameter budget; the model starts from the previous
segment's masked table (``E * M``: a row's newly unmasked positions start at 0, new rows keep
their random initialisation) and trains on the segment's current training rows (the replayed
and new events) for a fixed number of epochs; Recall@20 and NDCG@20 rank every item of the
vocabulary for each test user, training items excluded. Then the policy may learn from the
segment (SCALL's search). The stored size is the ragged storage of both tables: 4 bytes per
value plus an int64 offset per row and one more per table (METHODS.md decision 5: the
budget includes the offsets).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import torch

from elasticrec.data.interactions import Interactions
from elasticrec.data.sampling import BPRSampler
from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
from elasticrec.format.manifest import value_itemsize
from elasticrec.format.sizes import ragged_table_bytes
from elasticrec.models.base import Recommender
from elasticrec.models.config import ModelConfig
from elasticrec.models.factory import build_model
from elasticrec.scall.policies import SegmentView
from elasticrec.scall.sampler import BudgetTooSmall
from elasticrec.scall.stream import StreamSegment, current_frequency
from elasticrec.train.config import TrainConfig
from elasticrec.train.trainer import Trainer

VALUE_BYTES = value_itemsize("float32")  # a stored value, as the package format counts it
OFFSET_BYTES = ragged_table_bytes(0, 0)  # a ragged table with no row: its one int64 offset
K = 20


def stored_bytes(user_sizes: np.ndarray, item_sizes: np.ndarray) -> int:
    """Ragged float32 values of both tables plus their int64 offsets."""
    return sum(ragged_table_bytes(int(sizes.sum()), int((sizes > 0).sum()))
               for sizes in (user_sizes, item_sizes))


def ragged_tables(table: np.ndarray, user_sizes: np.ndarray, item_sizes: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """The stored form of a masked ``table`` (users then items, node order): per table, the
    first ``size`` values of every row with a size, rows in id order, as float32, and int64
    offsets (one per stored row, plus one). Its bytes are ``stored_bytes``."""
    out = {}
    n_users = len(user_sizes)
    for name, rows, sizes in (("user", table[:n_users], user_sizes),
                              ("item", table[n_users:], item_sizes)):
        stored = np.flatnonzero(sizes > 0)
        widths = np.minimum(sizes[stored], table.shape[1])
        keep = np.arange(table.shape[1]) < widths[:, None]
        out[f"{name}_values"] = rows[stored][keep].astype(np.float32)
        out[f"{name}_offsets"] = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        out[f"{name}_ids"] = stored  # bookkeeping: the vocabulary, not counted (see docs)
    return out


def table_bytes(tables: dict[str, np.ndarray]) -> int:
    """Bytes of the stored values and offsets (the ids are the vocabulary's order)."""
    return sum(v.nbytes for k, v in tables.items() if not k.endswith("_ids"))


def params_for_bytes(budget_bytes: int, n_rows: int) -> int:
    """The parameters a byte budget leaves once the offsets of ``n_rows`` rows are paid."""
    return (budget_bytes - OFFSET_BYTES * (n_rows + 2)) // VALUE_BYTES


def fitness(metrics: dict[str, float]) -> float:
    """SCALL's reward quality: the mean of Recall@20 and NDCG@20."""
    return (metrics[f"recall@{K}"] + metrics[f"ndcg@{K}"]) / 2


@dataclass(frozen=True)
class StreamTraining:
    epochs: int = 40  # per segment (the released code trains to convergence: see docs)
    batch_size: int = 4096
    lr: float = 3e-2  # the released rate
    l2: float = 1e-4
    seed: int = 0


@dataclass(frozen=True, eq=False)
class SegmentData:
    """What a policy and the trainer see of one segment."""

    segment: StreamSegment
    view: SegmentView
    budget_bytes: int
    train: Interactions  # every training row so far: the graph and the excluded items
    train_csr: sp.csr_matrix  # the same, as evaluation excludes them (built once)
    sampler: BPRSampler  # draws from the segment's current training rows
    test: sp.csr_matrix | None  # None when the segment has no test row


class StreamEnv:
    """Trains and measures models on segments; shared by the run and by SCALL's search."""

    def __init__(self, inter: Interactions, model: ModelConfig, training: StreamTraining,
                 budget_bytes: Callable[[int, int], int]) -> None:
        self.inter, self.model, self.training = inter, model, training
        self.budget_bytes = budget_bytes

    def prepare(self, seg: StreamSegment) -> SegmentData:
        inter = self.inter
        train = inter.subset(seg.train)
        known_u = np.bincount(train.user, minlength=inter.n_users) > 0
        known_i = np.bincount(train.item, minlength=inter.n_items) > 0
        freq_u, freq_i = current_frequency(inter, seg.train_current)
        cum_u, cum_i = current_frequency(inter, seg.train)
        n_rows = int(known_u.sum() + known_i.sum())
        budget = self.budget_bytes(int(known_u.sum()), int(known_i.sum()))
        params = params_for_bytes(budget, n_rows)
        if params < n_rows:
            raise BudgetTooSmall(f"segment {seg.index}: {budget:,} bytes cannot store "
                                 f"{n_rows:,} rows of one value each with their offsets")
        view = SegmentView(known_u, known_i, freq_u, freq_i, cum_u, cum_i, params, seg.index)
        test = inter.subset(seg.test).to_csr() if len(seg.test) else None
        return SegmentData(seg, view, budget, train, train.to_csr(),
                           BPRSampler.from_interactions(inter.subset(seg.train_current)), test)

    def deploy_steps(self, data: SegmentData) -> int:
        return self.training.epochs * data.sampler.n_batches(self.training.batch_size)

    def train(self, data: SegmentData, sizes: np.ndarray, steps: int, *,
              warm: np.ndarray | None = None, probe_steps: int | None = None,
              ) -> tuple[Recommender, dict[str, float] | None]:
        """A model with per-row ``sizes`` trained ``steps`` BPR steps on the segment's current
        rows, from the masked table ``warm`` (node order) where given; with ``probe_steps``,
        also its metrics after that many steps."""
        cfg = self.training
        seed = cfg.seed + data.segment.index
        net = build_model(self.model, data.train, seed)
        if warm is not None:
            with torch.no_grad():  # earlier rows keep their masked values
                seen = np.flatnonzero(np.abs(warm).sum(1) > 0)
                net.embedding[net.table_rows()[torch.from_numpy(seen)]] = torch.from_numpy(
                    warm[seen])
        net.set_row_sizes(np.minimum(sizes, self.model.dim))
        trainer = Trainer(net, data.sampler, TrainConfig(
            epochs=1, batch_size=cfg.batch_size, lr=cfg.lr, l2=cfg.l2, eval_every=0, seed=seed))
        rng = np.random.default_rng(seed)
        probe = None
        done = 0
        net.train()
        while done < steps:
            for users, pos, neg in data.sampler.epoch(cfg.batch_size, rng):
                trainer.step(users, pos, neg)
                done += 1
                if done == probe_steps:
                    probe = self.evaluate(net, data)
                    net.train()
                if done == steps:
                    break
        if probe_steps is not None and probe is None:  # fewer steps than the probe's
            probe = self.evaluate(net, data)
        return net, probe

    def evaluate(self, net: Recommender, data: SegmentData) -> dict[str, float]:
        """Recall/NDCG@20 on the segment's test rows, ranking the vocabulary's items."""
        if data.test is None:
            return {}
        net.eval()
        users, items = net.final_embeddings()
        scores = score_fn_from_embeddings(users.numpy(), items.numpy())
        unknown = np.where(data.view.known_items, 0.0, -np.inf).astype(np.float32)
        result = evaluate_ranking(lambda ids: scores(ids) + unknown, data.train_csr,
                                  data.test, (K,))
        return result.metrics


def masked_table(net: Recommender) -> np.ndarray:
    """(n_users + n_items, dim) masked ego rows in node order: what the next segment keeps."""
    with torch.no_grad():
        return net.ego_table().detach()[net.table_rows()].numpy().copy()


class SizePolicy(Protocol):
    """How a streaming method sizes each segment, and what it learns from a trained one."""

    probe_steps: int | None  # measure the deployed model after this many steps (SCALL)

    def sizes(self, data: SegmentData) -> tuple[np.ndarray, np.ndarray, dict]:
        """User sizes, item sizes (0 outside the vocabulary) and what to record of them."""
        ...

    def learn(self, env: StreamEnv, data: SegmentData, net: Recommender,
              probe: dict[str, float] | None) -> dict: ...


def run_stream(env: StreamEnv, segments: list[StreamSegment], policy: SizePolicy, *,
               dataset: str, method: str) -> Iterator[tuple[dict, dict[str, np.ndarray]]]:
    """Yield one record per segment, with the segment's stored tables (``ragged_tables``).
    The policy learns from every segment but the last (what it would learn there serves no
    later segment)."""
    ego = None
    for seg in segments:
        t0 = time.perf_counter()
        data = env.prepare(seg)
        user_sizes, item_sizes, chosen = policy.sizes(data)
        sizes = np.concatenate([user_sizes, item_sizes])
        net, probe = env.train(data, sizes, env.deploy_steps(data), warm=ego,
                               probe_steps=policy.probe_steps)
        ego = masked_table(net)
        tables = ragged_tables(ego, user_sizes, item_sizes)
        view = data.view
        n_rows = int(view.known_users.sum() + view.known_items.sum())
        record = {"dataset": dataset, "method": method, "segment": seg.index,
                  "budget_bytes": data.budget_bytes,
                  "package_bytes": table_bytes(tables),
                  "n_users": int(view.known_users.sum()), "n_items": int(view.known_items.sum()),
                  "n_test": len(seg.test), "mean_size": float(sizes.sum() / max(n_rows, 1)),
                  **chosen, **env.evaluate(net, data)}
        record["train_seconds"] = time.perf_counter() - t0
        if seg is not segments[-1]:
            record.update(policy.learn(env, data, net, probe))
        record["seconds"] = time.perf_counter() - t0
        yield record, tables
