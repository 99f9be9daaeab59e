"""The one value type for implicit feedback: who interacted with what, and when."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Interactions:
    """A set of (user, item[, timestamp]) events over contiguous 0-based ids.

    ``user`` and ``item`` are int64 arrays of equal length; ``timestamp`` is an optional int64
    array of the same length (unix seconds). ``n_users`` and ``n_items`` are the sizes of the id
    spaces, which may exceed the ids present (a test split shares its train split's id space).
    ``user_labels`` and ``item_labels`` optionally map each internal id to the id found in the
    source file (as strings), so that packages and CLI output can speak the user's ids.
    """

    user: np.ndarray
    item: np.ndarray
    n_users: int
    n_items: int
    timestamp: np.ndarray | None = None
    user_labels: np.ndarray | None = None
    item_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("user", "item"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype != np.int64:
                raise ValueError(f"Interactions.{name} must be a 1-d int64 array")
        if len(self.user) != len(self.item):
            raise ValueError(
                f"Interactions: {len(self.user)} users but {len(self.item)} items given"
            )
        if self.timestamp is not None and (
            self.timestamp.shape != self.user.shape or self.timestamp.dtype != np.int64
        ):
            raise ValueError("Interactions.timestamp must be an int64 array as long as user")
        for name, ids, n in (("user", self.user, self.n_users), ("item", self.item, self.n_items)):
            if n < 0:
                raise ValueError(f"Interactions.n_{name}s must be >= 0, got {n}")
            if len(ids) and (ids.min() < 0 or ids.max() >= n):
                raise ValueError(
                    f"Interactions.{name} ids must lie in [0, {n}), "
                    f"got range [{ids.min()}, {ids.max()}]"
                )
        for name, labels, n in (
            ("user_labels", self.user_labels, self.n_users),
            ("item_labels", self.item_labels, self.n_items),
        ):
            if labels is not None and len(labels) != n:
                raise ValueError(f"Interactions.{name} has {len(labels)} entries, expected {n}")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def has_timestamps(self) -> bool:
        return self.timestamp is not None

    def subset(self, mask_or_index: np.ndarray) -> Interactions:
        """The events selected by a boolean mask or an index array, in the same id space."""
        return Interactions(
            user=self.user[mask_or_index],
            item=self.item[mask_or_index],
            n_users=self.n_users,
            n_items=self.n_items,
            timestamp=None if self.timestamp is None else self.timestamp[mask_or_index],
            user_labels=self.user_labels,
            item_labels=self.item_labels,
        )

    def to_csr(self) -> sp.csr_matrix:
        """The binary user x item matrix (duplicates collapse to 1), float32, sorted indices."""
        m = sp.csr_matrix(
            (np.ones(len(self), dtype=np.float32), (self.user, self.item)),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        m.sort_indices()
        return m
