"""Scaling out: training throughput with 1 and 2 processes, all-reduce cost, and a model.

``run`` launches, for each dataset and model, one process (``worker``) and two processes
(torchrun), one thread each, that train the same epochs with the same total batch, and
measures (with the machine's load average, since its cores are shared):

* ``throughput``: seconds of the epoch, steps and triples per second;
* ``components`` (1 process): per step, the batch part (forward and backward) at the batch
  and at half of it, which splits it into a part per triple (what ranks share out) and a fixed
  part (what every rank repeats: LightGCN's propagation over the whole graph, the dense
  gradient of the table), and the table part (the optimiser's update of every row);
* ``allreduce`` (2 processes): seconds of one all-reduce of a float32 buffer, over sizes up
  to the table's gradient, from which latency and bandwidth are fitted;
* ``quality``: ``elasticrec train`` to the end with 1 and 2 processes, its test metrics;
* ``tolerance``: on the small block-structured data of the 2-process test, the loss curves and
  NDCG@20 of 3 seeds of 1 process, of 2 processes, and of 1 process at half the batch: the
  figures the test's tolerances are set from.

Everything is written to ``docs/results/scaling.json``; ``table`` generates
``docs/results/scaling.md`` from it, with the communication model evaluated on the fitted
figures (docs/distributed.md explains the model).

    python -m benchmarks.scaling run --dataset ml-100k gowalla --model mf lightgcn
    python -m benchmarks.scaling table
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import elasticrec
from benchmarks import results
from elasticrec import DistContext, from_environment, process_group, write_text

OUT = results.RESULTS_DIR / "scaling.json"
TABLE = results.RESULTS_DIR / "scaling.md"
ROOT = Path(__file__).resolve().parents[1]
KEY = ("benchmark", "dataset", "model", "world_size", "batch_size", "bytes", "seed")
ALLREDUCE_SIZES = tuple(4**k * 1024 for k in range(8))  # 1 KiB .. 16 MiB, then the table's


def data_dir(args: argparse.Namespace) -> Path:
    return elasticrec.resolve_data_dir(args.data_dir, os.environ.get("ELASTICREC_DATA"),
                            os.environ.get("XDG_CACHE_HOME"))


# ---- the worker: one process of a measurement ------------------------------------------------

def cmd_worker(args: argparse.Namespace) -> None:
    ctx = from_environment(os.environ)
    with process_group(ctx):
        records = measure(ctx, args)
    if ctx.is_writer:
        Path(args.out).write_text(json.dumps(records))


def measure(ctx: DistContext, args: argparse.Namespace) -> list[dict]:
    options = dict(model=args.model, dim=args.dim, data_dir=data_dir(args), download=False)
    common = {"model": args.model, "world_size": ctx.world_size,
              "batch_size": args.batch_size, "dim": args.dim,
              "threads": torch.get_num_threads(), "load_average": round(os.getloadavg()[0], 1)}
    out = []
    if not ctx.is_distributed:
        full, half = elasticrec.profile_steps(
            args.dataset, batch_sizes=(args.batch_size, args.batch_size // 2), **options)
        out.append({"benchmark": "components", **common, "rows": full["rows"],
                    "batch_seconds": full["batch_seconds"],
                    "table_seconds": full["table_seconds"],
                    "half_batch_seconds": half["batch_seconds"]})
    with tempfile.TemporaryDirectory() as tmp:
        run = elasticrec.fit(args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                             eval_every=0, out=Path(tmp) / "run", distributed=ctx,
                             progress=False, log=lambda _m: None, **options)
        summary = None
        if run is not None:  # rank 0
            users, items = run.embeddings.user.shape[0], run.embeddings.item.shape[0]
            summary = {"dataset": run.result["dataset"], "rows": users + items,
                       "triples": len(run.data(data_dir=options["data_dir"]).train),
                       "seconds": min(h["train_seconds"] for h in run.history)}  # fastest
        summary = broadcast(ctx, summary)
    for rec in out:
        rec["dataset"] = summary["dataset"]
    common.update(dataset=summary["dataset"], rows=summary["rows"])
    seconds = summary["seconds"]
    steps = -(-summary["triples"] // args.batch_size)
    out.append({"benchmark": "throughput", **common, "epoch_seconds": seconds, "steps": steps,
                "steps_per_second": steps / seconds,
                "triples_per_second": summary["triples"] / seconds})
    if ctx.is_distributed:
        table_bytes = 4 * summary["rows"] * args.dim
        for size in (*ALLREDUCE_SIZES, table_bytes):
            out.append({"benchmark": "allreduce", **common, "bytes": size,
                        "seconds": allreduce_seconds(ctx, size)})
    return out


def broadcast(ctx: DistContext, value):
    """Rank 0's ``value`` on every rank."""
    if not ctx.is_distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def allreduce_seconds(ctx: DistContext, n_bytes: int, reps: int = 7) -> float:
    """Median seconds of one all-reduce of ``n_bytes`` of float32 over the job's ranks."""
    import torch.distributed as dist

    t = torch.ones(n_bytes // 4)
    times = []
    for _ in range(reps + 2):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t)
        times.append(time.perf_counter() - t0)
    gathered = [None] * ctx.world_size
    dist.all_gather_object(gathered, float(np.median(times[2:])))
    return float(np.median(gathered))


# ---- the driver --------------------------------------------------------------------------------

def child_env(threads: int) -> dict:
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "OMP_NUM_THREADS": str(threads),
            "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def launch(world: int, module_args: list[str], timeout: float) -> None:
    """``python -m MODULE_ARGS`` on ``world`` processes of one thread each: PyTorch's OpenMP
    threads stall on shared cores (docs/methods.md, threads), so a process is one core."""
    prefix = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(world)] if world > 1 else [sys.executable])
    proc = subprocess.run([*prefix, "-m", *module_args], cwd=ROOT, env=child_env(1),
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(module_args[:3])} on {world} process(es) failed:\n"
                           f"{proc.stderr[-3000:]}")


def cmd_run(args: argparse.Namespace) -> None:
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.dataset:
            for model, batch, world in itertools.product(args.model, args.batch_size, (1, 2)):
                out = Path(tmp) / f"{dataset}-{model}-{batch}-{world}.json"
                worker = ["benchmarks.scaling", "worker", "--dataset", dataset, "--model",
                          model, "--dim", str(args.dim), "--batch-size", str(batch),
                          "--epochs", str(args.epochs), "--out", str(out)]
                if args.data_dir:
                    worker += ["--data-dir", str(args.data_dir)]
                t0 = time.perf_counter()
                launch(world, worker, args.timeout)
                got = json.loads(out.read_text())
                if batch != args.batch_size[0]:  # components and link: once, at the first
                    got = [r for r in got if r["benchmark"] == "throughput"]
                print(f"{dataset} {model} B={batch} x{world}: {time.perf_counter() - t0:.0f}s, "
                      f"{[r for r in got if r['benchmark'] == 'throughput']}", file=sys.stderr)
                records += got
        for dataset in args.quality:
            for world in (1, 2):
                records.append(quality(dataset, world, Path(tmp) / f"q-{dataset}-{world}",
                                       args))
        if args.tolerance:
            records += tolerance(Path(tmp), args.timeout)
    stamp = results.provenance()
    results.upsert(OUT, [{**r, **stamp} for r in records], KEY)
    write_text(TABLE, render(results.load(OUT)))


def quality(dataset: str, world: int, run_dir: Path, args: argparse.Namespace) -> dict:
    """`elasticrec train` to the end on ``world`` processes: its test metrics and time."""
    cli = ["elasticrec", "train", "--dataset", dataset, "--model", "mf", "--out", str(run_dir),
           "--epochs", str(args.quality_epochs), "--batch-size", str(args.batch_size[0]),
           "--lr", "0.005", "--dim", str(args.dim), "--eval-every", "0", "--no-download"]
    if args.data_dir:
        cli += ["--data-dir", str(args.data_dir)]
    t0 = time.perf_counter()
    launch(world, cli, args.timeout)
    r = json.loads((run_dir / "result.json").read_text())
    print(f"quality {dataset} x{world}: recall@20 {r['recall@20']:.4f}", file=sys.stderr)
    return {"benchmark": "quality", "dataset": r["dataset"], "model": "mf",
            "world_size": world, "batch_size": args.batch_size[0], "dim": args.dim,
            "epochs": r["epochs"], "recall@20": r["recall@20"], "ndcg@20": r["ndcg@20"],
            "train_seconds": r["seconds"], "wall_seconds": time.perf_counter() - t0,
            "load_average": round(os.getloadavg()[0], 1)}


TOLERANCE_RUNS = ((0, 1, 64), (1, 1, 64), (2, 1, 64), (0, 2, 64), (0, 1, 32))  # seed, W, B


def tolerance(tmp: Path, timeout: float) -> list[dict]:
    """The runs of ``tests/train/test_distributed_processes.py``: 200 users in 4 blocks of 25
    items, 12 events each; BPR-MF, 8-d, lr 0.01, 12 epochs, validation every 3."""
    rng = np.random.default_rng(0)
    lines = ["user,item"]
    for u in range(200):
        lines += [f"u{u},item{(u % 4) * 25 + i}" for i in rng.choice(25, 12, replace=False)]
    csv = tmp / "blocks.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = []
    for seed, world, batch in TOLERANCE_RUNS:
        run = tmp / f"tol-{seed}-{world}-{batch}"
        launch(world, ["elasticrec", "train", "--dataset", str(csv), "--model", "mf", "--out",
                       str(run), "--dim", "8", "--lr", "0.01", "--batch-size", str(batch),
                       "--epochs", "12", "--valid-ratio", "0.1", "--eval-every", "3",
                       "--patience", "0", "--seed", str(seed)], timeout)
        result = json.loads((run / "result.json").read_text())
        loss = [json.loads(line)["loss"] for line in
                (run / "metrics.jsonl").read_text().splitlines()]
        out.append({"benchmark": "tolerance", "dataset": "blocks", "model": "mf",
                    "world_size": world, "batch_size": batch, "seed": seed,
                    "ndcg@20": result["ndcg@20"], "recall@20": result["recall@20"],
                    "loss": loss})
    return out


def tolerance_lines(records: list[dict]) -> list[str]:
    def of(seed, world, batch):
        return next(r for r in records if (r["seed"], r["world_size"], r["batch_size"]) ==
                    (seed, world, batch))

    def gap(a, b):
        return (float(np.abs(np.subtract(a["loss"], b["loss"])).max()),
                abs(a["ndcg@20"] - b["ndcg@20"]))

    ones = [of(s, 1, 64) for s in (0, 1, 2)]
    seeds = [gap(a, b) for i, a in enumerate(ones) for b in ones[i + 1 :]]
    rows = [{"compared with 1 process, seed 0, batch 64": "1 process, seeds 1 and 2 (spread)",
             "max epoch loss gap": max(g[0] for g in seeds),
             "ndcg@20 gap": max(g[1] for g in seeds)}]
    for label, other in (("2 processes, total batch 64", of(0, 2, 64)),
                         ("1 process, batch 32 (half)", of(0, 1, 32))):
        loss_gap, ndcg_gap = gap(other, ones[0])
        rows.append({"compared with 1 process, seed 0, batch 64": label,
                     "max epoch loss gap": loss_gap, "ndcg@20 gap": ndcg_gap})
    return ["## Tolerance: 2 processes against 1 with the same total batch", "",
            "The data and runs of the 2-process test (`tests/train/"
            "test_distributed_processes.py`), whose tolerances are set above the spread of "
            "seeds and below the effect of halving the batch.", "",
            results.markdown_table(rows, ["compared with 1 process, seed 0, batch 64",
                                          "max epoch loss gap", "ndcg@20 gap"]), ""]


# ---- the model and the tables ------------------------------------------------------------------

def split_batch_part(c: dict) -> tuple[float, float]:
    """(fixed seconds, seconds per triple) of the batch part, from the batch and its half."""
    per_triple = max(c["batch_seconds"] - c["half_batch_seconds"], 0.0) / (c["batch_size"] / 2)
    return max(c["batch_seconds"] - per_triple * c["batch_size"], 0.0), per_triple


def fit_link(allreduce: list[dict]) -> tuple[float, float]:
    """Latency (s) and bandwidth (bytes/s) of ``t = alpha + 2 (W-1)/W * bytes / beta``,
    least squares over the all-reduce records of one world size."""
    w = allreduce[0]["world_size"]
    x = np.array([2 * (w - 1) / w * r["bytes"] for r in allreduce], dtype=np.float64)
    y = np.array([r["seconds"] for r in allreduce])
    slope, alpha = np.polyfit(x, y, 1)
    return float(max(alpha, 0.0)), float(1.0 / slope)


def comm_seconds(rows: int, dim: int, world: int, alpha: float, beta: float) -> float:
    """One ring all-reduce of the table's float32 gradient on ``world`` ranks."""
    return alpha + 2 * (world - 1) / world * 4 * rows * dim / beta if world > 1 else 0.0


def predicted_step(c: dict, batch: int, world: int, alpha: float, beta: float) -> float:
    """The model's seconds per step: fixed + per triple * batch / W + table + all-reduce."""
    fixed, per_triple = split_batch_part(c)
    return (fixed + per_triple * batch / world + c["table_seconds"]
            + comm_seconds(c["rows"], c["dim"], world, alpha, beta))


def render(records: list[dict]) -> str:
    by = {k: [r for r in records if r["benchmark"] == k]
          for k in ("throughput", "components", "allreduce", "quality", "tolerance")}
    lines = ["# Scaling out: 1 and 2 processes on one machine", "",
             "Generated by `python -m benchmarks.scaling table` from `scaling.json` "
             "(measured by `python -m benchmarks.scaling run`). The model and its "
             "assumptions: [docs/distributed.md](../distributed.md).", "",
             results.measured(records), ""]
    alpha = beta = None
    if by["allreduce"]:
        alpha, beta = fit_link(by["allreduce"])
        lines += ["## All-reduce (gloo, 2 processes, loopback)", "",
                  results.markdown_table([{**r, "MiB": r["bytes"] / 2**20,
                                           "ms": 1e3 * r["seconds"],
                                           "MB/s": r["bytes"] / r["seconds"] / 1e6}
                                          for r in sorted(by["allreduce"],
                                                          key=lambda r: r["bytes"])],
                                         ["MiB", "ms", "MB/s", "dataset", "model",
                                          "load_average"]), "",
                  f"Fitted: latency alpha = {1e3 * alpha:.3f} ms, bandwidth beta = "
                  f"{beta / 1e6:.0f} MB/s (t = alpha + 2(W-1)/W * bytes / beta).", ""]
    rows = []
    for t in by["throughput"]:
        one = next((o for o in by["throughput"] if o["world_size"] == 1
                    and (o["dataset"], o["model"], o["batch_size"]) ==
                    (t["dataset"], t["model"], t["batch_size"])), None)
        comp = next((c for c in by["components"] if (c["dataset"], c["model"]) ==
                     (t["dataset"], t["model"])), None)
        row = {**t, "ms/step": 1e3 * t["epoch_seconds"] / t["steps"],
               "table MiB": 4 * t["rows"] * t["dim"] / 2**20,
               "speed-up": one["epoch_seconds"] / t["epoch_seconds"] if one else None}
        if comp and alpha is not None:
            row["model ms/step"] = 1e3 * predicted_step(comp, t["batch_size"], t["world_size"],
                                                        alpha, beta)
        rows.append(row)
    if rows:
        lines += ["## Throughput (one epoch, the same total batch)", "",
                  results.markdown_table(rows, [
                      "dataset", "model", "world_size", "batch_size", "rows", "table MiB",
                      "steps", "ms/step", "model ms/step", "triples_per_second", "speed-up",
                      "load_average"]), "",
                  "One thread per process. `speed-up`: epoch time of 1 process over that of W "
                  "at the same batch. `model ms/step`: fixed part + per-triple part x B / W + "
                  "table part + all-reduce of the table's gradient, from the 1-process "
                  "components below and the fitted link. `load_average`: the machine's "
                  "1-minute load when measured (2 cores shared with other work: a rank that "
                  "is descheduled stalls every rank at the next all-reduce).", ""]
    if by["components"]:
        comp_rows = []
        for c in by["components"]:
            fixed, per_triple = split_batch_part(c)
            comp_rows.append({**c, "batch ms": 1e3 * c["batch_seconds"],
                              "half-batch ms": 1e3 * c["half_batch_seconds"],
                              "fixed ms": 1e3 * fixed, "us/triple": 1e6 * per_triple,
                              "table ms": 1e3 * c["table_seconds"]})
        lines += ["## One process, per step: what splits over ranks and what does not", "",
                  results.markdown_table(comp_rows, [
                      "dataset", "model", "batch_size", "rows", "dim", "batch ms",
                      "half-batch ms", "fixed ms", "us/triple", "table ms"]), "",
                  "Batch part: forward and backward, at the batch and at half of it; their "
                  "difference gives the part per triple (which ranks share out) and the fixed "
                  "part (which every rank repeats: LightGCN's propagation over the whole graph, "
                  "the table's dense gradient). Table part: the optimiser's update of every "
                  "row, which every rank repeats too.", ""]
        if alpha is not None:
            lines += break_even(by["components"], alpha, beta)
    if by["quality"]:
        lines += ["## Quality: `elasticrec train` with 1 and 2 processes", "",
                  results.markdown_table(by["quality"], [
                      "dataset", "model", "world_size", "batch_size", "epochs", "recall@20",
                      "ndcg@20", "train_seconds"]), ""]
    if len(by["tolerance"]) == len(TOLERANCE_RUNS):
        lines += tolerance_lines(by["tolerance"])
    return "\n".join(lines).rstrip() + "\n"


def break_even(components: list[dict], alpha: float, beta: float) -> list[str]:
    """Where 2 ranks stop paying: the batch part they halve against the all-reduce they add."""
    out = ["## Where it stops paying (the model at W = 2)", "",
           "A second rank saves half the per-triple part of the batch and adds one all-reduce "
           "of the table's gradient: it pays when per_triple x B / 2 > alpha + 4 R d / beta, "
           "i.e. from the break-even batch B* = 2 (alpha + 4 R d / beta) / per_triple. The "
           "fixed and table parts are repeated by every rank: per step they cost the same "
           "on 1 and 2 ranks, so they only dilute the saving.", ""]
    rows = []
    for c in components:
        per_triple = split_batch_part(c)[1]
        comm = comm_seconds(c["rows"], c["dim"], 2, alpha, beta)
        saved = per_triple * c["batch_size"] / 2
        rows.append({**c, "saved ms": 1e3 * saved, "added ms": 1e3 * comm,
                     "pays": "yes" if saved > comm else "no",
                     "break-even batch": int(np.ceil(2 * comm / per_triple))
                     if per_triple > 0 else None,
                     "model speed-up at B=16384": predicted_step(c, 16384, 1, alpha, beta)
                     / predicted_step(c, 16384, 2, alpha, beta)})
    out += [results.markdown_table(rows, [
                "dataset", "model", "batch_size", "rows", "saved ms", "added ms", "pays",
                "break-even batch", "model speed-up at B=16384"]), ""]
    return out


def cmd_table(_args: argparse.Namespace) -> None:
    write_text(TABLE, render(results.load(OUT)))
    print(TABLE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "worker"):
        p = sub.add_parser(name)
        p.add_argument("--data-dir", type=Path, default=None)
        p.add_argument("--dim", type=int, default=64)
        p.add_argument("--epochs", type=int, default=2, help="epochs timed (the fastest counts)")
    run = sub.choices["run"]
    run.add_argument("--batch-size", type=int, nargs="+", default=[2048, 16384])
    run.add_argument("--dataset", nargs="+", default=["ml-100k", "gowalla"])
    run.add_argument("--model", nargs="+", default=["mf", "lightgcn"])
    run.add_argument("--quality", nargs="*", default=["ml-100k"],
                     help="datasets trained to the end with 1 and 2 processes")
    run.add_argument("--quality-epochs", type=int, default=40)
    run.add_argument("--no-tolerance", action="store_false", dest="tolerance",
                     help="skip the runs on the 2-process test's data")
    run.add_argument("--timeout", type=float, default=1800)
    run.set_defaults(run=cmd_run)
    worker = sub.choices["worker"]
    worker.add_argument("--batch-size", type=int, default=2048)
    worker.add_argument("--dataset", required=True)
    worker.add_argument("--model", required=True)
    worker.add_argument("--out", required=True)
    worker.set_defaults(run=cmd_worker)
    sub.add_parser("table").set_defaults(run=cmd_table)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
