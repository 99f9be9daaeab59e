"""Device packages of one loaded run, built in-process through the public API and cached.

A package is the item part the run's method chooses for a budget plus one user's vector.
Which item part ships depends on the method and the budget, on the user's group (PEEL: the
group's refined table and its block weights; RULE and the dense baseline: one for everyone)
and on the exact header size, that is on the length of the user's id in the manifest JSON
(a budget counts every byte). Users who agree on (group, budget, dtype, id length) therefore
get the same item part: the first request for such a key exports the package with
``Run.export`` and keeps it; later ones reuse its item part with their own vector
(``runtime.Package.with_user``), which gives the bytes ``Run.export`` would give.

A new user's package (from their item history) is exported afresh every time: the history
decides both the group (PEEL) and the vector.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import elasticrec
from elasticrec import runtime

DTYPES = elasticrec.option_choices()["dtype"]  # the item value types a package can hold
DIGEST = slice(53, 117)  # the package's sha256, at a fixed offset (docs/FORMAT.md, section 5)


class RequestError(elasticrec.ElasticrecError):
    """A request the server refuses: the HTTP status, the parameter at fault and why."""

    def __init__(self, status: int, parameter: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.parameter = parameter


@dataclass(frozen=True)
class Built:
    """A package's bytes, its checksum (the ETag) and whether its item part was cached."""

    data: bytes
    checksum: str
    cached: bool


def _json_safe(value: object) -> object:
    """``value`` with NaN and infinities as ``None`` (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def checksum(data: bytes) -> str:
    return data[DIGEST].decode("ascii")


class PackageService:
    """Builds the packages of ``run``; keeps up to ``cache_size`` item parts (0: none)."""

    def __init__(self, run: elasticrec.Run, *, name: str, cache_size: int = 64) -> None:
        if cache_size < 0:
            raise elasticrec.ElasticrecError(f"cache_size={cache_size} is not allowed: an int "
                                             ">= 0")
        self.run, self.name, self.cache_size = run, name, cache_size
        labels = [str(u) for u in run.user_ids.tolist()]
        self._row = {label: row for row, label in enumerate(labels)}
        self._items = {str(i) for i in run.item_ids.tolist()}
        if run.method == "peel":
            self._group = np.asarray(run.peel_state.user_cluster, dtype=np.int64)
        else:
            self._group = np.zeros(len(labels), dtype=np.int64)
        self._vectors = run.user_vectors()  # in the basis Run.export ships by default
        if run.method in ("rule", "peel"):
            run.elastic_state  # noqa: B018  (loaded now, not by the first request's thread)
        self._parts: OrderedDict[tuple, runtime.Package] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}
        self.hits = self.misses = 0

    # --- requests --------------------------------------------------------------------------
    def budget_bytes(self, budget: str | None) -> int:
        if budget is None or not budget.strip():
            raise RequestError(400, "budget", "give budget= (bytes such as 300000, 2MB, "
                                              "512KiB, or 10% of the full float32 item table)")
        try:
            return self.run.budget_bytes(budget.strip())
        except elasticrec.ElasticrecError as exc:
            raise RequestError(400, "budget", str(exc)) from None

    @staticmethod
    def dtype(dtype: str | None) -> str:
        if dtype is None:
            return "float32"
        if dtype not in DTYPES:
            raise RequestError(400, "dtype", f"dtype {dtype!r} is not one of {list(DTYPES)}")
        return dtype

    def for_user(self, user: str | None, budget: str | None, dtype: str | None = None
                 ) -> Built:
        """The package of a user of the run (their id as in the source data)."""
        if user is None or not user:
            raise RequestError(400, "user", "give user= (an id as in the run's source data)")
        if user not in self._row:
            raise RequestError(404, "user", f"user {user!r} is not in run {self.name!r}")
        budget_bytes, dtype = self.budget_bytes(budget), self.dtype(dtype)
        row = self._row[user]
        if not self.cache_size:
            return self._built(self._export(budget_bytes, dtype, user=user), cached=False)
        # the id's length as the header holds it (JSON in a JSON string) fixes the header size
        key = (int(self._group[row]), budget_bytes, dtype, len(json.dumps(json.dumps(user))))
        part = self._cached(key)
        if part is not None:
            return self._built(part.with_user(user, self._vectors[row]), cached=True)
        with self._key_lock(key):  # one export per key, however many ask at once
            part = self._cached(key)
            if part is not None:
                return self._built(part.with_user(user, self._vectors[row]), cached=True)
            data = self._export(budget_bytes, dtype, user=user)
            self._keep(key, runtime.load_bytes(data))
            return self._built(data, cached=False)

    def for_history(self, history: object, budget: object, dtype: object = None) -> Built:
        """The package of a user unseen in training, from the ids of the items they used."""
        if (not isinstance(history, list) or not history
                or not all(isinstance(x, str | int) and not isinstance(x, bool)
                           for x in history)):
            raise RequestError(400, "history", "history must be a non-empty list of item ids "
                                               "(strings or integers)")
        unknown = [x for x in history if str(x) not in self._items]
        if unknown:
            raise RequestError(422, "history", f"history item {unknown[0]!r} is not in run "
                                               f"{self.name!r} ({len(unknown)} unknown of "
                                               f"{len(history)})")
        if isinstance(budget, bool) or not isinstance(budget, str | int | None):
            raise RequestError(400, "budget", f"budget {budget!r} is not a number of bytes or "
                                              "a string such as '2MB' or '10%'")
        if dtype is not None and not isinstance(dtype, str):
            raise RequestError(400, "dtype", f"dtype {dtype!r} is not one of {list(DTYPES)}")
        budget_bytes = self.budget_bytes(None if budget is None else str(budget))
        items = [str(x) for x in history]
        return self._built(self._export(budget_bytes, self.dtype(dtype), history=items),
                           cached=False)

    def manifest(self) -> dict:
        """What a client needs to know about the run before asking for packages."""
        run = self.run
        return {
            "name": self.name, "method": run.method, "model": run.model,
            "dataset": run.config["data"]["dataset"],
            "dataset_fingerprint": run.config["dataset_fingerprint"],
            "n_users": len(self._row), "n_items": len(self._items),
            "dim": int(self._vectors.shape[1]), "full_table_bytes": run.full_table_bytes,
            "dtypes": list(DTYPES), "elasticrec": elasticrec.__version__,
            "result": _json_safe(run.result),
        }

    def stats(self) -> dict:
        with self._lock:
            return {"cached_parts": len(self._parts), "cache_size": self.cache_size,
                    "hits": self.hits, "misses": self.misses}

    # --- helpers ---------------------------------------------------------------------------
    def _export(self, budget_bytes: int, dtype: str, *, user: str | None = None,
                history: Sequence[str] | None = None) -> bytes:
        try:
            return self.run.export(budget_bytes, user=user, history=history, dtype=dtype)
        except elasticrec.ElasticrecError as exc:  # user, history and dtype are checked
            raise RequestError(422, "budget", str(exc)) from None

    def _cached(self, key: tuple) -> runtime.Package | None:
        with self._lock:
            part = self._parts.get(key)
            if part is None:
                return None
            self._parts.move_to_end(key)
            self.hits += 1
            return part

    def _keep(self, key: tuple, part: runtime.Package) -> None:
        with self._lock:
            self.misses += 1
            self._parts[key] = part
            while len(self._parts) > self.cache_size:
                self._parts.popitem(last=False)
            self._building.pop(key, None)

    def _key_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            return self._building.setdefault(key, threading.Lock())

    @staticmethod
    def _built(data: bytes, *, cached: bool) -> Built:
        return Built(data, checksum(data), cached)
