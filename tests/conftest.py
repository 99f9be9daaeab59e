"""Shared fixtures: where the real datasets are, for tests marked ``slow``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_datasets() -> Path | None:
    """``ELASTICREC_DATA`` if set, else ``../shared/datasets`` beside the checkout, if present."""
    env = os.environ.get("ELASTICREC_DATA")
    for candidate in (env, REPO_ROOT.parent / "shared" / "datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    return None


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder of real datasets (``<dir>/<name>/...``); skips the test when there is none."""
    found = find_shared_datasets()
    if found is None:
        pytest.skip(
            "real datasets not found: set ELASTICREC_DATA or place them at "
            f"{REPO_ROOT.parent / 'shared' / 'datasets'}"
        )
    return found
