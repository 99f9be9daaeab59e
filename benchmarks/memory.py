"""Peak memory of `elasticrec train` and `elasticrec evaluate` on a real dataset.

Each command runs as its own subprocess (``python -m elasticrec ...``, what a user runs); its
peak resident set size is the kernel's ``ru_maxrss`` for that child, read with ``os.wait4``
when it exits, so nothing else in this process is counted. Training runs a short schedule
(the peak is reached in the first epoch: the tables, Adam's moments, the sampler and the
graph are all allocated by then); evaluation ranks every test user against every item.

Usage: ``python benchmarks/memory.py [--dataset gowalla] [--models mf lightgcn]
[--epochs 1]``; writes ``docs/results/memory.json`` and the generated ``memory.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import RESULTS_DIR, markdown_table, measured, provenance, upsert
from elasticrec import write_text

JSON_PATH = RESULTS_DIR / "memory.json"
MD_PATH = RESULTS_DIR / "memory.md"
COLUMNS = ["dataset", "model", "command", "peak_rss_bytes", "peak_rss_gib", "seconds"]


def peak_rss(argv: list[str], env: dict[str, str]) -> tuple[int, float]:
    """(peak resident bytes, wall seconds) of one `elasticrec` subprocess; fails loudly."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "elasticrec", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"elasticrec {' '.join(argv)} failed ({proc.returncode}): {err[-2000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - t0  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--models", nargs="+", default=["mf", "lightgcn"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-dir", default=os.environ.get("ELASTICREC_DATA"))
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    records = []
    with tempfile.TemporaryDirectory(prefix="elasticrec-memory-") as tmp:
        for model in args.models:
            run = Path(tmp) / model
            where = ["--no-download"] + (["--data-dir", args.data_dir] if args.data_dir else [])
            train = ["train", "--dataset", args.dataset, "--model", model, "--out", str(run),
                     "--epochs", str(args.epochs), "--eval-every", "0", *where]
            for command, argv in (("train", train), ("evaluate", ["evaluate", str(run),
                                                                  *where])):
                rss, seconds = peak_rss(argv, env)
                records.append({"benchmark": "memory", "dataset": args.dataset, "model": model,
                                "method": "full", "command": command,
                                "epochs": args.epochs if command == "train" else None,
                                "peak_rss_bytes": rss, "peak_rss_gib": round(rss / 2**30, 3),
                                "seconds": round(seconds, 1), **provenance()})
                print(f"{command} {model}: peak RSS {rss / 2**30:.2f} GiB, {seconds:.0f}s",
                      flush=True)
    merged = upsert(JSON_PATH, records, key=("dataset", "model", "command"))
    write_markdown(merged)


def write_markdown(records: list[dict]) -> None:
    text = "\n\n".join([
        "# Peak memory (generated from memory.json by benchmarks/memory.py)",
        "Peak resident set size of each command as a subprocess (`ru_maxrss`), default "
        "options (dim 64, batch 2048; LightGCN 3 layers), training for "
        f"{', '.join(sorted({str(r['epochs']) for r in records if r.get('epochs')}))} "
        "epoch(s) with no validation.",
        markdown_table(records, COLUMNS),
        measured(records),
    ])
    write_text(MD_PATH, text + "\n")


if __name__ == "__main__":
    main()
