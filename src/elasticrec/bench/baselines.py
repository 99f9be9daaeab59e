"""The methods and baselines a suite measures: one entry each, one function each.

Every entry answers one question the same way: given the runs trained for a dataset and base
model (``Context``) and a budget in bytes (a share converted once, of the full model's
float32 item table), what ships and how good is it? It returns a ``Shipped``:
one device's package (the file the budget is checked on), the evaluation of what ships to
every user through the NumPy runtime (``Run.evaluate``), and what producing it cost. A
budget an entry cannot meet raises ``elasticrec.ElasticrecError`` (recorded as infeasible).

``METHODS`` are this library's (RULE, PEEL); ``BASELINES`` what a practitioner reaches for
first. To add a baseline, write one function and add one line to ``BASELINES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

import elasticrec


@dataclass(frozen=True, eq=False)
class Shipped:
    package: bytes  # one device's package for the budget
    evaluation: dict  # every user's package through the runtime (Run.evaluate's record)
    export_seconds: float  # producing ``package`` from what is already trained
    retrain_seconds: float = 0.0  # training this budget needs of its own (retrained widths)
    train_seconds: float | None = None  # the one-off training it ships from
    info: dict = field(default_factory=dict)


class Context(Protocol):
    """What an entry may ask of the runner (which trains on first use and resumes)."""

    seeds: tuple[int, ...]

    def run(self, kind: str) -> elasticrec.Run: ...  # "full", "rule", "rule-plain", "peel"

    def uniform(self, width: int) -> elasticrec.Run: ...  # a full run retrained at width

    # a QR-MF run (item table quotient x remainder, m = buckets) retrained at width
    def qr(self, buckets: int, width: int) -> elasticrec.Run: ...

    # MF with mixed dimensions by popularity (models/mixed.py), one width per group
    def mixed(self, widths: tuple[int, ...]) -> elasticrec.Run: ...

    def train_seconds(self, kind: str) -> float: ...


Entry = Callable[[Context, int], Shipped]


def _timed_export(run: elasticrec.Run, budget: int, **kwargs) -> tuple[elasticrec.Exported,
                                                                         float]:
    t0 = time.perf_counter()
    got = run.export_detailed(budget, user=run.user_ids[0], **kwargs)
    return got, time.perf_counter() - t0


def rule(ctx: Context, budget: int) -> Shipped:
    """RULE: the estimator-guided search for this budget over the trained elastic blocks, in
    the score-preserving basis (``Run.export``'s default), values in the type that scores
    best on validation (``dtype="auto"``; its choice is part of the export time)."""
    return _elastic(ctx, "rule", budget)


def rule_plain(ctx: Context, budget: int) -> Shipped:
    """RULE whose run trained with the base model's own loss (``elastic_training="plain"``):
    the estimator and search cut each item group's leading blocks of the rotated plain model,
    a learned generalisation of giving popular items more width."""
    return _elastic(ctx, "rule-plain", budget)


def peel(ctx: Context, budget: int) -> Shipped:
    """PEEL: each user's group's refined table, its highest-weight blocks that fit, values in
    the type that scores best on validation (``dtype="auto"``)."""
    return _elastic(ctx, "peel", budget)


def _elastic(ctx: Context, kind: str, budget: int) -> Shipped:
    run = ctx.run(kind)
    got, seconds = _timed_export(run, budget, dtype="auto")
    return Shipped(got.data, run.evaluate(budget=budget, dtype="auto"), seconds,
                   train_seconds=ctx.train_seconds(kind),
                   info={"blocks": got.info["blocks"], "dtype": got.info["value_dtype"]
                         + ("-column" if got.info["scales"] == "column" else "")})


def dense(dtype: str, basis: str = "trained", scales: str = "row") -> Entry:
    """The full model's first W positions of every item, the widest W that fits, in
    ``dtype`` values (integers with ``scales``), in ``basis`` (``trained``: as trained;
    ``svd``: after the score-preserving rotation)."""

    def entry(ctx: Context, budget: int) -> Shipped:
        run = ctx.run("full")
        got, seconds = _timed_export(run, budget, dtype=dtype, basis=basis, scales=scales)
        return Shipped(got.data, run.evaluate(budget=budget, dtype=dtype, basis=basis,
                                              scales=scales),
                       seconds, train_seconds=ctx.train_seconds("full"),
                       info={"width": got.info["width"]})

    rotated = ", rotated by the score-preserving basis" if basis == "svd" else ""
    entry.__doc__ = (f"Dense prefix truncation of the full model, {dtype} values"
                     f"{' with column scales' if scales == 'column' else ''}{rotated}.")
    return entry


def popular(dtype: str, scales: str = "row") -> Entry:
    """The rotated full model with twice the width for the 25% most popular items (training
    events): two item groups, the longest prefix of positions that fits."""

    def entry(ctx: Context, budget: int) -> Shipped:
        run = ctx.run("full")
        t0 = time.perf_counter()
        counts = np.asarray(run.data().train.to_csr().sum(axis=0)).ravel()
        got = elasticrec.export_embeddings(run.embeddings, budget, user=0, dtype=dtype,
                                           popularity=counts, scales=scales)
        seconds = time.perf_counter() - t0
        bundle = elasticrec.export_embeddings(run.embeddings, budget, dtype=dtype,
                                              popularity=counts, scales=scales)
        return Shipped(got.data, run.evaluate(package=bundle.data), seconds,
                       train_seconds=ctx.train_seconds("full"),
                       info={"positions": got.info["positions"]})

    entry.__doc__ = (f"Rotated dense prefix, the 25% most popular items twice as wide, "
                     f"{dtype} values{' with column scales' if scales == 'column' else ''}.")
    return entry


def uniform_retrained(ctx: Context, budget: int) -> Shipped:
    """A model trained from scratch at the widest uniform width whose float32 package fits."""
    width = ctx.run("full").export_detailed(budget, user=ctx.run("full").user_ids[0]
                                            ).info["width"]
    run = ctx.uniform(width)
    got, seconds = _timed_export(run, budget)
    return Shipped(got.data, run.evaluate(budget=budget), seconds,
                   retrain_seconds=run.result["seconds"], info={"width": width})


def random_blocks(ctx: Context, budget: int) -> Shipped:
    """Random block sets of the RULE model within the budget: the mean over the seeds (in
    the trained basis: the rotated basis ships each item group's leading blocks, which
    would make the sets prefixes)."""
    run = ctx.run("rule")
    got, seconds = _timed_export(run, budget, strategy="random", seed=ctx.seeds[0],
                                 basis="trained")
    evals = [run.evaluate(budget=budget, strategy="random", seed=s, basis="trained")
             for s in ctx.seeds]
    metrics = [k for k in evals[0] if "@" in k]
    mean = {**evals[0], **{k: float(np.mean([e[k] for e in evals])) for k in metrics}}
    mean["device_bytes"] = max(e["device_bytes"] for e in evals)
    spread = {f"{k}_std": float(np.std([e[k] for e in evals])) for k in metrics}
    return Shipped(got.data, mean, seconds, train_seconds=ctx.train_seconds("rule"),
                   info={"seeds": len(ctx.seeds), **spread})


def most_popular(ctx: Context, budget: int) -> Shipped:
    """Every user gets the items most seen in training (their own left out): a package of
    one value per item (log popularity) and a user vector of 1, through the same runtime."""
    run = ctx.run("full")
    t0 = time.perf_counter()
    counts = np.asarray(run.data().train.to_csr().sum(axis=0)).ravel()
    emb = run.embeddings
    pop = replace(emb, user=np.ones((len(emb.user), 1), dtype=np.float32),
                  item=np.log1p(counts).astype(np.float32)[:, None], model="most-popular")
    package = elasticrec.export_embeddings(pop, budget, user=0).data
    seconds = time.perf_counter() - t0
    bundle = elasticrec.export_embeddings(pop, budget)
    return Shipped(package, run.evaluate(package=bundle.data), seconds, train_seconds=0.0,
                   info={"width": 1})


def pq(ctx: Context, budget: int) -> Shipped:
    """Product quantisation of the rotated full model's item table (faiss, extra ``pq``):
    the largest m dividing the width whose package fits, each item m uint8 codes, 256
    float16 centroids per sub-space, codebooks counted. The device's package is cut from
    the evaluated bundle, so both ship the same codebooks."""
    run = ctx.run("full")
    t0 = time.perf_counter()
    bundle = elasticrec.export_pq(run.embeddings, budget, dtype="float16", seed=ctx.seeds[0])
    every = elasticrec.runtime.load_bytes(bundle.data)
    package = every.for_user(every.users[0])
    seconds = time.perf_counter() - t0
    return Shipped(package, run.evaluate(package=bundle.data), seconds,
                   train_seconds=ctx.train_seconds("full"),
                   info={"m": bundle.info["m"], "codebooks": "float16"})


def qr_retrained(ctx: Context, budget: int) -> Shipped:
    """The quotient-remainder compositional embedding (Shi et al., KDD 2020), retrained per
    budget: MF whose item ``i`` is ``Q[i // m] * R[i % m]``, trained from scratch with the
    full model's recipe at the largest table whose float32 package fits
    (``elasticrec.qr_shape``: full width with the most rows, else ``m = ceil(sqrt(n))``
    narrowed); the package ships Q and R. MF only: LightGCN's propagated items are not
    products of two rows."""
    full = ctx.run("full")
    if full.model != "mf":
        raise elasticrec.ElasticrecError(f"qr-retrained compositional tables are MF's; the "
                                         f"base model is {full.model}")
    shape = elasticrec.qr_shape(full.embeddings, budget)
    run = ctx.qr(shape.buckets, shape.width)
    t0 = time.perf_counter()
    package = elasticrec.export_qr(run, budget, user=run.user_ids[0]).data
    seconds = time.perf_counter() - t0
    bundle = elasticrec.export_qr(run, budget).data
    return Shipped(package, run.evaluate(package=bundle), seconds,
                   retrain_seconds=run.result["seconds"],
                   info={"m": shape.buckets, "quotient_rows": shape.quotient_rows,
                         "width": shape.width})


def mixed_dim_retrained(ctx: Context, budget: int) -> Shipped:
    """Mixed dimensions by popularity (Ginart et al., ISIT 2021), retrained per budget: MF
    whose items fall into four equal groups by training events, group ``g`` trained at width
    ``lambda * p_g ** 0.3`` (``p_g`` its events per item), for the largest ``lambda`` whose
    float32 ragged package fits; rows are prefixes of one width (models/mixed.py). MF only,
    as in the paper."""
    full = ctx.run("full")
    if full.model != "mf":
        raise elasticrec.ElasticrecError(f"mixed-dim-retrained trains MF's own rows; the base "
                                         f"model is {full.model}")
    counts = np.asarray(full.data().train.to_csr().sum(axis=0)).ravel()
    widths = elasticrec.mixed_shape(full.embeddings, counts, budget)
    run = ctx.mixed(widths)
    got, seconds = _timed_export(run, budget)
    return Shipped(got.data, run.evaluate(budget=budget), seconds,
                   retrain_seconds=run.result["seconds"], info={"widths": list(widths)})


METHODS: dict[str, Entry] = {"rule": rule, "peel": peel, "rule-plain": rule_plain}
BASELINES: dict[str, Entry] = {
    "dense-float32": dense("float32"),
    "dense-int8": dense("int8"),
    "dense-int4": dense("int4"),
    "dense-svd-float32": dense("float32", "svd"),
    "dense-svd-int8": dense("int8", "svd"),
    "dense-svd-int4": dense("int4", "svd"),
    "dense-svd-int4-column": dense("int4", "svd", "column"),
    "popular-svd-float32": popular("float32"),
    "popular-svd-int4": popular("int4"),
    "popular-svd-int4-column": popular("int4", "column"),
    "uniform-retrained": uniform_retrained,
    "random-blocks": random_blocks,
    "most-popular": most_popular,
    "pq": pq,
    "qr-retrained": qr_retrained,
    "mixed-dim-retrained": mixed_dim_retrained,
}
# what a practitioner gets from the full model without training again (issue 13's bar)
TRAINING_FREE = frozenset(name for name in BASELINES if not name.endswith("-retrained"))
