"""How long full-ranking evaluation takes on gowalla's shape; writes one JSON line per run.

Two problems, each evaluated with random 64-d float32 embeddings (only the time matters):

- ``synthetic``: 29,858 users and 40,981 items, every user with at least one test item, about
  810k training and 217k test interactions placed uniformly at random;
- ``gowalla``: the real train/test split (``train.txt``/``test.txt``, one line per user: the
  user id then its item ids), when the files exist. They are parsed here, so the benchmark does
  not depend on the project's loaders.

Usage: ``python benchmarks/eval_speed.py [--chunk-sizes 1024 2048] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from elasticrec import evaluate_ranking, score_fn_from_embeddings

GOWALLA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gowalla"
N_USERS, N_ITEMS, N_TRAIN, N_TEST, DIM = 29_858, 40_981, 810_128, 217_242, 64


def synthetic_split(rng: np.random.Generator) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random disjoint train/test matrices of gowalla's size; every user has a test item."""
    test_user = np.concatenate([np.arange(N_USERS), rng.integers(0, N_USERS, N_TEST - N_USERS)])
    test = _binary_csr(test_user, rng.integers(0, N_ITEMS, N_TEST), (N_USERS, N_ITEMS))
    train = _binary_csr(
        rng.integers(0, N_USERS, N_TRAIN), rng.integers(0, N_ITEMS, N_TRAIN), (N_USERS, N_ITEMS)
    )
    train = train - train.multiply(test)  # disjoint from test
    train.eliminate_zeros()
    return train, test


def read_user_lists(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs from a file of lines ``user item item ...``."""
    users, items = [], []
    for line in path.read_text().splitlines():
        ids = np.array(line.split(), dtype=np.int64)
        if len(ids) > 1:
            users.append(np.full(len(ids) - 1, ids[0]))
            items.append(ids[1:])
    return np.concatenate(users), np.concatenate(items)


def real_split(train_path: Path, test_path: Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    train_pairs, test_pairs = read_user_lists(train_path), read_user_lists(test_path)
    n_users = 1 + int(max(train_pairs[0].max(), test_pairs[0].max()))
    n_items = 1 + int(max(train_pairs[1].max(), test_pairs[1].max()))
    return (
        _binary_csr(*train_pairs, (n_users, n_items)),
        _binary_csr(*test_pairs, (n_users, n_items)),
    )


def _binary_csr(user: np.ndarray, item: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(user), dtype=np.float32), (user, item)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1
    return m


def machine() -> dict[str, object]:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name')} {blas.get('version')}",
        "cpus_usable": len(os.sched_getaffinity(0)),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[2048])
    parser.add_argument("--ks", type=int, nargs="+", default=[20])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--score-output",
        choices=["reused", "fresh", "both"],
        default="reused",
        help="score into one reused buffer, a fresh array per chunk, or time both",
    )
    parser.add_argument("--train", type=Path, default=GOWALLA / "train.txt")
    parser.add_argument("--test", type=Path, default=GOWALLA / "test.txt")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="append JSON lines here instead of stdout")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    outputs = ["reused", "fresh"] if args.score_output == "both" else [args.score_output]
    problems = {}
    if not args.no_synthetic:
        problems["synthetic"] = synthetic_split(rng)
    if args.train.exists() and args.test.exists():
        problems["gowalla"] = real_split(args.train, args.test)
    else:
        print(f"skipping gowalla: {args.train} or {args.test} not found", file=sys.stderr)

    out = open(args.out, "a") if args.out else sys.stdout
    try:
        for name, (train, test) in problems.items():
            n_users, n_items = train.shape
            user_emb = rng.standard_normal((n_users, DIM), dtype=np.float32)
            item_emb = rng.standard_normal((n_items, DIM), dtype=np.float32)
            for output, chunk_size in itertools.product(outputs, args.chunk_sizes):
                score = score_fn_from_embeddings(
                    user_emb, item_emb, reuse_output=output == "reused"
                )
                runs, cpu = [], []
                for _ in range(args.repeats):
                    cpu_start = time.process_time()
                    runs.append(
                        evaluate_ranking(score, train, test, args.ks, chunk_size=chunk_size)
                    )
                    cpu.append(time.process_time() - cpu_start)
                record = {
                    "benchmark": "eval_speed",
                    "dataset": name,
                    "n_users": runs[0].n_users,
                    "n_items": n_items,
                    "n_train": int(train.nnz),
                    "n_test": int(test.nnz),
                    "dim": DIM,
                    "ks": args.ks,
                    "chunk_size": chunk_size,
                    "score_output": output,
                    "seconds": min(r.seconds for r in runs),
                    "seconds_all": [round(r.seconds, 3) for r in runs],
                    # CPU time of all threads: on a shared machine, wall time alone misleads.
                    "cpu_seconds_all": [round(c, 3) for c in cpu],
                    "metrics": runs[0].metrics,
                    "machine": machine(),
                    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                }
                print(json.dumps(record), file=out, flush=True)
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    main()
