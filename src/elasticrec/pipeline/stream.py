"""Streaming recommendation under a fixed embedding budget (SCALL's setting), as the public
``elasticrec.stream`` runs it: time-ordered segments, each trained warm from the last with the
sizes a method gives, evaluated on its own test rows, its stored bytes measured.

Methods: ``scall`` (sizes sampled under the budget, the sampler's parameters chosen by a Soft
Actor-Critic policy searched after every segment), ``su`` (one size for all), ``mr`` (random
sizes under the budget) and ``grow`` (sizes growing with frequency, no cap: the approach SCALL
criticises). The run folder gets ``segments.jsonl`` (one record per segment),
``summary.json``, the latest segment's stored tables (``embeddings.safetensors``) and, for
scall, the agent with its replay (``agent.safetensors``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from elasticrec.atomic import write_text
from elasticrec.budget.units import format_bytes, parse_stream_budget
from elasticrec.errors import ElasticrecError
from elasticrec.pipeline.inputs import COLUMN_OPTIONS, data_source
from elasticrec.pipeline.rundir import MAX_JSON_BYTES, read_json
from elasticrec.tensorfile import read_json_lines, read_tensors, write_tensors

METHODS = ("scall", "su", "mr", "grow")
SEGMENTS_FILE, SUMMARY_FILE = "segments.jsonl", "summary.json"
TABLES_FILE, AGENT_FILE = "embeddings.safetensors", "agent.safetensors"
logger = logging.getLogger("elasticrec")


@dataclass(frozen=True)
class StreamOptions:
    """How the stream is cut and each segment trained (defaults: METHODS.md 2.4, CPU-sized)."""

    model: str = "lightgcn"
    d_max: int = 64  # largest embedding size
    segments: int | None = None  # equal windows of events (None: the new-entity rule)
    new_entities: int = 15_000  # a new segment after this many new users + items
    epochs: int | None = None  # per segment (None: the harness's default)
    batch_size: int | None = None
    lr: float | None = None
    schedule: str = "cpu"  # scall's search: "cpu" or "released"
    reward_steps: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("mf", "lightgcn"):
            raise ElasticrecError(f"model {self.model!r} is not 'mf' or 'lightgcn'")
        if self.schedule not in ("cpu", "released"):
            raise ElasticrecError(f"schedule {self.schedule!r} is not 'cpu' or 'released'")
        for name in ("d_max", "new_entities"):
            if getattr(self, name) < 1:
                raise ElasticrecError(f"{name}={getattr(self, name)} is not allowed: >= 1")
        for name in ("segments", "epochs", "batch_size", "reward_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ElasticrecError(f"{name}={value} is not allowed: >= 1")
        if self.lr is not None and not (np.isfinite(self.lr) and self.lr > 0):
            raise ElasticrecError(f"lr={self.lr} is not allowed: a finite number > 0")


class StreamRun:
    """A finished stream: its per-segment records, summary and latest stored tables."""

    def __init__(self, path: str | os.PathLike, *, keep: object = None) -> None:
        self.path = Path(path)
        self.summary: dict = _json(self.path / SUMMARY_FILE)
        self.segments: list[dict] = _json_lines(self.path / SEGMENTS_FILE)
        self._keep = keep

    def __repr__(self) -> str:
        return (f"StreamRun({str(self.path)!r}, method={self.summary['method']!r}, "
                f"segments={len(self.segments)})")

    @property
    def method(self) -> str:
        return self.summary["method"]

    @property
    def user_ids(self) -> list[str]:
        """The users with a stored vector in the latest segment (ids as in the source data):
        the users ``export`` can serve."""
        meta, tables = read_tensors(self.path / TABLES_FILE, "finished `elasticrec stream`")
        labels = meta.get("config", {}).get("user_labels", [])
        return [labels[i] for i in tables["user_ids"]] if labels else []

    def tables(self) -> dict[str, np.ndarray]:
        """The latest segment's stored ragged tables (values, offsets and ids per table)."""
        return read_tensors(self.path / TABLES_FILE, "finished `elasticrec stream`")[1]

    def export(self, user, *, dtype: str = "float32") -> bytes:
        """The device package of ``user`` (an id as in the source data) from the latest
        segment: every stored item at its own width (the ragged layout) and the user's
        stored vector, within the bytes the stream's budget gave them."""
        from elasticrec.pipeline.stream_export import stream_package

        return stream_package(self, user, dtype=dtype)


def stream(data, *, budget: str | int, method: str = "scall", out: str | os.PathLike | None = None,
           data_dir: str | os.PathLike | None = None, download: bool = True,
           log: Callable[[str], None] | None = None, **options) -> StreamRun:
    """Run a stream of ``data`` (timestamped events: a dataset name, a file, a DataFrame with
    a timestamp column or ``(users, items, timestamps)`` arrays) under ``budget``: bytes of
    the stored tables (``"2MB"``, ``"512KiB"``, an int), ``"c=16"`` (a mean of 16 values per
    entity) or ``"B=10"`` (10 MB of float32 parameters); offsets are included. ``method``:
    ``scall``, ``su``, ``mr`` or ``grow``. ``options``: ``StreamOptions`` fields and, for a
    file or DataFrame, ``timestamp_col`` (and ``user_col``, ``item_col``)."""
    from elasticrec.data.preprocess import drop_duplicates
    from elasticrec.models.config import ModelConfig
    from elasticrec.scall.harness import StreamEnv, StreamTraining, run_stream
    from elasticrec.scall.stream import cuts_by_new_entities, cuts_equal, segments, time_sorted

    log = log or logger.info
    if method not in METHODS:
        raise ElasticrecError(f"method {method!r} is not one of {METHODS}")
    columns = {k: options.pop(k) for k in COLUMN_OPTIONS if k in options}
    try:
        opts = StreamOptions(**options)
    except TypeError as exc:
        raise ElasticrecError(f"stream: {exc}") from exc
    budget_fn = _budget_function(budget)
    keep = None
    if out is None:
        import tempfile

        keep = tempfile.TemporaryDirectory(prefix="elasticrec-stream-")
        out = keep.name
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ElasticrecError(f"{out} already holds files; choose another --out")
    source = data_source(data, columns)
    ds = source.load(None if data_dir is None else Path(data_dir), download=download,
                     columns={k: v for k, v in columns.items() if v is not None})
    inter = time_sorted(drop_duplicates(ds.all()))  # a pair's first event only
    starts = (cuts_equal(len(inter), opts.segments) if opts.segments
              else cuts_by_new_entities(inter, opts.new_entities))
    rng = np.random.default_rng(opts.seed)
    segs = segments(inter, starts, rng)
    log(f"{ds.name}: {len(inter)} events, {inter.n_users} users, {inter.n_items} items, "
        f"{len(segs)} segments; method {method}, budget {budget}")
    policy = _policy(method, opts, rng, log)
    given = {k: getattr(opts, k) for k in ("epochs", "batch_size", "lr")}
    training = StreamTraining(seed=opts.seed, **{k: v for k, v in given.items() if v is not None})
    env = StreamEnv(inter, ModelConfig(model=opts.model, dim=opts.d_max), training, budget_fn)
    records = []
    meta = {"dataset": ds.name, "method": method, "budget": str(budget),
            "user_labels": [str(x) for x in _labels(inter.user_labels, inter.n_users)],
            "item_labels": [str(x) for x in _labels(inter.item_labels, inter.n_items)],
            "dataset_fingerprint": ds.fingerprint, "model": opts.model, "d_max": opts.d_max}
    for rec, tables in run_stream(env, segs, policy, dataset=ds.name, method=method):
        records.append(rec)
        over = "" if rec["package_bytes"] <= rec["budget_bytes"] else "  OVER BUDGET"
        log(f"segment {rec['segment']}: {rec['n_users']} users, {rec['n_items']} items, "
            f"{format_bytes(rec['package_bytes'])} of {format_bytes(rec['budget_bytes'])}, "
            f"recall@20 {rec.get('recall@20', float('nan')):.4f} in {rec['seconds']:.1f}s{over}")
        write_text(out / SEGMENTS_FILE,
                   "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        write_tensors(out / TABLES_FILE, tables,  # the latest segment's
                      {"config": {**meta, "segment": rec["segment"]}})
    if method == "scall":
        write_tensors(out / AGENT_FILE, policy.agent.tensors(),
                      {"config": policy.agent.config.to_json(),
                       "schedule": policy.schedule.to_json(), "d_max": opts.d_max})
    later = [r for r in records if r["segment"] >= 1 and "recall@20" in r] or records
    summary = {"dataset": ds.name, "method": method, "budget": str(budget),
               "segments": len(records),
               **{k: float(np.mean([r.get(k, np.nan) for r in later]))
                  for k in ("recall@20", "ndcg@20")},
               "within_budget": all(r["package_bytes"] <= r["budget_bytes"] for r in records),
               "seconds": float(sum(r["seconds"] for r in records))}
    write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return StreamRun(out, keep=keep)


def load_stream(path: str | os.PathLike) -> StreamRun:
    """Open a finished stream folder."""
    return StreamRun(path)


def _budget_function(budget: str | int) -> Callable[[int, int], int]:
    """``(n_users, n_items) -> bytes`` for the three budget forms."""
    if isinstance(budget, bool) or not isinstance(budget, int | str):
        raise ElasticrecError(f"budget {budget!r}: give bytes, 'c=N' or 'B=MB'")
    if isinstance(budget, int):
        if budget < 1:
            raise ElasticrecError(f"budget {budget} is less than one byte")
        return lambda n_u, n_i: budget
    kind, value = parse_stream_budget(budget)
    if kind == "c":
        return lambda n_u, n_i: int(4 * value * (n_u + n_i))
    if kind == "B":
        return lambda n_u, n_i: int(value * 1e6)
    return lambda n_u, n_i: int(value)


def _policy(method: str, opts: StreamOptions, rng: np.random.Generator, log):
    if method != "scall":
        from elasticrec.scall.policies import Rule

        return Rule(method, opts.d_max, rng)
    from elasticrec.scall.sac import SACConfig
    from elasticrec.scall.search import ScallPolicy, ScallSchedule

    schedule = ScallSchedule.released() if opts.schedule == "released" else ScallSchedule()
    if opts.reward_steps is not None:
        schedule = replace(schedule, reward_steps=opts.reward_steps)
    return ScallPolicy(opts.d_max, schedule, SACConfig(seed=opts.seed), seed=opts.seed, log=log)


def _json(path: Path) -> dict:
    return read_json(path, "a finished stream")


def _json_lines(path: Path) -> list[dict]:
    """One JSON object per non-blank line; a bad line is refused by file and line."""
    if not path.exists():
        raise ElasticrecError(f"{path}: not found; is {path.parent} a finished stream?")
    return read_json_lines(path, MAX_JSON_BYTES)


def _labels(labels, n: int) -> np.ndarray:
    return np.arange(n).astype(str) if labels is None else np.asarray(labels)
