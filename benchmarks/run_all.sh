#!/usr/bin/env bash
# Regenerates every published number in docs/results/ with the settings recorded there.
# First the suite (every method and baseline on gowalla and yelp2018, and the SCALL streams:
# `elasticrec bench full`, resumable: rerun it after an interruption), then what the suite
# does not cover: learning curves, epoch/evaluation/load times, package latency and memory,
# RULE's ablations and estimators, PEEL's group sweep, device populations and re-selection
# timing, SCALL's seeds and growing sizes, and scaling out. Each step upserts its own
# records, so a step can be rerun alone (copy its line). Needs the datasets (README: data).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
F="$PY -m benchmarks.foundation"

$PY -m elasticrec bench full --out docs/results/bench --resume

# Base models: fixed schedules, no model selection on the test split.
$F train --dataset gowalla  --model lightgcn --epochs 220 --batch-size 16384 --lr 0.01 --lr-decay 0.99 --lr-min 0.001 --eval-every 10
$F train --dataset gowalla  --model mf       --epochs 40  --batch-size 8192  --lr 0.005 --lr-decay 0.95 --l2 0.02 --eval-every 10
$F train --dataset yelp2018 --model mf       --epochs 40  --batch-size 8192  --lr 0.005 --lr-decay 0.95 --l2 0.02 --eval-every 10
$F train --dataset yelp2018 --model lightgcn --epochs 20  --batch-size 16384 --lr 0.01 --lr-decay 0.9 --eval-every 10
# One epoch at the reference implementation's batch size, evaluation and load times.
$F epoch --dataset gowalla --batch-size 2048
$F eval --run runs/bench/gowalla-lightgcn
$F load
# Device packages: quality at a budget on what ships, and runtime latency/memory.
$PY -m benchmarks.package_quality --run runs/bench/gowalla-lightgcn
$PY -m benchmarks.packages --run runs/bench/gowalla-lightgcn
# RULE against its baselines (trains the elastic, ablation, full and uniform-width MF models),
# then PEEL on the same runs: the number of user groups on validation, then the comparison.
$PY -m benchmarks.rule run --dataset gowalla --ablation
$PY -m benchmarks.rule run --dataset yelp2018 --ablation no-diversity
$PY -m benchmarks.peel sweep --dataset gowalla
$PY -m benchmarks.peel run --dataset gowalla
$PY -m benchmarks.peel run --dataset yelp2018
$PY -m benchmarks.peel reselect --dataset gowalla
# SCALL against SU, MR and growing sizes: two timestamped datasets, a mean-size and a fixed
# memory budget each, seeds 0, 1 and 2; about 3.5 hours; finished
# runs in runs/scall are reused.
$PY -m benchmarks.scall run --dataset amazon-grocery  --budget c=16   --new-entities 3000 --seeds 0 1 2
$PY -m benchmarks.scall run --dataset amazon-grocery  --budget B=0.75 --new-entities 3000 --seeds 0 1 2
$PY -m benchmarks.scall run --dataset ml-latest-small --budget c=16   --new-entities 1200 --seeds 0 1 2
$PY -m benchmarks.scall run --dataset ml-latest-small --budget B=0.3  --new-entities 1200 --seeds 0 1 2
$PY -m benchmarks.scall table
# Scaling out: 1 and 2 processes (see docs/distributed.md).
$PY -m benchmarks.scaling run
# Base models as a newcomer gets them (no options) on every shared dataset, and the schedules
# given in full; docs/results/base_models.md. gowalla and yelp2018 default rows: hours each.
for d in ml-100k ml-latest-small amazon-grocery ciaodvd gowalla yelp2018; do
  for m in pop mf lightgcn; do $PY -m benchmarks.base_models run --dataset $d --model $m; done
done
$PY -m benchmarks.base_models run --dataset ciaodvd --model mf --label bpr-l2-0.1 -- \
    --loss bpr --lr 1e-2 --l2 0.1 --epochs 40 --eval-every 5
$PY -m benchmarks.base_models run --dataset gowalla --model mf --label ccl-20ep -- \
    --loss ccl --lr 3e-3 --l2 1e-5 --epochs 20 --valid-ratio 0 --eval-every 0
# SimpleX's schedule for MF-CCL (lr 1e-4, batch 512, 1000 negatives, N(0, 1e-4) init)
$PY -m benchmarks.base_models run --dataset gowalla --model mf --label ccl-simplex -- \
    --loss ccl --n-negatives 1000 --batch-size 512 --lr 1e-4 --l2 0 --init-std 1e-4 \
    --epochs 24 --valid-ratio 0 --eval-every 0
$PY -m benchmarks.base_models run --dataset yelp2018 --model mf --label ccl-simplex -- \
    --loss ccl --n-negatives 1000 --batch-size 512 --lr 1e-4 --l2 0 --init-std 1e-4 \
    --epochs 12 --valid-ratio 0 --eval-every 0
$PY -m benchmarks.base_models table
# Quality per byte (docs/results/quality.md): the runs it reads, then the measurement.
for m in lightgcn mf; do
  for method in full rule peel; do
    $PY -m elasticrec train --dataset ml-100k --model $m --method $method \
        --out runs/quality/ml-100k-$m-$method --epochs 100 --lr 0.005
  done
  $PY -m benchmarks.quality run --full runs/quality/ml-100k-$m-full \
      --rule runs/quality/ml-100k-$m-rule --peel runs/quality/ml-100k-$m-peel
done
$PY -m elasticrec train --dataset gowalla --model mf --out runs/quality/gowalla-mf --epochs 40 \
    --batch-size 8192 --lr 0.005 --lr-decay 0.95 --l2 0.02 --eval-every 0
$PY -m benchmarks.quality run --full runs/quality/gowalla-mf --eval-users 5000
$PY -m benchmarks.quality table
# Package format: id map costs and runtime speed on one core; peak memory of train/evaluate.
$PY -m benchmarks.id_maps
$PY -m benchmarks.runtime_speed
$PY -m benchmarks.memory --dataset gowalla
# The package server under load (its PEEL run first).
$PY -m benchmarks.serve train --out runs/serve/gowalla-peel
$PY -m benchmarks.serve run --run-dir runs/serve/gowalla-peel
