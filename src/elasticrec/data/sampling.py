"""BPR training triples: (user, positive item, negative item), vectorised.

An epoch holds as many triples as there are training pairs. Two ways to draw them:

- ``"users"`` (default, as the released LightGCN and NGCF code do): each triple's user is drawn
  uniformly from the users with training items, with replacement, and its positive uniformly
  from that user's items; every user weighs the same, as in the per-user averaged metrics.
- ``"pairs"``: every training pair once, in a random order; active users weigh more.

Negatives are uniform over the items the user never interacted with, drawn by vectorised
rejection: draw for the whole batch, find collisions with the user's positives by binary
search over sorted (user, item) keys, redraw only those.

With ``shared_negatives = N > 0`` (the contrastive loss), a batch carries N negatives drawn
uniformly over all items, shared by all its users, instead of one per user; a shared negative
may be one of a user's positives (with N << n_items, rarely), as in SimpleX's sampler.

Across processes (``Shard``), every batch is split between the ranks (``batch_share``): each
rank draws its part with its own generator, so that the ranks' parts together are a batch of
the single-process size; in ``"pairs"`` mode the epoch's order of pairs comes from a generator
that is the same on every rank, so that every pair is still drawn once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from elasticrec.data.interactions import Interactions


@dataclass(frozen=True, eq=False)
class Shard:
    """This process's part of every batch: rank ``rank`` of ``world_size``."""

    rank: int
    world_size: int
    shared: np.random.Generator  # the same stream on every rank: the order of pairs

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"Shard: rank={self.rank} is not in [0, {self.world_size})")


def batch_share(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """(offset, count) of rank ``rank``'s part of a batch of ``n``: the first ``n % world_size``
    ranks take one more; a rank left with nothing repeats one triple (every rank must step)."""
    base, extra = divmod(n, world_size)
    offset = rank * base + min(rank, extra)
    count = base + (rank < extra)
    return (offset % n, 1) if count == 0 else (offset, count)


@dataclass(frozen=True, eq=False)
class BPRSampler:
    """Draws BPR triples from deduplicated training pairs."""

    user: np.ndarray
    item: np.ndarray
    n_items: int
    keys: np.ndarray  # sorted unique user * n_items + item
    indptr: np.ndarray  # CSR row pointers: user u's items are item[indptr[u]:indptr[u+1]]
    active: np.ndarray  # users with at least one training item

    @classmethod
    def from_interactions(cls, train: Interactions) -> BPRSampler:
        if len(train) == 0:
            raise ValueError("no training events to sample from")
        csr = train.to_csr()
        user = np.repeat(np.arange(train.n_users, dtype=np.int64), np.diff(csr.indptr))
        item = csr.indices.astype(np.int64)
        full = np.flatnonzero(np.bincount(user, minlength=train.n_users) >= train.n_items)
        if len(full):
            u = int(full[0])
            label = train.user_labels[u] if train.user_labels is not None else u
            raise ValueError(f"user {str(label)!r} has a training event with every item (all "
                             f"{train.n_items}), so BPR has no negative item for them; give "
                             "data with more items, or drop that user")
        return cls(user=user, item=item, n_items=train.n_items, keys=user * train.n_items + item,
                   indptr=csr.indptr.astype(np.int64),
                   active=np.flatnonzero(np.diff(csr.indptr)).astype(np.int64))

    def __len__(self) -> int:
        return len(self.user)

    def negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniform negative item per user in ``users``."""
        neg = rng.integers(0, self.n_items, size=len(users), dtype=np.int64)
        todo = np.arange(len(users))
        while len(todo):
            keys = users[todo] * self.n_items + neg[todo]
            pos = np.searchsorted(self.keys, keys)
            pos[pos == len(self.keys)] = 0
            clash = self.keys[pos] == keys
            todo = todo[clash]
            neg[todo] = rng.integers(0, self.n_items, size=len(todo), dtype=np.int64)
        return neg

    def epoch(
        self, batch_size: int, rng: np.random.Generator,
        mode: Literal["users", "pairs"] = "users", *, shard: Shard | None = None,
        shared_negatives: int = 0,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Batches of (users, positives, negatives), ``len(self)`` positives in all; with
        ``shard``, this rank's part of each of those batches (``batch_share``); with
        ``shared_negatives``, that many negatives per batch (per rank's part) for all its
        users."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        if mode not in ("users", "pairs"):
            raise ValueError(f"sampling mode must be 'users' or 'pairs', got {mode!r}")
        if shared_negatives < 0:
            raise ValueError(f"shared_negatives must be >= 0, got {shared_negatives}")
        if shard is not None:
            yield from self._shard_epoch(batch_size, rng, mode, shard, shared_negatives)
            return
        order = rng.permutation(len(self.user)) if mode == "pairs" else None
        for start in range(0, len(self.user), batch_size):
            n = min(batch_size, len(self.user) - start)
            idx = order[start : start + n] if order is not None else self._user_uniform(n, rng)
            users = self.user[idx]
            yield users, self.item[idx], self._negatives(users, rng, shared_negatives)

    def _negatives(self, users: np.ndarray, rng: np.random.Generator,
                   shared: int) -> np.ndarray:
        if shared:
            return rng.integers(0, self.n_items, size=shared, dtype=np.int64)
        return self.negatives(users, rng)

    def _shard_epoch(
        self, batch_size: int, rng: np.random.Generator, mode: str, shard: Shard,
        shared_negatives: int,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        order = shard.shared.permutation(len(self.user)) if mode == "pairs" else None
        for start in range(0, len(self.user), batch_size):
            n = min(batch_size, len(self.user) - start)
            offset, count = batch_share(n, shard.rank, shard.world_size)
            if order is not None:
                idx = order[start + offset : start + offset + count]
            else:
                idx = self._user_uniform(count, rng)
            users = self.user[idx]
            yield users, self.item[idx], self._negatives(users, rng, shared_negatives)

    def _user_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Pair indices of ``n`` triples: a uniform active user, then one of their items."""
        users = self.active[rng.integers(0, len(self.active), size=n)]
        lo, hi = self.indptr[users], self.indptr[users + 1]
        return lo + (rng.random(n) * (hi - lo)).astype(np.int64)

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self.user) // batch_size)
