"""Where and when a record was measured: the date, the machine and the code's commit (the
fields every benchmark record carries; ``benchmarks/results.py`` uses these too)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

import elasticrec


def provenance(commit: str) -> dict:
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(), "commit": commit}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def code_commit(pathspec: tuple[str, ...] = ("src",)) -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes under ``pathspec``), else
    the version: taken once, at the start of a run, since a commit made while it runs is not
    its code."""
    root = Path(elasticrec.__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *pathspec], cwd=root, check=True, capture_output=True,
                               text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"elasticrec {elasticrec.__version__}"
    return sha + ("-dirty" if dirty.strip() else "")
