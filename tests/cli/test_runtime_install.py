"""The runtime-only install, as a device would have it: a fresh virtual environment with the
project installed without extras (NumPy is its one requirement), running `elasticrec
inspect`, `recommend` and `shrink` on a real package, and a training command saying which
extra it needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

import elasticrec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def device_env(tmp_path_factory) -> Path:
    """The ``bin`` folder of a fresh virtualenv holding the project and NumPy only."""
    base = tmp_path_factory.mktemp("device")
    source = base / "source"  # a copy of what the distribution is built from
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)  # this interpreter's pip installs into it
    python = env_dir / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--quiet", "--disable-pip-version-check", str(source)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"pip install of the project failed:\n{proc.stderr}"
    return env_dir / "bin"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    rng = np.random.default_rng(1)
    users = rng.integers(0, 30, 1500)
    items = (users % 3) * 30 + rng.integers(0, 30, 1500)
    base = tmp_path_factory.mktemp("package")
    run = elasticrec.fit((users, items), method="rule", out=base / "run", model="mf",
                         epochs=2, dim=16, n_blocks=4, n_groups=3, label_configs=10,
                         eval_every=0, log=lambda _: None)
    path = base / "user7.erpk"
    path.write_bytes(run.export("60%", user=7))
    return path


def device(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "elasticrec"), *argv], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "OMP_NUM_THREADS": "1"})


def test_the_install_holds_numpy_and_nothing_of_the_training_stack(device_env):
    code = ("import importlib.util as u; print([m for m in ('numpy', 'torch', 'scipy', "
            "'safetensors', 'pyarrow', 'tqdm', 'starlette') if u.find_spec(m)])")
    proc = subprocess.run([str(device_env / "python"), "-c", code], capture_output=True,
                          text=True, check=True, env={"PATH": str(device_env)})
    assert proc.stdout.strip() == "['numpy']"


def test_inspect_recommend_shrink_on_a_real_package(device_env, package, tmp_path):
    proc = device(device_env, "inspect", str(package))
    assert proc.returncode == 0, proc.stderr
    assert "checksum OK" in proc.stdout
    proc = device(device_env, "recommend", str(package), "-k", "4")
    assert proc.returncode == 0, proc.stderr
    ours = elasticrec.runtime.load(package).recommend(4)
    assert [line.split("\t")[1] for line in proc.stdout.splitlines()] == list(ours.labels)
    small = tmp_path / "small.erpk"
    proc = device(device_env, "shrink", str(package), "--budget", "35%", "--out", str(small))
    assert proc.returncode == 0, proc.stderr
    assert small.read_bytes() == elasticrec.runtime.shrink(
        elasticrec.runtime.load(package), elasticrec.parse_budget(
            "35%", full_table_bytes=90 * 16 * 4))


def test_a_training_command_names_the_extra(device_env, tmp_path):
    proc = device(device_env, "train", "--dataset", "ml-100k", "--out", str(tmp_path / "r"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert 'pip install "elasticrec[train]"' in proc.stderr
