"""BPR training triples: (user, positive item, negative item), vectorised.

An epoch visits every training interaction once in a random order (the positives), and draws
for each a negative uniformly from the items that user never interacted with. Negatives are
drawn by vectorised rejection: draw for the whole batch, find collisions with the user's
positives by binary search over sorted (user, item) keys, redraw only those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from elasticrec.data.interactions import Interactions


@dataclass(frozen=True, eq=False)
class BPRSampler:
    """Draws BPR triples from deduplicated training pairs."""

    user: np.ndarray
    item: np.ndarray
    n_items: int
    keys: np.ndarray  # sorted unique user * n_items + item

    @classmethod
    def from_interactions(cls, train: Interactions) -> BPRSampler:
        if len(train) == 0:
            raise ValueError("BPRSampler: the training interactions are empty")
        csr = train.to_csr()
        user = np.repeat(np.arange(train.n_users, dtype=np.int64), np.diff(csr.indptr))
        item = csr.indices.astype(np.int64)
        if np.any(np.bincount(user, minlength=train.n_users) >= train.n_items):
            raise ValueError("BPRSampler: a user interacted with every item; no negative exists")
        return cls(user=user, item=item, n_items=train.n_items, keys=user * train.n_items + item)

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
        self, batch_size: int, rng: np.random.Generator
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Batches of (users, positives, negatives) covering every pair once."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        order = rng.permutation(len(self.user))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            users = self.user[idx]
            yield users, self.item[idx], self.negatives(users, rng)

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self.user) // batch_size)
