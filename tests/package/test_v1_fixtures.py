"""Packages written by format version 1 (committed files, made before version 2) still load,
score and recommend exactly as they did: readers of version 1 keep working."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from elasticrec.runtime import load, load_bytes, shrink

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "v1_expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_version_1_package_loads_and_scores_as_it_did(name):
    expected = EXPECTED[name]
    pkg = load(FIXTURES / f"{name}.erpk")
    assert pkg.manifest.version == 1
    assert pkg.file_bytes == expected["bytes"]
    user = expected["user"]
    np.testing.assert_array_equal(pkg.scores(pkg.user_vector(user)),
                                  np.array(expected["scores"], dtype=np.float32))
    assert list(pkg.recommend(5, user=user).labels) == expected["top5"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_version_1_package_shrinks_to_a_version_1_package(name):
    pkg = load(FIXTURES / f"{name}.erpk")
    data = shrink(pkg, pkg.device_bytes() - 1)
    out = load_bytes(data)
    assert out.manifest.version == 1 and len(data) <= pkg.device_bytes() - 1
