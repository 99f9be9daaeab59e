"""``run_bench``: a suite as resumable units, each package checked against its budget on the
file, records in ``OUT/SUITE.json``, tables and plots beside them.

A unit is one training (a full, RULE or PEEL run, a uniform width retrained) or one package
evaluation (a method or baseline at a budget, or a stream). Each finished unit's record is
written at once (atomically), so an interrupted run loses at most the unit in progress;
``resume=True`` skips every unit with a record (and reuses every complete run folder under
``OUT/runs``). A package larger than its budget stops the run with ``BudgetViolation`` naming
the record: no figure in a report comes from a package that did not fit.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import elasticrec
from elasticrec import ElasticrecError, locked, runtime
from elasticrec.bench.baselines import BASELINES, METHODS, TRAINING_FREE, Shipped
from elasticrec.bench.provenance import code_commit, provenance
from elasticrec.bench.report import write_report
from elasticrec.bench.suites import BenchData, BenchSuite, suite_named

Log = Callable[[str], None]


class BudgetViolation(ElasticrecError):
    """A package over its budget: the run stops, naming the record."""


@dataclass(frozen=True)
class Unit:
    key: tuple  # (kind, dataset, model, method, budget)
    do: Callable[[], dict | None]

    @property
    def name(self) -> str:
        return "/".join(str(k) for k in self.key if k not in (None, "-"))


def run_bench(suite: str | BenchSuite = "quick", *, out: str | Path = "bench",
              work: str | Path | None = None, resume: bool = False,
              data_dir: str | Path | None = None, download: bool = True,
              only: Sequence[str] = (), rerun: Sequence[str] = (), progress: bool = True,
              log: Log | None = None) -> list[dict]:
    """Run a benchmark suite (``"quick"``, ``"full"`` or a ``BenchSuite``) into ``out``:
    ``SUITE.json`` (every record, with date, machine and commit), ``SUITE.md`` (one table
    per dataset and base model, published references apart) and ``SUITE-DATASET-MODEL.png``
    (quality against budget, log axis). Run folders, streams and the checked device
    packages go under ``work`` (default ``out/work``). ``only``: run just the units of these
    ``DATASET`` or ``DATASET/MODEL`` names (e.g. ``"gowalla/mf"``: a long suite in parts);
    ``rerun``: measure the units of these methods or baselines again although they have
    records (e.g. ``("rule",)`` after a change to RULE's selection; a complete run folder is
    reused, not retrained); the report covers every record in ``SUITE.json``. Returns the
    records.

    >>> elasticrec.run_bench("quick", out="bench", resume=True)  # doctest: +SKIP
    """
    suite = suite_named(suite)
    out = Path(out)
    path = out / f"{suite.name}.json"
    if path.exists() and not resume:
        raise ElasticrecError(f"{path} exists: continue it with resume=True (--resume) or "
                              "choose another out")
    unknown = sorted(set(suite.baselines or ()) - set(BASELINES))
    if unknown:
        raise ElasticrecError(f"suite {suite.name!r}: unknown baseline {unknown[0]!r}; known: "
                              f"{sorted(BASELINES)}")
    say = log or print
    work = out / "work" if work is None else Path(work)
    book = Book(path, suite.name, resume)
    units: list[Unit] = []
    for data in suite.datasets:
        for model in data.models:
            units += Models(suite, data, model, work, book, data_dir, download, say).units()
    for data in (*suite.datasets, *suite.stream_only):
        units += [stream_unit(data, method, budget, options, work, data_dir, download, say)
                  for method, budget, options in data.streams]
    units = _only(units, only, suite.name)
    known = {u.key[3] for u in units}
    unknown = sorted(set(rerun) - known)
    if unknown:
        raise ElasticrecError(f"rerun {unknown[0]!r}: no unit of that method in suite "
                              f"{suite.name!r}{' (--only)' if only else ''}; known: "
                              f"{', '.join(sorted(known))}")
    done = book.done
    todo = [u for u in units if u.key not in done or u.key[3] in rerun]
    say(f"bench {suite.name}: {len(units)} units, {len(units) - len(todo)} already done"
        + (f", {len(todo)} to run ({', '.join(rerun)} again)" if rerun else ""))
    bar = _progress(todo, progress)
    for unit in bar:
        if hasattr(bar, "set_description"):
            bar.set_description(unit.name[:40])
        record = unit.do()
        if record is not None:
            book.add(unit.key, record)
    write_report(book.records, suite, out)
    return book.records


class Book:
    """The suite's records on disk, written after every unit."""

    def __init__(self, path: Path, suite: str, resume: bool) -> None:
        self.path, self.suite = path, suite
        self.commit = code_commit()
        self.records: list[dict] = self._read() if resume else []

    @property
    def done(self) -> set[tuple]:
        return {tuple(r["unit"]) for r in self.records}

    def add(self, key: tuple, record: dict) -> None:
        """Write ``record`` into the file, merged with what is there under a lock, so that
        parts of one suite (``only``) may run side by side into the same ``out``."""
        record = {**record, "unit": list(key), "suite": self.suite,
                  **provenance(self.commit)}
        with locked(self.path):
            self.records = [r for r in self._read() if tuple(r["unit"]) != key] + [record]
            elasticrec.write_text(self.path, json.dumps(
                {"records": self.records}, indent=2, sort_keys=True, allow_nan=False) + "\n")

    def _read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return json.loads(self.path.read_text(encoding="utf-8"))["records"]

    def get(self, key: tuple) -> dict | None:
        return next((r for r in self.records if tuple(r["unit"]) == key), None)


class Models:
    """One dataset and base model: its runs (trained on first use, reused when complete)
    and its units."""

    def __init__(self, suite: BenchSuite, data: BenchData, model: str, work: Path,
                 book: Book, data_dir, download: bool, log: Log) -> None:
        self.suite, self.data, self.model, self.book = suite, data, model, book
        self.runs = work / "runs" / data.label / model
        self.packages = work / "packages" / data.label / model
        self.where = {"data_dir": data_dir, "download": download}
        self.log = log
        self.seeds = suite.random_seeds
        self._runs: dict[str, elasticrec.Run] = {}

    # --- the Context the entries use -----------------------------------------------------
    def run(self, kind: str) -> elasticrec.Run:
        if kind not in self._runs:
            self._runs[kind] = self._trained(kind)
        return self._runs[kind]

    def uniform(self, width: int) -> elasticrec.Run:
        return self.run(f"uniform-{width}")

    def qr(self, buckets: int, width: int) -> elasticrec.Run:
        return self.run(f"qr-{buckets}-{width}")

    def mixed(self, widths: tuple[int, ...]) -> elasticrec.Run:
        return self.run("md-" + "-".join(str(w) for w in widths))

    def train_seconds(self, kind: str) -> float:
        record = self.book.get(("train", self.data.label, self.model, kind, "-"))
        return record["train_seconds"] if record else float("nan")

    # --- units ---------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        label, model = self.data.label, self.model
        out = [Unit(("train", label, model, kind, "-"), lambda k=kind: self._train_unit(k))
               for kind in ("full", *METHODS)]  # each method's run: "rule", "peel"...
        out.append(Unit(("package", label, model, "full-model", "full"), self._full_model))
        retrains = self.data.retrained is None or model in self.data.retrained
        names = list(METHODS) + [b for b in BASELINES
                                 if (self.suite.baselines is None or b in self.suite.baselines)
                                 and (retrains or b in TRAINING_FREE)]
        for budget in self.suite.budgets:
            out += [Unit(("package", label, model, name, budget),
                         lambda n=name, b=budget: self._package_unit(n, b)) for name in names]
        return out

    def _train_unit(self, kind: str) -> dict:
        run = self.run(kind)
        return self._train_record(kind, run)

    def _train_record(self, kind: str, run: elasticrec.Run) -> dict:
        seconds, quality = run.result["seconds"], run.result
        if kind == "peel":  # the RULE training it refines, then the refinement; PEEL's
            # quality with every block, each user by their group's tables
            seconds = self.run("rule").result["seconds"] + run.result["peel_report"]["seconds"]
            quality = run.result["personalised"]
        return {"kind": "train", "dataset": self.data.label, "model": self.model,
                "method": kind, "train_seconds": seconds, "dim": run.embeddings.item.shape[1],
                "epochs": run.result.get("epochs"), "recall@20": quality.get("recall@20"),
                "ndcg@20": quality.get("ndcg@20")}

    def _trained(self, kind: str) -> elasticrec.Run:
        folder = self.runs / kind
        if (folder / "run.json").is_file():
            run = elasticrec.load_run(folder, verify=False)
            run.data(**self.where)
            return run
        # an interrupted training continues from its last epoch's checkpoint; one that
        # stopped before its first (or PEEL's refinement, which keeps none) starts again
        resume = kind != "peel" and elasticrec.resumable(folder)
        if folder.exists() and not resume:
            shutil.rmtree(folder)
        recipe = dict(self.data.recipes[self.model])
        fit = dict(model=self.model, out=folder, progress=False, log=self._quiet,
                   resume=resume, **self.where)
        self.log(f"{'resuming' if resume else 'training'} {self.data.label} {self.model} {kind}")
        if kind == "peel":
            run = self.run("rule").personalise(out=folder, log=self._quiet, **self.data.peel)
        elif kind in ("rule", "rule-plain"):  # plain: the base model's own loss
            if kind == "rule-plain":
                recipe["elastic_training"] = "plain"
            run = elasticrec.fit(self.data.data, method="rule", **fit, **recipe,
                                 **self.data.rule)
        elif kind.startswith("uniform-"):
            recipe["dim"] = int(kind.removeprefix("uniform-"))
            run = elasticrec.fit(self.data.data, **fit, **recipe)
        elif kind.startswith("md-"):  # "md-W0-W1-...": mixed widths by popularity
            widths = tuple(int(w) for w in kind.removeprefix("md-").split("-"))
            recipe.update(dim=max(widths), item_widths=widths)
            run = elasticrec.fit(self.data.data, **fit, **recipe)
        elif kind.startswith("qr-"):  # "qr-M-W": M remainder rows at width W
            buckets, width = kind.removeprefix("qr-").split("-")
            recipe.update(dim=int(width), qr_buckets=int(buckets))
            run = elasticrec.fit(self.data.data, **fit, **recipe)
        else:
            run = elasticrec.fit(self.data.data, **fit, **recipe)
        key = ("train", self.data.label, self.model, kind, "-")
        self.book.add(key, self._train_record(kind, run))
        return run

    def _quiet(self, _message: str) -> None:
        pass

    def _full_model(self) -> dict:
        """The full model as a package: every position of every item (the reference)."""
        run = self.run("full")
        whole = run.full_table_bytes * 2 + 2**20
        package = run.export(whole, user=run.user_ids[0])
        bundle = run.export_bundle(whole)
        evaluation = run.evaluate(package=bundle)
        shipped = Shipped(package, evaluation, 0.0, train_seconds=self.train_seconds("full"))
        # its "budget" is its own size: the largest user's full-width package
        return self._record("full-model", "full", max(len(package),
                                                      evaluation["device_bytes"]), shipped)

    def _package_unit(self, name: str, budget: str) -> dict:
        entry = METHODS.get(name) or BASELINES[name]
        # a share is of the full model's float32 item table, for every entry alike
        budget_bytes = self.run("full").budget_bytes(budget)
        try:
            shipped = entry(self, budget_bytes)
        except ElasticrecError as exc:
            self.log(f"{self.data.label} {self.model} {name} {budget}: infeasible ({exc})")
            return {"kind": "package", "dataset": self.data.label, "model": self.model,
                    "method": name, "budget": budget, "budget_bytes": budget_bytes,
                    "infeasible": str(exc)}
        return self._record(name, budget, budget_bytes, shipped)

    def _record(self, name: str, budget: str, budget_bytes: int, shipped: Shipped) -> dict:
        ev = shipped.evaluation
        record = {"kind": "package", "dataset": self.data.label, "model": self.model,
                  "method": name, "budget": budget, "budget_bytes": budget_bytes,
                  "recall@20": ev["recall@20"], "ndcg@20": ev["ndcg@20"],
                  "n_test_users": ev["n_test_users"], "device_bytes": ev["device_bytes"],
                  "export_seconds": shipped.export_seconds,
                  "retrain_seconds": shipped.retrain_seconds,
                  "new_budget_seconds": shipped.export_seconds + shipped.retrain_seconds,
                  "train_seconds": shipped.train_seconds, **shipped.info}
        record["package_bytes"] = self._check_on_file(record, shipped.package)
        return record

    def _check_on_file(self, record: dict, package: bytes) -> int:
        """Write the device's package, load it with the runtime, and refuse it (stopping the
        run) when the file, or any user's package of the evaluated bundle, is over budget."""
        path = self.packages / f"{record['method']}-{record['budget'].replace('%', 'pct')}.erpkg"
        elasticrec.write_bytes(path, package)
        size = path.stat().st_size
        runtime.load(path)
        name = "/".join(str(record[k]) for k in ("dataset", "model", "method", "budget"))
        if size > record["budget_bytes"]:
            raise BudgetViolation(f"record {name}: {path} is {size:,} bytes, over its budget "
                                  f"of {record['budget_bytes']:,}")
        if record["device_bytes"] > record["budget_bytes"]:
            raise BudgetViolation(f"record {name}: a user's package in the evaluated bundle "
                                  f"is {record['device_bytes']:,} bytes, over its budget of "
                                  f"{record['budget_bytes']:,}")
        return size


def stream_unit(data: BenchData, method: str, budget: str, options: dict, work: Path,
                data_dir, download: bool, log: Log) -> Unit:
    """A stream under a budget (SCALL's setting): every segment's stored bytes checked."""
    key = ("stream", data.label, options.get("model", "lightgcn"), method, budget)

    def do() -> dict:
        folder = work / "streams" / data.label / f"{method}-{budget.replace('=', '')}"
        if (folder / "summary.json").is_file():
            s = elasticrec.load_stream(folder)
        else:
            if folder.exists():
                shutil.rmtree(folder)
            log(f"stream {data.label} {method} {budget}")
            t0 = time.perf_counter()
            s = elasticrec.stream(data.data, budget=budget, method=method, out=folder,
                                  data_dir=data_dir, download=download, log=lambda _m: None,
                                  **options)
            log(f"stream {data.label} {method} {budget}: {time.perf_counter() - t0:.0f} s")
        for seg in s.segments:
            if seg["package_bytes"] > seg["budget_bytes"]:
                raise BudgetViolation(
                    f"record stream/{data.label}/{method}/{budget}: segment "
                    f"{seg.get('segment')} stores {seg['package_bytes']:,} bytes, over its "
                    f"budget of {seg['budget_bytes']:,}")
        summary = s.summary
        return {"kind": "stream", "dataset": data.label, "model": key[2], "method": method,
                "budget": budget, "recall@20": summary.get("recall@20"),
                "ndcg@20": summary.get("ndcg@20"), "segments": len(s.segments),
                "within_budget": True, "train_seconds": summary.get("seconds"),
                "max_bytes_over_budget": max(seg["package_bytes"] / seg["budget_bytes"]
                                             for seg in s.segments)}

    return Unit(key, do)


def _only(units: list[Unit], only: Sequence[str], suite: str) -> list[Unit]:
    """The units of the ``DATASET`` or ``DATASET/MODEL`` names in ``only`` (all: none given)."""
    if isinstance(only, str):
        only = (only,)
    if not only:
        return units
    known = sorted({f"{u.key[1]}/{u.key[2]}" for u in units})
    for name in only:
        if not any(name in (k.split("/")[0], k) for k in known):
            raise ElasticrecError(f"only {name!r}: suite {suite!r} has no such dataset or "
                                  f"dataset/model; it has {known}")
    return [u for u in units if u.key[1] in only or f"{u.key[1]}/{u.key[2]}" in only]


def _progress(units: list[Unit], progress: bool):
    if not progress:
        return units
    from tqdm import tqdm

    return tqdm(units, unit="unit")
