"""Helpers of the reliability tests: a user's events file, the CLI run in process, a
snapshot of a folder, and the check that a refusal took the one-line form."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from elasticrec.cli import main

TRAIN = ["--model", "mf", "--epochs", "2", "--batch-size", "32", "--dim", "8",
         "--eval-every", "0"]


def write_events(path: Path, *, users: int = 40) -> Path:
    """Four blocks of users, each liking ten items of its own block: string ids, unix times."""
    rng = np.random.default_rng(0)
    lines = ["user,item,ts"]
    for u in range(users):
        for i in rng.choice(10, size=6, replace=False):
            lines.append(f"u{u},item{(u % 4) * 10 + i},{rng.integers(10**9, 2 * 10**9)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of the CLI run in this process (argparse's refusals
    exit through SystemExit, as they do for a user)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` with its kind and, for files, the sha256 of its bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path) or not os.path.isfile(path):
                out[rel] = "special"
            else:
                with open(path, "rb") as fh:
                    out[rel] = hashlib.sha256(fh.read()).hexdigest()
    return out


def assert_refused(code: int, err: str, names: str) -> None:
    """Exit 2, no traceback, and exactly one error line, which names the input."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert code == 2, (code, err)
    assert names in errors[0], (names, errors[0])
