"""A loaded package: score every item for a user, recommend, fold in a new user.

Ranking is ``elasticrec.eval.ranking.top_k`` (descending score, ties to the smaller item
index), the same code the server evaluation ranks with.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from elasticrec.eval.ranking import top_k
from elasticrec.format import ids as id_maps
from elasticrec.format.container import encode
from elasticrec.format.errors import PackageError
from elasticrec.format.manifest import Manifest
from elasticrec.format.sizes import device_bytes
from elasticrec.runtime.foldin import ridge_fold_in
from elasticrec.runtime.kernels import ScoreSegment, build_segments
from elasticrec.runtime.loader import parse, read_buffer
from elasticrec.runtime.pq import PQSegment
from elasticrec.runtime.qr import QRSegment


@dataclass(frozen=True, eq=False)
class Recommendation:
    """Item rows, their labels and scores, best first (at most ``k``)."""

    items: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray


def load(path: str | os.PathLike, *, verify: bool = True,
         catalogue: Sequence[str] | None = None) -> Package:
    """Memory-map and check the package at ``path``; ``verify=False`` skips the SHA-256.
    ``catalogue``: the device's item ids in row order, for a package that names its items
    by catalogue reference (its fingerprint must match). A refusal is a ``PackageError``
    whose message begins with ``path``."""
    try:
        return Package(read_buffer(path), verify=verify, catalogue=catalogue)
    except PackageError as exc:
        raise PackageError(f"{os.fspath(path)}: {exc}") from None


def load_bytes(data: bytes, *, verify: bool = True,
               catalogue: Sequence[str] | None = None) -> Package:
    return Package(data, verify=verify, catalogue=catalogue)


class Package:
    """A checked package; tensors are read-only views of the file (memory-mapped)."""

    def __init__(self, buf: bytes | memoryview, *, verify: bool = True,
                 catalogue: Sequence[str] | None = None) -> None:
        self.manifest, self.tensors, container = parse(buf, verify=verify)
        self.file_bytes: int = container.file_bytes
        self.header_bytes: int = container.header_bytes
        self.segments: list[ScoreSegment | PQSegment | QRSegment] = build_segments(
            self.manifest, self.tensors)
        self._catalogue: tuple[str, ...] | None = None
        if catalogue is not None:
            self._catalogue = _checked_catalogue(self.manifest, catalogue)

    @property
    def n_items(self) -> int:
        return self.manifest.n_items

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def users(self) -> tuple[str, ...]:
        return self.manifest.users

    def device_bytes(self) -> int:
        """What a budget bounds: the size of the single-user package a device receives."""
        return device_bytes(self.manifest)

    @cached_property
    def item_labels(self) -> tuple[str, ...]:
        items = self.manifest.items
        if items.kind == "catalogue":
            if self._catalogue is None:
                raise PackageError(
                    f"this package names its items by catalogue {items.fingerprint[:16]}...; "
                    "load it with the device's catalogue (recommend --catalogue FILE)")
            return self._catalogue
        return id_maps.decode(items, self.n_items, self.tensors.get("item_ids"))

    @property
    def seen(self) -> np.ndarray:
        """Item rows the package's user has already seen (shipped in the package), ascending."""
        rows = self.tensors.get("seen")
        return np.zeros(0, np.int64) if rows is None else rows.astype(np.int64)

    @cached_property
    def _label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.item_labels)}

    def item_index(self, labels: Iterable[str]) -> np.ndarray:
        """Item rows of source-data ids; a ``PackageError`` names an unknown id."""
        index = self._label_index
        rows = []
        for label in labels:
            if label not in index:
                raise PackageError(f"item {label!r} is not in this package")
            rows.append(index[label])
        return np.array(rows, dtype=np.int64)

    def user_vector(self, user: str | int | None = None) -> np.ndarray:
        """The shipped vector of ``user`` (a label, or a row); ``None``: the only user."""
        vectors = self.tensors["user"]
        if user is None:
            if len(vectors) != 1:
                raise PackageError(f"this package holds {len(vectors)} users; name one, or "
                                   "supply a user vector (e.g. a fold-in)")
            return np.array(vectors[0])
        if isinstance(user, str):
            if user not in self.users:
                raise PackageError(f"user {user!r} is not in this package")
            return np.array(vectors[self.users.index(user)])
        if not 0 <= int(user) < len(vectors):
            raise PackageError(f"user row {user} is outside [0, {len(vectors)})")
        return np.array(vectors[int(user)])

    def scores(self, users: np.ndarray) -> np.ndarray:
        """float32 scores of every item: ``(n_items,)`` for one ``(D,)`` vector, ``(B,
        n_items)`` for ``(B, D)`` vectors."""
        u = np.asarray(users, dtype=np.float32)
        single = u.ndim == 1
        u2 = u[None] if single else u
        if u2.ndim != 2 or u2.shape[1] != self.dim:
            raise PackageError(f"user vectors of shape {u.shape} do not match dim={self.dim}")
        if len(self.segments) == 1 and self.segments[0].rows is None:
            out = self.segments[0].scores(u2)
        else:
            out = np.zeros((len(u2), self.n_items), dtype=np.float32)
            for seg in self.segments:
                out[:, seg.rows] = seg.scores(u2)
        return out[0] if single else out

    def recommend(self, k: int, *, user: str | int | None = None,
                  user_vector: np.ndarray | None = None,
                  exclude: Sequence[int] | np.ndarray = (),
                  exclude_seen: bool = True) -> Recommendation:
        """The ``k`` best items for the package's user (or ``user``, or ``user_vector``),
        leaving out item rows ``exclude`` and, unless ``exclude_seen`` is false, the seen
        items the package ships; fewer when fewer items remain."""
        u = self.user_vector(user) if user_vector is None else user_vector
        scores = self.scores(np.asarray(u, dtype=np.float32))
        ex = np.asarray(exclude, dtype=np.int64)
        if exclude_seen and self.manifest.seen:
            ex = np.concatenate([ex, self.seen])
        ex = np.unique(ex)
        if ex.size and (ex[0] < 0 or ex[-1] >= self.n_items):
            raise PackageError(f"excluded item rows must lie in [0, {self.n_items})")
        if int(k) + ex.size <= self.n_items:
            # ``scores`` is ours: excluded items get -inf and at least k finite scores remain,
            # so none of them can be ranked (top_k's unexcluded path is the fast one).
            scores[ex] = -np.inf
            top = top_k(scores[None], int(k))[0]
        else:
            top = top_k(scores[None], int(k), exclude_indptr=np.array([0, ex.size]),
                        exclude_indices=ex)[0]
            top = top[top >= 0]
        labels = self.item_labels
        return Recommendation(top, tuple(labels[i] for i in top), scores[top])

    def item_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 ``(len(rows), D)`` vectors the package scores these items with: decoded
        values at their positions, zeros elsewhere, block rescaling applied."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        for seg in self.segments:
            if seg.rows is None:
                at, found = rows, np.ones(len(rows), dtype=bool)
            else:
                at = np.minimum(np.searchsorted(seg.rows, rows), max(len(seg.rows) - 1, 0))
                found = seg.rows[at] == rows if len(seg.rows) else np.zeros(len(rows), bool)
            if found.any() and len(seg.cols):
                out[np.ix_(np.flatnonzero(found), seg.cols)] = seg.decoded(at[found])
        return out

    def fold_in(self, history: Sequence[int] | np.ndarray, *, reg: float = 0.1) -> np.ndarray:
        """A user vector for an item history (rows), by ridge least squares on the shipped
        item vectors: ``argmin_u sum_i (1 - a_i . u)^2 + lam |u|^2`` over the history's
        vectors ``a_i`` (``item_vectors``), with ``lam = reg * mean_i |a_i|^2``."""
        rows = np.unique(np.asarray(history, dtype=np.int64))
        if not rows.size:
            raise PackageError("fold-in needs at least one history item")
        if rows[0] < 0 or rows[-1] >= self.n_items:
            raise PackageError(f"history item rows must lie in [0, {self.n_items})")
        return ridge_fold_in(self.item_vectors(rows), reg).astype(np.float32)

    def for_user(self, user: str) -> bytes:
        """The single-user package a device receives: this one with only ``user``'s vector."""
        return self.with_user(user, self.user_vector(user))

    def with_user(self, user: str, vector: np.ndarray) -> bytes:
        """This package's items with one user, ``user`` with ``vector``, as a single-user
        package (a package server reuses one built item part for every user who shares it)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != self.dim:
            raise PackageError(f"a user vector of width {vector.shape[1]} does not match "
                               f"dim={self.dim}")
        manifest: Manifest = replace(self.manifest, users=(str(user),))
        tensors = {spec.name: (spec.dtype, self.tensors[spec.name])
                   for spec in self.manifest.tensor_specs()}
        tensors["user"] = ("F32", vector)
        return encode(manifest.to_json(), tensors)


def _checked_catalogue(manifest: Manifest, catalogue: Sequence[str]) -> tuple[str, ...]:
    labels = tuple(str(x) for x in catalogue)
    items = manifest.items
    if items.kind != "catalogue":
        raise PackageError(f"a catalogue was given but this package names its items itself "
                           f"({items.kind})")
    if len(labels) != manifest.n_items:
        raise PackageError(f"the catalogue holds {len(labels):,} items; the package has "
                           f"{manifest.n_items:,}")
    if id_maps.catalogue_fingerprint(labels) != items.fingerprint:
        raise PackageError("the catalogue's fingerprint differs from the package's: it is "
                           "not the catalogue (or row order) the package was built for")
    return labels
