"""`elasticrec stream`: streaming recommendation under a fixed embedding budget (SCALL's
setting): time-ordered segments, each trained warm from the last with the sizes a method
gives, evaluated on its own test rows; one JSON line per segment and a summary.

Methods: scall (sizes sampled under the budget, the sampler's parameters chosen by a Soft
Actor-Critic policy searched after every segment), su (one size for all), mr (random sizes
under the budget) and grow (sizes growing with frequency, no cap: the approach SCALL
criticises). Budgets: bytes of the stored tables (2MB, 512KiB), c=<mean size per entity> or
B=<MB of float32 parameters>; the stored bytes include the ragged offsets.
`elasticrec.stream` does the work. The run directory gets segments.jsonl (one record per
segment), summary.json, the latest segment's stored tables (embeddings.safetensors) and,
for scall, the agent with its replay (agent.safetensors).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import elasticrec
from elasticrec.cli.common import add_data_options, data_dir_from, log, table

METHODS = ("scall", "su", "mr", "grow")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="streaming recommendation under a fixed budget",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--dataset", required=True, help="a timestamped dataset name or file")
    p.add_argument("--budget", required=True, help="2MB, 512KiB, c=16 or B=10")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--out", type=Path, required=True, help="the run directory to create")
    p.add_argument("--model", choices=("mf", "lightgcn"), default="lightgcn")
    p.add_argument("--d-max", type=int, default=64, help="largest embedding size")
    p.add_argument("--segments", type=int, default=None,
                   help="equal windows of events (default: the released new-entity rule)")
    p.add_argument("--new-entities", type=int, default=15_000,
                   help="a new segment after this many new users + items")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs per segment, over its current rows (default 40)")
    p.add_argument("--batch-size", type=int, default=None, help="BPR triples per step (4096)")
    p.add_argument("--lr", type=float, default=None, help="Adam's rate (the released 0.03)")
    p.add_argument("--schedule", choices=("cpu", "released"), default="cpu",
                   help="scall's search per segment: cpu (100-step reward models, 6-16 steps) "
                        "or released (200-step reward models, at least 11 steps)")
    p.add_argument("--reward-steps", type=int, default=None,
                   help="training steps of each reward model (overrides the schedule)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-col", default=None, dest="timestamp_col")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = {k: getattr(args, k) for k in (
        "model", "d_max", "segments", "new_entities", "epochs", "batch_size", "lr", "schedule",
        "reward_steps", "seed")}
    if args.timestamp_col:
        options["timestamp_col"] = args.timestamp_col
    result = elasticrec.stream(args.dataset, budget=args.budget, method=args.method,
                               out=args.out, data_dir=data_dir_from(args),
                               download=not args.no_download, log=log, **options)
    print(table(result.segments, ["segment", "n_users", "n_items", "budget_bytes",
                                  "package_bytes", "recall@20", "ndcg@20", "seconds"]))
    summary = result.summary
    print(f"mean over segments 1..T: recall@20 {summary['recall@20']:.4f}, "
          f"ndcg@20 {summary['ndcg@20']:.4f}")
    return 0
