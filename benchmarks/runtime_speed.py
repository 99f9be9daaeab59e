"""Top-20 latency and scoring memory of the NumPy runtime per value type and layout, on one core.

A gowalla-sized item table (40,981 items, 64-d, random float32: only times and bytes matter
here) ships to one user as:

- ``dense``: every item at full width (64 positions);
- ``blocks``: 8 blocks of 8 positions, 4 item groups shipping 8, 6, 4 and 2 blocks;
- ``ragged``: each item at its own width, uniform in 1..64.

For each value type (float32, float16, int8, int4, int2, with per-item scales for the
integer types) the package is built, loaded with ``runtime.load`` (memory map, SHA-256,
every check) and measured:

- ``min_ms`` / ``p50_ms`` / ``p99_ms``: ``Package.recommend(20, exclude=history)`` over
  ``--requests`` requests, each with a random history of 27 items (gowalla's mean); the
  minimum is the least disturbed by other processes on a shared machine;
- ``load_ms``: the median of 5 loads;
- ``score_alloc_bytes``: the peak of NumPy's allocations (``tracemalloc``) during one
  ``recommend``, beside ``float32_table_bytes`` (what widening the whole table would take):
  int4 / int2 stay packed, so this is the chunked planes and the float32 scores;
- ``held_bytes``: bytes the loaded package holds beyond the file's memory map (row-aligned
  copies of packed values, the ragged layout's regrouped rows);
- ``onnx_bytes`` / ``ort_bytes``: the package exported as an ONNX model and in onnxruntime's
  ORT format (``package_to_onnx`` / ``package_to_ort``, k = 20), to compare with
  ``package_bytes``.

The process pins BLAS / OpenMP to one thread before NumPy loads; ``load_average`` (the
machine's 1-minute load after the requests) says how busy the machine was: on a shared
machine the times are only comparable between rows of a similar load. Records go to ``--out``
(JSON, upserted) and a markdown table beside it.

Usage: ``python -m benchmarks.runtime_speed [--requests 300] [--out FILE.json]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import elasticrec  # noqa: E402
from benchmarks.results import RESULTS_DIR, markdown_table, measured, provenance, upsert  # noqa: E402
from elasticrec import package_to_onnx, package_to_ort, runtime  # noqa: E402

N_ITEMS, DIM, K, HISTORY = 40_981, 64, 20, 27
DTYPES = ("float32", "float16", "int8", "int4", "int2")
COLUMNS = ["layout", "value_dtype", "package_bytes", "min_ms", "p50_ms", "p99_ms", "load_ms",
           "score_alloc_bytes", "float32_table_bytes", "held_bytes", "onnx_bytes", "ort_bytes",
           "load_average"]


def embeddings(rng: np.random.Generator) -> elasticrec.RunEmbeddings:
    return elasticrec.RunEmbeddings(
        user=rng.standard_normal((1, DIM), dtype=np.float32),
        item=(rng.standard_normal((N_ITEMS, DIM), dtype=np.float32) * 0.1),
        dataset="gowalla-shaped", dataset_fingerprint="random", model="random",
        user_labels=["0"], item_labels=[str(i) for i in range(N_ITEMS)])


def selections(rng: np.random.Generator) -> dict:
    groups = rng.integers(0, 4, N_ITEMS)
    priorities = [list(rng.permutation(8)[:n]) for n in (8, 6, 4, 2)]
    return {
        "dense": elasticrec.DenseSelection(DIM),
        "blocks": elasticrec.BlockSelection.from_groups(8, groups, priorities),
        "ragged": elasticrec.RaggedSelection(rng.integers(1, DIM + 1, N_ITEMS)),
    }


def held_bytes(pkg: runtime.Package) -> int:
    """Bytes of the segments' value arrays that are copies, not views of the file."""
    file_values = pkg.tensors["values"]
    arrays = [getattr(seg.values, "data", seg.values) for seg in pkg.segments]
    return sum(a.nbytes for a in arrays if not np.shares_memory(a, file_values))


def measure(data: bytes, path: Path, requests: int, rng: np.random.Generator) -> dict:
    elasticrec.write_bytes(path, data)
    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        pkg = runtime.load(path)
        loads.append(time.perf_counter() - t0)
    histories = [np.sort(rng.choice(N_ITEMS, HISTORY, replace=False)) for _ in range(requests)]
    for h in histories[:10]:  # warm up
        pkg.recommend(K, exclude=h)
    times = []
    for h in histories:
        t0 = time.perf_counter()
        pkg.recommend(K, exclude=h)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    pkg.recommend(K, exclude=histories[0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    onnx_bytes = len(package_to_onnx(pkg, k=K).SerializeToString())
    ort_bytes = len(package_to_ort(pkg, k=K))
    ms = np.array(times) * 1000
    return {"load_average": round(os.getloadavg()[0], 2), "package_bytes": len(data),
            "min_ms": float(ms.min()), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "load_ms": float(np.median(loads) * 1000),
            "score_alloc_bytes": int(peak), "float32_table_bytes": N_ITEMS * DIM * 4,
            "held_bytes": held_bytes(pkg), "onnx_bytes": onnx_bytes, "ort_bytes": ort_bytes,
            "requests": requests}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "runtime_speed.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    emb = embeddings(rng)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout, selection in selections(rng).items():
            for dtype in DTYPES:
                data = elasticrec.export_embeddings(emb, None, user=0, dtype=dtype,
                                                    layout=selection).data
                record = {"benchmark": "runtime_speed", "dataset": "gowalla-shaped",
                          "model": "random", "method": "package", "layout": layout,
                          "value_dtype": dtype, "n_items": N_ITEMS, "dim": DIM, "k": K,
                          "threads": 1, **measure(data, Path(tmp) / "p.erpk", args.requests,
                                                 rng), **provenance()}
                print({c: record[c] for c in COLUMNS}, flush=True)
                records.append(record)
    merged = upsert(args.out, records, key=("benchmark", "layout", "value_dtype"))
    write_markdown(merged, args.out.with_suffix(".md"))
    return 0


def write_markdown(records: list[dict], path: Path) -> None:
    rows = sorted(records, key=lambda r: (r["layout"], DTYPES.index(r["value_dtype"])))
    text = (
        "# Runtime speed: top-20 on a gowalla-sized table, one core\n\n"
        "Generated by `python -m benchmarks.runtime_speed` from `runtime_speed.json`; do not "
        "edit.\n\n"
        f"{N_ITEMS:,} items, {DIM}-d, random values; one user, `recommend(20, exclude=27 "
        "items)`. `score_alloc_bytes`: peak NumPy allocation during one call (int4 / int2 are "
        "scored packed, never widened: compare `float32_table_bytes`); `held_bytes`: copies "
        "the loaded package keeps beside the memory-mapped file; `load_average`: the machine's "
        "1-minute load average (times from a busy machine are longer); `onnx_bytes` / "
        "`ort_bytes`: the same package as an ONNX model and in the ORT format.\n\n"
        + markdown_table(rows, COLUMNS) + "\n\n" + measured(rows) + "\n")
    elasticrec.write_text(path, text)


if __name__ == "__main__":
    raise SystemExit(main())
