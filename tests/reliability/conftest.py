"""The bad-input corpus's workspace: a user's CSV, finished runs (plain, RULE, and one on
other data), a package and every-user bundles, built once; each case gets its own copy of
it and runs the CLI in process from inside that copy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from reliability_tools import TRAIN, write_events

from elasticrec.cli import main


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        write_events(root / "events.csv")
        (root / "other").mkdir()
        write_events(root / "other" / "events.csv", users=36)
        for argv in (
            ["train", "--dataset", "other/events.csv", "--out", "other/run", *TRAIN],
            ["export", "other/run", "--budget", "5KB", "--all-users", "--out",
             "other/bundle.erpkg"],
            ["train", "--dataset", "events.csv", "--out", "good", *TRAIN],
            ["train", "--dataset", "events.csv", "--out", "rule", "--method", "rule",
             "--blocks", "4", "--item-groups", "2", "--label-configs", "10", *TRAIN],
            ["export", "good", "--budget", "5KB", "--user", "u1", "--out", "good.erpkg"],
            ["export", "good", "--budget", "5KB", "--all-users", "--out", "bundle.erpkg"],
        ):
            assert main(argv) == 0, argv
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture
def sandbox(workspace, tmp_path, monkeypatch) -> Path:
    """A private copy of the workspace, made the working directory."""
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws, symlinks=True)
    monkeypatch.chdir(ws)
    return ws
