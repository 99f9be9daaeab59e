"""Kill and resume: `elasticrec train` SIGKILLed at a random point of its schedule (between
or during the writes of its checkpoint), then `--resume`d, gives embeddings bit-identical to
an uninterrupted run of the same command."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from reliability_tools import write_events
from safetensors.numpy import load_file

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                      os.environ.get("PYTHONPATH", "")])}
EPOCHS = 12


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "elasticrec", "train", "--dataset", "events.csv",
            "--model", "mf", "--out", str(out), "--epochs", str(EPOCHS), "--batch-size", "16",
            "--dim", "8", "--eval-every", "0", "--lr", "0.01", "--seed", "3", *extra]


def epochs_done(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    write_events(tmp_path / "events.csv", users=240)
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    stop_after, delay = rng.randrange(1, EPOCHS - 2), rng.uniform(0, 0.05)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(killed), cwd=tmp_path, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while epochs_done(killed) < stop_after and proc.poll() is None:
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.005)
    time.sleep(delay)
    assert proc.poll() is None, f"the run ended before the kill (seed {seed})"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "run.json").exists(), "a killed run must not look finished"

    resumed = subprocess.run(command(killed, "--resume"), cwd=tmp_path, env=ENV,
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, (seed, resumed.stderr[-2000:])
    straight = subprocess.run(command(tmp_path / "straight"), cwd=tmp_path, env=ENV,
                              capture_output=True, text=True, timeout=300, check=False)
    assert straight.returncode == 0, straight.stderr[-2000:]

    a = load_file(str(killed / "embeddings.safetensors"))
    b = load_file(str(tmp_path / "straight" / "embeddings.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), (
            f"{key} differs after a kill at epoch {stop_after} + {delay:.3f}s (seed {seed})")
    assert epochs_done(killed) == EPOCHS
