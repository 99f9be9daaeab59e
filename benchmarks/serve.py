"""The package server under load: packages per second and latency at 1, 8 and 32 clients.

* ``train``: the PEEL run the load test serves, on a short schedule (MF, dim 64, 15 epochs at
  lr 0.005, labels on 16 block configurations, 8 user groups refined for one epoch): serving
  speed does not depend on how well the run was trained;
* ``run``: starts ``elasticrec serve RUN_DIR`` on 127.0.0.1 (loopback only), then for each
  concurrency sends a fixed number of ``GET /v1/package`` requests for users drawn at
  random (seeded) at one budget, each client on its own keep-alive connection; first with
  the server's cache of item parts, after a warm-up that fills it, then with ``--cache 0``
  (every package exported afresh) on fewer requests. It also times, in one process without
  HTTP, a cached and a fresh package build (``PackageService``). The clients share the
  machine's cores with the server: the figures are for the whole loopback system, and the
  load average before and after each measurement is recorded (the machine is shared).

Records go to ``docs/results/serve.json``; ``table`` (also run by ``run``) writes ``serve.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

import elasticrec
from benchmarks import results
from elasticrec.serve import PackageService

OUT = results.RESULTS_DIR / "serve.json"
KEY = ("benchmark", "dataset", "method", "budget", "cache", "clients")
ROOT = Path(__file__).resolve().parents[1]
PRINTED = ("cache", "clients", "requests", "packages_per_s", "p50_ms", "p99_ms",
           "server_cpu_ms", "client_cpu_ms", "load_before", "load_after", "server")
SCHEDULE = dict(model="mf", dim=64, epochs=15, lr=0.005, label_configs=16, n_clusters=8,
                peel_epochs=1, eval_every=0)


def train(args: argparse.Namespace) -> int:
    elasticrec.fit(args.dataset, method="peel", out=args.out, data_dir=args.data_dir,
                   download=False, **SCHEDULE)
    return 0


class Server:
    """``elasticrec serve`` in a child process on a port the kernel picks."""

    def __init__(self, run_dir: Path, cache: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "elasticrec", "serve", str(run_dir), "--port", "0",
             "--cache", str(cache)], stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"elasticrec serve did not start: {line}{self.proc.stderr.read()}")
        self.port = int(found.group(1))
        for _ in range(600):
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("elasticrec serve did not answer /healthz")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_test(port: int, paths: list[str], clients: int, server_pid: int) -> dict:
    """``paths`` fetched by ``clients`` threads (each its own keep-alive connection, taking
    the next path in turn): packages per second, latency percentiles, and the CPU time the
    server and the clients spent per package (which the machine's other load does not
    change much, unlike the wall-clock figures)."""
    latencies = np.zeros(len(paths))
    sizes = np.zeros(len(paths), dtype=np.int64)
    failures: list[str] = []
    cursor = iter(range(len(paths)))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            t0 = time.perf_counter()
            conn.request("GET", paths[i])
            resp = conn.getresponse()
            body = resp.read()
            latencies[i] = time.perf_counter() - t0
            sizes[i] = len(body)
            if resp.status != 200:
                failures.append(f"{resp.status} {body[:200]!r}")
        conn.close()

    load_before = os.getloadavg()[0]
    server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    server_cpu = cpu_seconds(server_pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    p50, p99 = np.percentile(latencies * 1e3, [50, 99])
    return {"clients": clients, "requests": len(paths), "seconds": wall,
            "packages_per_s": len(paths) / wall, "p50_ms": float(p50), "p99_ms": float(p99),
            "mean_package_bytes": int(sizes.mean()), "max_package_bytes": int(sizes.max()),
            "server_cpu_ms": server_cpu / len(paths) * 1e3,
            "client_cpu_ms": client_cpu / len(paths) * 1e3,
            "packages_per_server_cpu_s": len(paths) / max(server_cpu, 1e-9),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def in_process(run: elasticrec.Run, users: list[str], budget: str, repeats: int) -> dict:
    """Milliseconds per package built without HTTP: afresh, and from a cached item part."""
    fresh = PackageService(run, name="bench", cache_size=0)
    t0 = time.perf_counter()
    for user in users[:repeats]:
        fresh.for_user(user, budget)
    fresh_ms = (time.perf_counter() - t0) / repeats * 1e3
    cached = PackageService(run, name="bench", cache_size=10_000)
    for user in users:  # fill: one export per (group, id length)
        cached.for_user(user, budget)
    t0 = time.perf_counter()
    for user in users:
        cached.for_user(user, budget)
    cached_ms = (time.perf_counter() - t0) / len(users) * 1e3
    return {"fresh_ms": fresh_ms, "cached_ms": cached_ms, "speedup": fresh_ms / cached_ms,
            "cached_parts": cached.stats()["cached_parts"]}


def run_benchmark(args: argparse.Namespace) -> int:
    run = elasticrec.load_run(args.run_dir)
    if run.method != "peel":
        raise SystemExit(f"{args.run_dir}: a PEEL run is needed, not {run.method!r}")
    rng = np.random.default_rng(args.seed)
    all_users = [str(u) for u in run.user_ids.tolist()]
    cfg = run.config
    common = {"benchmark": "load", "dataset": cfg["data"]["dataset"], "method": run.method,
              "model": run.model, "budget": args.budget,
              "budget_bytes": run.budget_bytes(args.budget),
              "schedule": {"epochs": cfg["train"]["epochs"], "lr": cfg["train"]["lr"],
                           "dim": cfg["model"]["dim"], "n_clusters": cfg["peel"]["n_clusters"],
                           "peel_epochs": cfg["peel"]["epochs"],
                           "label_configs": cfg["elastic"]["label_configs"]},
              "recall@20": run.result.get("recall@20"), "command": args.command_line,
              **results.provenance()}
    query = lambda user: "/v1/package?" + urllib.parse.urlencode(  # noqa: E731
        {"user": user, "budget": args.budget})
    records = []
    for cache, n_requests in ((64, args.requests), (0, args.fresh_requests)):
        server = Server(args.run_dir, cache)
        try:
            if cache:  # warm-up: the 1,000 shortest ids (every id length), 400 random users
                warm = sorted(all_users, key=len)[:1000] + rng.choice(all_users, 400).tolist()
                load_test(server.port, [query(u) for u in warm], 8, server.proc.pid)
            for clients in args.clients:
                users = rng.choice(all_users, n_requests).tolist()
                record = {**common, "cache": cache,
                          **load_test(server.port, [query(u) for u in users], clients,
                                    server.proc.pid)}
                record["server"] = json.loads(server.get("/healthz")[1])
                print({k: record[k] for k in PRINTED}, flush=True)
                records.append(record)
        finally:
            server.stop()
    users = rng.choice(all_users, args.in_process_requests).tolist()
    records.append({**common, "benchmark": "in-process", "cache": "both", "clients": 1,
                    **in_process(run, users, args.budget, args.fresh_requests),
                    "requests": len(users)})
    print(records[-1], flush=True)
    merged = results.upsert(args.out, records, KEY)
    elasticrec.write_text(args.out.with_suffix(".md"), table(merged))
    return 0


def table(records: list[dict]) -> str:
    load = sorted((r for r in records if r["benchmark"] == "load"),
                  key=lambda r: (r["dataset"], r["budget"], -int(r["cache"]), r["clients"]))
    inproc = [r for r in records if r["benchmark"] == "in-process"]
    lines = [
        "# The package server under load",
        "",
        "Generated by `benchmarks/serve.py` from `serve.json`. `elasticrec serve` on "
        "127.0.0.1 serving one PEEL run; each client thread keeps one HTTP/1.1 connection "
        "and fetches `GET /v1/package?user=ID&budget=B` for users drawn at random; clients "
        "and server share the machine's cores. Cache 64: item parts kept by (user group, "
        "budget, dtype, id length), after a warm-up of 1,400 requests; cache 0: every package "
        "exported afresh by `Run.export`. Load: the 1-minute load average before and after "
        "(the machine is shared: with a load above its 2 cores, the wall-clock figures "
        "measure the share of the cores the test got). `server_cpu_ms`: CPU time of the "
        "server process per package (all its threads); `packages_per_server_cpu_s`: "
        "packages per second of server CPU, what one core given to the server alone would "
        "sustain; `client_cpu_ms`: the clients' CPU per package (they read every byte).",
        "",
        results.measured(records),
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in sorted({r.get("command", "")
                                                          for r in records} - {""})) + ".",
        "",
        results.markdown_table(load, ["dataset", "budget", "budget_bytes", "cache", "clients",
                                      "requests", "packages_per_s", "p50_ms", "p99_ms",
                                      "server_cpu_ms", "packages_per_server_cpu_s",
                                      "client_cpu_ms", "mean_package_bytes", "load_before",
                                      "load_after"]),
        "",
        "Building a package in one process, without HTTP (ms per package):",
        "",
        results.markdown_table(inproc, ["dataset", "budget", "fresh_ms", "cached_ms",
                                        "speedup", "cached_parts", "requests"]),
        "",
        "Schedules of the served runs (short: serving speed does not depend on quality): "
        + "; ".join(sorted({f"{r['dataset']}: " + ", ".join(
            f"{k} {v}" for k, v in r["schedule"].items()) + f"; test recall@20 "
            f"{r['recall@20']:.4f}" for r in records})) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train the PEEL run to serve (short schedule)")
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "serve" / "gowalla-peel")
    p.add_argument("--data-dir", type=Path, default=None)
    p.set_defaults(func=train)
    p = sub.add_parser("run", help="the load test")
    p.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "serve" / "gowalla-peel")
    p.add_argument("--budget", default="10%")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--requests", type=int, default=2000, help="per concurrency, cached")
    p.add_argument("--fresh-requests", type=int, default=96,
                   help="per concurrency, without the cache")
    p.add_argument("--in-process-requests", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    p.set_defaults(func=run_benchmark)
    p = sub.add_parser("table", help="write serve.md from serve.json")
    p.add_argument("--out", type=Path, default=OUT)
    p.set_defaults(func=lambda a: elasticrec.write_text(a.out.with_suffix(".md"),
                                                        table(results.load(a.out))) and 0)
    args = parser.parse_args(argv)
    args.command_line = "python -m benchmarks.serve " + " ".join(
        sys.argv[1:] if argv is None else argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
