"""The examples run as a newcomer runs them, each in a fresh process, in the same folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, cwd: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_train_export_then_device(tmp_path):
    out = run_example("train_and_export.py", tmp_path)
    assert "package at 20%" in out and (tmp_path / "example-user.erpkg").is_file()
    assert (tmp_path / "example-user.erpkg").stat().st_size <= 5120  # 20% of 200 x 32 x 4
    out = run_example("device.py", tmp_path, "example-user.erpkg")
    assert "shrunk on the device" in out and "for a new user" in out


def test_stream_under_a_fixed_budget(tmp_path):
    out = run_example("stream.py", tmp_path)
    assert "every segment within budget: True" in out and "device package for user" in out
