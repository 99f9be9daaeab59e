"""Two real processes with gloo on 127.0.0.1: `elasticrec train` under torchrun against one
process with the same total batch, a rank killed mid-run and the job resumed, and PEEL's
groups and RULE's labels spread over two ranks against one process.

Each launch is bounded (``LAUNCH_SECONDS``); most of a launch's time is the processes
importing torch. Speed is measured in ``benchmarks/scaling.py``, never here.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors import safe_open
from safetensors.numpy import load_file

import elasticrec
from elasticrec.cli import main
from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.rule import rule_labels
from elasticrec.embeddings import RunEmbeddings
from elasticrec.peel.config import PeelConfig
from elasticrec.peel.export import group_package
from elasticrec.peel.personalise import personalise
from elasticrec.train.distributed import DistContext, process_group
from toy_data import block_clusters

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not dist.is_gloo_available(),
    reason="the multi-process tests need Linux (/proc) and torch.distributed with gloo")

SRC = Path(elasticrec.__file__).resolve().parents[1]
LAUNCH_SECONDS = 240  # a launch that hangs fails its test rather than the suite
EPOCHS = 12
# Tolerances of a 2-process run against 1 process with the same total batch (64 = 2 x 32).
# Set from `python -m benchmarks.scaling run` (docs/results/scaling.md, tolerance): above the
# spread of 3 seeds of 1 process, below the effect of halving the batch (the mistake of giving
# each rank the whole batch, or of summing the gradients instead of averaging them).
NDCG_TOLERANCE = 0.03
LOSS_TOLERANCE = 0.07
RUN_FILES = {"config.json", "metrics.jsonl", "checkpoint.safetensors", "best.safetensors",
             "embeddings.safetensors", "result.json", "run.json"}


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory):
    """200 users in 4 blocks of 25 items, 12 events each (a user's own CSV file)."""
    rng = np.random.default_rng(0)
    lines = ["user,item"]
    for u in range(200):
        lines += [f"u{u},item{(u % 4) * 25 + i}" for i in rng.choice(25, 12, replace=False)]
    path = tmp_path_factory.mktemp("data") / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def train_args(csv: Path, out: Path, batch: int = 64) -> list[str]:
    return ["train", "--dataset", str(csv), "--model", "mf", "--out", str(out), "--dim", "8",
            "--lr", "0.01", "--batch-size", str(batch), "--epochs", str(EPOCHS),
            "--valid-ratio", "0.1", "--eval-every", "3", "--patience", "0",
            "--loss", "bpr"]  # the loss the tolerances were measured with


def torchrun(args: list[str], launch: tuple[str, ...] = ("--standalone", "--nproc-per-node",
                                                          "2")) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH"))
                                         if p)}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *launch, "-m",
                             "elasticrec", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=LAUNCH_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the launch did not finish in {LAUNCH_SECONDS}s:\n{err[-3000:]}")
    return proc.returncode, out, err


def epochs_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def checkpoint_epoch(run: Path) -> int:
    with safe_open(str(run / "checkpoint.safetensors"), framework="np") as fh:
        return json.loads(fh.metadata()["elasticrec"])["state"]["epoch"]


@pytest.fixture(scope="module")
def two_ranks(events_csv, tmp_path_factory):
    """An uninterrupted 2-process run launched as on two machines (two torchrun agents, one
    process each, static rendezvous on 127.0.0.1), and node 0's output."""
    run = tmp_path_factory.mktemp("ddp") / "run"
    node = ("--nnodes", "2", "--nproc-per-node", "1", "--master-addr", "127.0.0.1",
            "--master-port", str(_free_port()), "--node-rank")
    nodes = [torchrun(train_args(events_csv, run), (*node, str(r))) for r in (0, 1)]
    (code0, out, err0), (code1, out1, err1) = (finish(p) for p in nodes)
    assert code0 == code1 == 0, err0[-3000:] + err1[-3000:]
    assert out1 == ""  # rank 1, alone on node 1, prints nothing
    return run, out


def one_process(csv: Path, out: Path, batch: int = 64) -> Path:
    assert main(train_args(csv, out, batch)) == 0
    return out


def test_two_processes_reach_the_metrics_of_one_with_the_same_total_batch(
        two_ranks, events_csv, tmp_path, capsys):
    run, out = two_ranks
    assert out.count("recall@20") == 1  # rank 0 alone prints the table ...
    assert {p.name for p in run.iterdir()} == RUN_FILES  # ... and writes the run folder
    single = one_process(events_csv, tmp_path / "one")
    half = one_process(events_csv, tmp_path / "half", batch=32)
    capsys.readouterr()
    ddp, ref = (json.loads((r / "result.json").read_text()) for r in (run, single))
    assert ddp["epochs"] == ref["epochs"] == EPOCHS
    assert abs(ddp["ndcg@20"] - ref["ndcg@20"]) <= NDCG_TOLERANCE, (ddp, ref)
    loss = {name: np.array([e["loss"] for e in epochs_of(r)])
            for name, r in (("ddp", run), ("one", single), ("half", half))}
    assert np.abs(loss["ddp"] - loss["one"]).max() <= LOSS_TOLERANCE, loss
    assert np.abs(loss["half"] - loss["one"]).max() > 2 * LOSS_TOLERANCE, loss
    assert [e["epoch"] for e in epochs_of(run) if "valid/recall@20" in e] == [3, 6, 9, 12]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(v[len(b"RANK="):]) for v in env if v.startswith(b"RANK=")]
    return ranks[0] if ranks else None


def test_a_killed_rank_fails_the_job_and_resume_continues_it_exactly(
        two_ranks, events_csv, tmp_path):
    run = tmp_path / "run"
    proc = torchrun(train_args(events_csv, run))
    deadline = time.monotonic() + LAUNCH_SECONDS
    while not ((run / "metrics.jsonl").is_file() and len(epochs_of(run)) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    victim = next(p for p in _children(proc.pid) if _rank_of(p) == 1)
    os.kill(victim, signal.SIGKILL)
    code, _, err = finish(proc)
    assert code != 0, "the job went on without rank 1"
    stopped_at = checkpoint_epoch(run)
    assert 1 <= stopped_at < EPOCHS, "the run ended before rank 1 was killed"

    code, _, err = finish(torchrun([*train_args(events_csv, run), "--resume"]))
    assert code == 0, err[-3000:]
    assert f"resumed from epoch {stopped_at}" in err
    straight = two_ranks[0]
    assert [e["epoch"] for e in epochs_of(run)] == list(range(1, EPOCHS + 1))
    assert [e["loss"] for e in epochs_of(run)] == [e["loss"] for e in epochs_of(straight)]
    ours, theirs = (load_file(str(r / "embeddings.safetensors")) for r in (run, straight))
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_peel_trains_on_two_processes_and_exports(events_csv, tmp_path, capsys):
    """RULE's elastic training, labels and estimator, then PEEL's groups, all on 2 ranks."""
    run = tmp_path / "peel"
    code, out, err = finish(torchrun([
        "train", "--dataset", str(events_csv), "--model", "mf", "--method", "peel", "--out",
        str(run), "--epochs", "3", "--batch-size", "64", "--dim", "8", "--blocks", "4",
        "--item-groups", "4", "--label-configs", "12", "--eval-every", "0", "--clusters", "3",
        "--peel-epochs", "1"]))
    assert code == 0, err[-3000:]
    assert out.count("peel") == 1 and err.count("PEEL: 3 user groups") == 1
    result = json.loads((run / "result.json").read_text())
    assert result["peel_report"]["ranks"] == 2 and result["estimator"]["n_labelled"] == 12
    assert RUN_FILES - {"best.safetensors"} | {"elastic.safetensors", "peel.safetensors"} == {
        p.name for p in run.iterdir()}
    package = tmp_path / "u7.erpkg"
    assert main(["export", str(run), "--budget", "3000", "--user", "u7", "--out",
                 str(package)]) == 0
    capsys.readouterr()
    assert 0 < package.stat().st_size <= 3000


# PEEL's groups and RULE's labels: the same inputs in every process, and in this one.

BUDGETS = (1500, 3000, 100_000)


def _peel_inputs():
    rng = np.random.default_rng(3)
    train, held = block_clusters(rng)
    user = rng.standard_normal((train.n_users, 8)).astype(np.float32)
    item = rng.standard_normal((train.n_items, 8)).astype(np.float32)
    emb = RunEmbeddings(user=user, item=item, dataset="toy", dataset_fingerprint="f",
                        model="mf", user_labels=[f"u{i}" for i in range(train.n_users)],
                        item_labels=[str(i) for i in range(train.n_items)])
    return train, held, emb, np.arange(train.n_items) % 3


def _refine_and_label(ctx: DistContext) -> tuple[dict[str, bytes], np.ndarray] | None:
    train, held, emb, groups = _peel_inputs()
    cfg = PeelConfig(n_clusters=3, epochs=2, batch_size=32)
    state = personalise(cfg, emb.user, emb.item, groups, 3, 4, train, log=lambda _m: None,
                        distributed=ctx)
    _, _, labels = rule_labels(
        ElasticConfig(n_blocks=4, n_groups=3, label_configs=15, label_users=0),
        emb.user, emb.item, groups, train.to_csr(), held.to_csr(), log=lambda _m: None,
        distributed=ctx)
    if state is None:
        return None
    packages = {}
    for c in range(3):
        rows = np.flatnonzero(state.user_cluster == c)[:2]
        for budget in BUDGETS:
            packages[f"{c}-{budget}"] = group_package(emb, state, groups, c, rows, budget)[0]
    return packages, labels


def _rank_main(rank: int, port: int, out: str) -> None:
    ctx = DistContext(rank=rank, world_size=2, master_port=port)
    with process_group(ctx):
        result = _refine_and_label(ctx)
    if result is not None:
        packages, labels = result
        for name, data in packages.items():
            (Path(out) / f"{name}.erpkg").write_bytes(data)
        np.save(Path(out) / "labels.npy", labels)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch_two_ranks(out: Path) -> None:
    context = mp.start_processes(_rank_main, args=(_free_port(), str(out)), nprocs=2,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + LAUNCH_SECONDS
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"the two ranks did not finish in {LAUNCH_SECONDS}s")


def test_peel_groups_and_rule_labels_on_two_ranks_are_those_of_one_process(tmp_path):
    # Known defect, not yet explained: about 1 launch in 8 on the 2-core machine, rank 1
    # aborts ("terminate called without an active exception") just after joining the
    # store; a bare gloo job of the same shape did not (25 launches). One relaunch on that
    # signal alone, so the crash stays visible when it repeats.
    try:
        _launch_two_ranks(tmp_path)
    except mp.ProcessExitedException as exc:
        if exc.signal_name != "SIGABRT":
            raise
        _launch_two_ranks(tmp_path)
    packages, labels = _refine_and_label(DistContext())
    assert len(packages) == 9
    for name, data in packages.items():
        assert (tmp_path / f"{name}.erpkg").read_bytes() == data, name
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), labels)
