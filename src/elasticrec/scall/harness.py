"""One streaming run: segments in time order, each trained warm from the previous one with
the sizes a policy gives, evaluated on its own test rows, with its storage measured.

Per segment t (METHODS.md 2.8, without the policy search): the vocabulary is every user and
item in the training rows; the policy sizes them under the parameter budget; the model starts
from the previous segment's masked table (``E * M``: a row's newly unmasked positions start at
0, new rows keep their random initialisation) and trains on the segment's current training
rows (the replayed and new events) for a fixed number of epochs; Recall@20 and NDCG@20 are
measured on the segment's test rows with every training row excluded. The stored size is the
ragged storage of both tables: 4 bytes per value plus an int64 offset per row and one more
per table (METHODS.md decision 5: the budget includes the offsets).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from elasticrec.data.interactions import Interactions
from elasticrec.data.sampling import BPRSampler
from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
from elasticrec.models.config import ModelConfig
from elasticrec.models.factory import build_model
from elasticrec.scall.policies import SegmentView
from elasticrec.scall.sampler import BudgetTooSmall
from elasticrec.scall.stream import Segment, current_frequency
from elasticrec.train.config import TrainConfig
from elasticrec.train.trainer import Trainer

Policy = Callable[[SegmentView], tuple[np.ndarray, np.ndarray]]
OFFSET_BYTES = 8


def stored_bytes(user_sizes: np.ndarray, item_sizes: np.ndarray) -> int:
    """Ragged float32 values of both tables plus their int64 offsets."""
    n_rows = int((user_sizes > 0).sum() + (item_sizes > 0).sum())
    return 4 * int(user_sizes.sum() + item_sizes.sum()) + OFFSET_BYTES * (n_rows + 2)


def params_for_bytes(budget_bytes: int, n_rows: int) -> int:
    """The parameters a byte budget leaves once the offsets of ``n_rows`` rows are paid."""
    return (budget_bytes - OFFSET_BYTES * (n_rows + 2)) // 4


@dataclass(frozen=True)
class StreamTraining:
    epochs: int = 10  # per segment (the released code trains to convergence: see docs)
    batch_size: int = 4096
    lr: float = 5e-3
    l2: float = 1e-4
    seed: int = 0


def run_stream(inter: Interactions, segments: list[Segment], policy: Policy,
               budget_bytes: Callable[[int, int], int], model: ModelConfig,
               training: StreamTraining, *, dataset: str, method: str,
               ) -> Iterator[dict]:
    """Yield one record per segment. ``budget_bytes(n_users, n_items)`` gives the segment's
    byte budget for its vocabulary."""
    ego = None  # (n_users + n_items, dim) masked table carried across segments, node order
    cum_u = np.zeros(inter.n_users, dtype=np.int64)
    cum_i = np.zeros(inter.n_items, dtype=np.int64)
    for seg in segments:
        t0 = time.perf_counter()
        train = inter.subset(seg.train)
        current = inter.subset(seg.train_current)
        known_u = np.bincount(train.user, minlength=inter.n_users) > 0
        known_i = np.bincount(train.item, minlength=inter.n_items) > 0
        freq_u, freq_i = current_frequency(inter, seg.train_current)
        new_u, new_i = current_frequency(inter, seg.rows)
        cum_u, cum_i = cum_u + new_u, cum_i + new_i
        n_rows = int(known_u.sum() + known_i.sum())
        budget = budget_bytes(int(known_u.sum()), int(known_i.sum()))
        params = params_for_bytes(budget, n_rows)
        if params < n_rows:
            raise BudgetTooSmall(f"segment {seg.index}: {budget:,} bytes cannot store "
                                 f"{n_rows:,} rows of one value each with their offsets")
        view = SegmentView(known_u, known_i, freq_u, freq_i, cum_u, cum_i, params, seg.index)
        user_sizes, item_sizes = policy(view)
        sizes = np.concatenate([user_sizes, item_sizes])
        net = build_model(model, train, training.seed + seg.index)
        with torch.no_grad():
            rows = net.table_rows()
            if ego is not None:  # warm start: earlier rows keep their masked values
                seen = torch.from_numpy(np.flatnonzero(np.abs(ego).sum(1) > 0))
                net.embedding[rows[seen]] = torch.from_numpy(ego[seen.numpy()])
        net.set_row_sizes(np.minimum(sizes, model.dim))
        cfg = TrainConfig(epochs=training.epochs, batch_size=training.batch_size,
                          lr=training.lr, l2=training.l2, eval_every=0,
                          seed=training.seed + seg.index)
        Trainer(net, BPRSampler.from_interactions(current), cfg).fit()
        with torch.no_grad():
            ego = net.ego_table().detach()[net.table_rows()].numpy().copy()
        users, items = net.final_embeddings()
        record = {"dataset": dataset, "method": method, "segment": seg.index,
                  "budget_bytes": budget, "package_bytes": stored_bytes(user_sizes, item_sizes),
                  "n_users": int(known_u.sum()), "n_items": int(known_i.sum()),
                  "n_test": len(seg.test), "mean_size": float(sizes.sum() / max(n_rows, 1))}
        if len(seg.test):
            test = inter.subset(seg.test).to_csr()
            result = evaluate_ranking(score_fn_from_embeddings(users.numpy(), items.numpy()),
                                      train.to_csr(), test, (20,))
            record.update(result.metrics)
        record["seconds"] = time.perf_counter() - t0
        yield record
