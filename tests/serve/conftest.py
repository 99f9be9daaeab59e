"""A tiny PEEL run and a tiny RULE run, trained once for the server tests, and a real
`elasticrec serve` process on 127.0.0.1 (a port the kernel picks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import elasticrec

SRC = Path(__file__).resolve().parents[2] / "src"


def tiny_events() -> tuple[np.ndarray, np.ndarray]:
    """Four clusters of users and items; user ids of 1 to 4 digits (ids' lengths matter to
    the header size, so to the cache key)."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, 60, 3000)
    items = (users % 4) * 40 + rng.integers(0, 40, 3000)
    return users * 37, items


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("serve-runs")
    common = dict(model="mf", epochs=2, dim=16, n_blocks=4, n_groups=4, label_configs=12,
                  eval_every=0, log=lambda _: None)
    return {
        "peel": elasticrec.fit(tiny_events(), method="peel", out=base / "peel", n_clusters=3,
                               peel_epochs=1, **common).path,
        "rule": elasticrec.fit(tiny_events(), method="rule", out=base / "rule",
                               **common).path,
    }


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def get(self, path: str, headers: dict | None = None):
        return self.request("GET", path, headers=headers)

    def post(self, path: str, body: bytes):
        return self.request("POST", path, body=body,
                            headers={"Content-Type": "application/json"})

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, path: str) -> tuple[int, dict]:
        status, _, body = self.get(path)
        return status, json.loads(body)


def start_server(run_dir: Path, *extra: str) -> Server:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "elasticrec", "serve", str(run_dir),
                             "--port", "0", *extra], stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if found:
            server = Server(found.group(1), proc)
            while time.monotonic() < deadline:
                try:
                    if server.get("/healthz")[0] == 200:
                        return server
                except OSError:
                    time.sleep(0.1)
            break
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"elasticrec serve did not start: {line}{proc.stderr.read()}")


@pytest.fixture(scope="session")
def peel_server(tiny_runs):
    server = start_server(tiny_runs["peel"])
    yield server
    server.process.terminate()
    server.process.wait(timeout=30)
