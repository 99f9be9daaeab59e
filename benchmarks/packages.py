"""Device packages on gowalla's shape: size, load time, top-20 latency, peak memory.

For each value dtype and budget, a single-user package is built with the dense baseline (the
widest width that fits), written, and measured. Budgets are ``full`` (the size of the
full-width package in that dtype: the whole model) or shares of the full float32 item table
(``n_items * 64 * 4`` bytes; 100% of it leaves no room for the header, so the width would be
63):

- ``load_seconds``: median of 5 ``runtime.load`` calls (memory map, SHA-256, every check);
- ``p50_ms`` / ``p99_ms``: ``Package.recommend(20, exclude=history)`` over ``--requests``
  requests, NumPy as installed (threads as they are; one user scores with a single-threaded
  loop); histories are gowalla users' training items when ``train.txt`` is found, else random;
- ``onnx_p50_ms`` / ``onnx_p99_ms``: the same requests through the exported ONNX model in
  onnxruntime with ``intra_op_num_threads = 1``;
- ``peak_rss_bytes``: the peak resident memory (``VmHWM``) of a fresh process that only loads
  the package and recommends once, beside ``baseline_rss_bytes`` of one that only imports the
  runtime. ``VmHWM`` rather than ``ru_maxrss``: Linux carries a parent's high-water mark into
  a child's ``ru_maxrss`` across fork and exec, which would count this benchmark's own memory.

Without ``--run`` the embeddings are random, of gowalla's shape (40,981 items, 64-d), and the
records say ``"embeddings": "random"``: only sizes and times matter here. Records go to
``--out`` (JSON, upserted) and a markdown table beside it.

Usage: ``python -m benchmarks.packages [--run RUN_DIR] [--out docs/results/packages.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

import elasticrec
from benchmarks.results import RESULTS_DIR, markdown_table, provenance, upsert
from elasticrec import RunEmbeddings, package_to_onnx, runtime, write_bytes, write_text

GOWALLA_TRAIN = Path(__file__).resolve().parents[2] / "shared/datasets/gowalla/train.txt"
N_ITEMS, N_USERS, DIM, K = 40_981, 29_858, 64, 20
KEY = ("dataset", "model", "method", "embeddings", "value_dtype", "budget")
COLUMNS = ["embeddings", "value_dtype", "budget", "budget_bytes", "package_bytes", "width",
           "load_seconds", "p50_ms", "p99_ms", "onnx_p50_ms", "onnx_p99_ms", "peak_rss_bytes",
           "baseline_rss_bytes"]


def random_run(rng: np.random.Generator) -> RunEmbeddings:
    return RunEmbeddings(
        user=rng.standard_normal((N_USERS, DIM), dtype=np.float32) * 0.1,
        item=rng.standard_normal((N_ITEMS, DIM), dtype=np.float32) * 0.1,
        dataset="gowalla", dataset_fingerprint="random", model="random",
        user_labels=[str(u) for u in range(N_USERS)], item_labels=[str(i) for i in range(N_ITEMS)],
    )


def histories(n_items: int, n: int, rng: np.random.Generator) -> tuple[list[np.ndarray], str]:
    """``n`` item histories: gowalla training rows if available (and ids fit), else random."""
    if GOWALLA_TRAIN.is_file():
        rows = [np.array(line.split()[1:], dtype=np.int64)
                for line in GOWALLA_TRAIN.read_text().splitlines() if len(line.split()) > 1]
        if max(int(r.max()) for r in rows) < n_items:
            picked = rng.choice(len(rows), n)
            return [rows[i] for i in picked], "gowalla train.txt"
    return [np.sort(rng.choice(n_items, 27, replace=False)) for _ in range(n)], "random (27)"


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(seconds) * 1e3, [50, 99])
    return float(p50), float(p99)


def time_numpy(pkg: runtime.Package, requests: list[np.ndarray]) -> list[float]:
    out = []
    for history in requests:
        start = time.perf_counter()
        pkg.recommend(K, exclude=history)
        out.append(time.perf_counter() - start)
    return out


def time_onnx(pkg: runtime.Package, requests: list[np.ndarray]) -> list[float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(package_to_onnx(pkg, k=K).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    user = pkg.user_vector()
    session.run(["top_items"], {"user": user, "exclude": requests[0]})  # warm-up
    out = []
    for history in requests:
        start = time.perf_counter()
        session.run(["top_items"], {"user": user, "exclude": history})
        out.append(time.perf_counter() - start)
    return out


def peak_rss(path: Path | None, history: np.ndarray) -> int:
    """Peak resident bytes (VmHWM) of a fresh process that loads ``path`` and recommends once."""
    body = "" if path is None else (
        f"p = runtime.load({str(path)!r}); p.recommend({K}, exclude={history.tolist()!r})")
    script = textwrap.dedent(f"""
        from elasticrec import runtime
        {body}
        status = open("/proc/self/status").read().split("VmHWM:")[1]
        print(int(status.split()[0]) * 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True)
    return int(out.stdout.strip())


def measure(emb: RunEmbeddings, dtype: str, share: str, requests: list[np.ndarray],
            tmp: Path, baseline: int) -> dict:
    """One record; ``share`` is ``"full"`` (the full-width package's own size) or a float
    share of the full float32 item table as text."""
    start = time.perf_counter()
    n_items, dim = emb.item.shape
    if share == "full":  # the full-width package's own size: what a budget of all of it is
        budget = len(elasticrec.export_embeddings(emb, 2 * n_items * dim * 4 + 2**20, user=0,
                                                  dtype=dtype).data)
    else:
        budget = int(n_items * dim * 4 * float(share))
    exported = elasticrec.export_embeddings(emb, budget, user=0, dtype=dtype)
    path = tmp / f"{dtype}-{share}.erpk"
    write_bytes(path, exported.data)
    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        pkg = runtime.load(path)
        loads.append(time.perf_counter() - t0)
    p50, p99 = percentiles(time_numpy(pkg, requests))
    onnx_p50, onnx_p99 = percentiles(time_onnx(pkg, requests))
    return {
        "budget": share if share == "full" else f"{float(share):.0%}",
        "budget_bytes": budget, "package_bytes": pkg.file_bytes,
        "value_dtype": dtype, "width": exported.info["width"], "n_items": pkg.n_items,
        "load_seconds": float(np.median(loads)), "p50_ms": p50, "p99_ms": p99,
        "onnx_p50_ms": onnx_p50, "onnx_p99_ms": onnx_p99, "k": K,
        "requests": len(requests), "peak_rss_bytes": peak_rss(path, requests[0]),
        "baseline_rss_bytes": baseline, "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=None, help="a trained run directory")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "packages.json")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--budgets", nargs="+", default=["full", "0.5", "0.2", "0.1", "0.05"],
                        help="'full' (the full-width package) or shares of the float32 table")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16", "int8"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    emb = elasticrec.load_run(args.run).embeddings if args.run else random_run(rng)
    requests, source = histories(emb.item.shape[0], args.requests, rng)
    common = {"dataset": emb.dataset, "model": emb.model, "method": "dense-truncate",
              "embeddings": "trained" if args.run else "random", "histories": source,
              **provenance()}
    baseline = peak_rss(None, requests[0])
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in args.dtypes:
            for share in args.budgets:
                record = {**common, **measure(emb, dtype, share, requests, Path(tmp), baseline)}
                print(json.dumps({k: record[k] for k in COLUMNS}), flush=True)
                records.append(record)
    merged = upsert(args.out, records, KEY)
    write_text(args.out.with_suffix(".md"), table(merged))
    return 0


def table(records: list[dict]) -> str:
    first = records[-1]
    lines = [
        "# Device packages: size, load time, top-20 latency, peak memory",
        "",
        f"Generated by `benchmarks/packages.py` from `{Path('packages.json')}` on "
        f"{first['date']}, commit `{first['commit']}`, {first['machine']}.",
        "Single-user packages, dense baseline (widest width that fits); budget `full` is the "
        "full-width package in that dtype, percentages are of the full float32 item table "
        "(100% of it leaves no room for the header). Peak RSS: VmHWM of a process that only "
        "loads the package and recommends once (baseline: importing the runtime). "
        "NumPy: `Package.recommend(20, exclude=history)`; "
        "ONNX: onnxruntime, one intra-op thread. Latencies in ms over "
        f"{first['requests']} requests (histories: {first['histories']}). Embeddings: "
        f"{first['embeddings']} ({first['dataset']}, {first['n_items']:,} items).",
        "",
    ]
    rows = [{**r, "load_seconds": r["load_seconds"] * 1e3,
             "peak_rss_bytes": f"{r['peak_rss_bytes'] / 2**20:.1f} MiB",
             "baseline_rss_bytes": f"{r['baseline_rss_bytes'] / 2**20:.1f} MiB"} for r in records]
    header = [c.replace("load_seconds", "load_ms") for c in COLUMNS]
    body = markdown_table(rows, COLUMNS).splitlines()
    body[0] = "| " + " | ".join(header) + " |"
    return "\n".join(lines + body) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
