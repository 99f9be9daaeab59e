"""`elasticrec stream`: streaming recommendation under a fixed embedding budget (SCALL's
setting): time-ordered segments, each trained warm from the last with the sizes a method
gives, evaluated on its own test rows; one JSON line per segment and a summary.

Methods: scall (sizes sampled under the budget, the sampler's parameters chosen by a Soft
Actor-Critic policy searched after every segment), su (one size for all), mr (random sizes
under the budget) and grow (sizes growing with frequency, no cap: the approach SCALL
criticises). Budgets: bytes of the stored tables (2MB, 512KiB), c=<mean size per entity> or
B=<MB of float32 parameters>; the stored bytes include the ragged offsets.
The run directory gets segments.jsonl (one record per segment), summary.json, the latest
segment's stored tables (embeddings.safetensors) and, for scall, the agent with its replay
(agent.safetensors).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

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


def budget_function(text: str):
    """``(n_users, n_items) -> bytes`` for the three budget forms."""
    from elasticrec.budget.units import parse_budget

    kind, eq, value = text.partition("=")
    if eq and kind in ("c", "B"):
        try:
            x = float(value)
        except ValueError:
            x = -1.0
        if x <= 0:
            raise ValueError(f"budget {text!r}: the value after '=' must be a positive number")
        if kind == "c":
            return lambda n_u, n_i: int(4 * x * (n_u + n_i))
        return lambda n_u, n_i: int(x * 1e6)
    fixed = parse_budget(text)
    return lambda n_u, n_i: fixed


def make_policy(args: argparse.Namespace, rng: np.random.Generator):
    if args.method != "scall":
        from elasticrec.scall.policies import Rule

        return Rule(args.method, args.d_max, rng)
    from dataclasses import replace

    from elasticrec.scall.sac import SACConfig
    from elasticrec.scall.search import ScallPolicy, ScallSchedule

    schedule = ScallSchedule.released() if args.schedule == "released" else ScallSchedule()
    if args.reward_steps is not None:
        schedule = replace(schedule, reward_steps=args.reward_steps)
    return ScallPolicy(args.d_max, schedule, SACConfig(seed=args.seed), seed=args.seed, log=log)


def run(args: argparse.Namespace) -> int:
    from elasticrec.atomic import write_text
    from elasticrec.data.dataset import load_dataset
    from elasticrec.data.preprocess import drop_duplicates
    from elasticrec.models.config import ModelConfig
    from elasticrec.scall.harness import StreamEnv, StreamTraining, run_stream
    from elasticrec.scall.stream import cuts_by_new_entities, cuts_equal, segments, time_sorted
    from elasticrec.tensorfile import write_tensors

    if args.out.exists() and any(args.out.iterdir()):
        raise FileExistsError(f"{args.out} already holds files; choose another --out")
    budget = budget_function(args.budget)
    columns = {"timestamp_col": args.timestamp_col} if args.timestamp_col else {}
    ds = load_dataset(args.dataset, data_dir_from(args), download=not args.no_download,
                      **columns)
    name = ds.name
    inter = time_sorted(drop_duplicates(ds.all()))  # a pair's first event only
    starts = (cuts_equal(len(inter), args.segments) if args.segments
              else cuts_by_new_entities(inter, args.new_entities))
    rng = np.random.default_rng(args.seed)
    segs = segments(inter, starts, rng)
    log(f"{name}: {len(inter)} events, {inter.n_users} users, {inter.n_items} items, "
        f"{len(segs)} segments; method {args.method}, budget {args.budget}")
    policy = make_policy(args, rng)
    env = StreamEnv(inter, ModelConfig(model=args.model, dim=args.d_max),
                    StreamTraining(seed=args.seed, **{
                        k: getattr(args, k) for k in ("epochs", "batch_size", "lr")
                        if getattr(args, k) is not None}), budget)
    records = []
    args.out.mkdir(parents=True, exist_ok=True)
    for rec, tables in run_stream(env, segs, policy, dataset=name, method=args.method):
        records.append(rec)
        over = "" if rec["package_bytes"] <= rec["budget_bytes"] else "  OVER BUDGET"
        log(f"segment {rec['segment']}: {rec['n_users']} users, {rec['n_items']} items, "
            f"{rec['package_bytes']:,} of {rec['budget_bytes']:,} bytes, "
            f"recall@20 {rec.get('recall@20', float('nan')):.4f} in {rec['seconds']:.1f}s{over}")
        write_text(args.out / "segments.jsonl",
                   "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        write_tensors(args.out / "embeddings.safetensors", tables,  # the latest segment's
                      {"config": {"dataset": name, "method": args.method,
                                  "budget": args.budget, "segment": rec["segment"]}})
    if args.method == "scall":
        write_tensors(args.out / "agent.safetensors", policy.agent.tensors(),
                      {"config": policy.agent.config.to_json(),
                       "schedule": policy.schedule.to_json(), "d_max": args.d_max})
    later = [r for r in records if r["segment"] >= 1 and "recall@20" in r] or records
    summary = {"dataset": name, "method": args.method, "budget": args.budget,
               "segments": len(records),
               **{k: float(np.mean([r.get(k, np.nan) for r in later]))
                  for k in ("recall@20", "ndcg@20")},
               "within_budget": all(r["package_bytes"] <= r["budget_bytes"] for r in records),
               "seconds": float(sum(r["seconds"] for r in records))}
    write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(table(records, ["segment", "n_users", "n_items", "budget_bytes", "package_bytes",
                          "recall@20", "ndcg@20", "seconds"]))
    print(f"mean over segments 1..T: recall@20 {summary['recall@20']:.4f}, "
          f"ndcg@20 {summary['ndcg@20']:.4f}")
    return 0
