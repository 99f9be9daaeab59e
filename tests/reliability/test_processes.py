"""Refusals that need a real process: a native abort at interpreter exit (the LightGCN
reader's parse error, once rc 134 ``terminate called without an active exception``), and
FIFOs or devices given as data or packages (a read of one would block forever or never end),
each run with a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_tools import TRAIN, snapshot

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                      os.environ.get("PYTHONPATH", "")])}


def run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout, check=False)


def big_lightgcn(folder: Path, bad: str) -> Path:
    """A LightGCN-format folder of about 5 MB (several of pyarrow's blocks) whose sixth line
    holds ``bad``: the parse fails while later blocks are still being read."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5000, size=(20_000, 50))
    lines = [f"{u} " + " ".join(map(str, row)) for u, row in enumerate(ids)]
    lines[5] = f"5 {bad} 4"
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    (folder / "test.txt").write_text("0 1\n")
    return folder


def test_a_bad_lightgcn_token_exits_cleanly(tmp_path):
    bad = "x3"  # pyarrow fails to parse it, with later blocks still being read
    folder = big_lightgcn(tmp_path / "lg", bad)
    reader = ("from elasticrec.data.lightgcn_format import read_lightgcn_file\n"
              "from elasticrec.errors import ElasticrecError\n"
              "for _ in range(20):\n"
              "    try:\n"
              f"        read_lightgcn_file({str(folder / 'train.txt')!r})\n"
              "    except ElasticrecError:\n"
              "        pass\n"
              "    else:\n"
              "        raise SystemExit('accepted a bad file')\n")
    for _ in range(2):  # the abort came at exit, intermittently: several processes
        done = run([sys.executable, "-c", reader], tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "terminate" not in done.stderr
    done = run([sys.executable, "-m", "elasticrec", "train", "--dataset", "lg", "--out", "out",
                *TRAIN], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(
        "elasticrec train: error: lg/train.txt line 6: item id")
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


CASES = [
    (["inspect", "pipe.erpkg"], "pipe.erpkg"),
    (["recommend", "pipe.erpkg"], "pipe.erpkg"),
    (["evaluate", "good", "--package", "pipe.erpkg"], "pipe.erpkg"),
    (["train", "--dataset", "pipe.erpkg", "--out", "out", *TRAIN], "pipe.erpkg"),
    (["inspect", "/dev/zero"], "/dev/zero"),
    (["train", "--dataset", "/dev/zero", "--out", "out", *TRAIN], "/dev/zero"),
    (["export", "fifo-run", "--budget", "5KB", "--user", "u1", "--out", "o.erpkg"],
     "fifo-run/config.json"),
]
# Runs every case through the CLI in one process (a hang fails the whole run by timeout)
# and prints, per case, the exit status and the last line of stderr.
DRIVER = """
import contextlib, io, json, sys
from elasticrec.cli import main
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    print(json.dumps([code, err.getvalue()]), flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_and_devices_are_refused_not_read(workspace, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    for run_name in ("good", "fifo-run"):
        (ws / run_name).mkdir()
        for name in os.listdir(workspace / "good"):
            os.link(workspace / "good" / name, ws / run_name / name)
    (ws / "fifo-run" / "config.json").unlink()  # a FIFO in place of a run file
    os.mkfifo(ws / "fifo-run" / "config.json")
    os.mkfifo(ws / "pipe.erpkg")
    before = snapshot(ws)
    done = run([sys.executable, "-c", DRIVER, json.dumps([argv for argv, _ in CASES])], ws,
               timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(CASES)
    for (argv, names), (code, err) in zip(CASES, results, strict=True):
        last = err.strip().splitlines()[-1]
        assert code == 2, (argv, err)
        assert last.startswith(f"elasticrec {argv[0]}: error: ") and names in last, last
        assert "Traceback" not in err
    assert snapshot(ws) == before
