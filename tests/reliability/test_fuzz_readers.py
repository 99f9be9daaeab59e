"""A bounded fuzz of the package and run-file readers: random bytes and mutations (flipped,
overwritten, inserted, cut) of real files from a finished run. Whatever the bytes, a reader
either accepts them or refuses with an ``ElasticrecError``; nothing else escapes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elasticrec import load_run
from elasticrec.elastic.state import load_elastic
from elasticrec.embeddings import load_embeddings
from elasticrec.errors import ElasticrecError
from elasticrec.pipeline import rundir
from elasticrec.runtime import load, load_bytes
from elasticrec.train.checkpoint import read_checkpoint

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """``original`` with a few edits, or a short cut of it, or random bytes."""
    kind = draw(st.sampled_from(["edit", "cut", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=4096))
    data = bytearray(original)
    if kind == "cut":
        return bytes(data[:draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "write", "insert", "delete"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "write":
            data[at:at + 8] = draw(st.binary(min_size=1, max_size=8))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


def originals(workspace: Path) -> dict[str, bytes]:
    return {name: (workspace / name).read_bytes() for name in (
        "good.erpkg", "bundle.erpkg", "good/embeddings.safetensors",
        "good/checkpoint.safetensors", "good/config.json", "good/run.json",
        "rule/elastic.safetensors")}


@pytest.fixture(scope="module")
def files(workspace) -> dict[str, bytes]:
    return originals(workspace)


def accepted_or_refused(read) -> None:
    try:
        read()
    except ElasticrecError:
        pass


@pytest.mark.parametrize("name", ["good.erpkg", "bundle.erpkg"])
def test_package_reader(files, tmp_path, name):
    path = tmp_path / "p.erpkg"

    @FUZZ
    @given(data=mutated(files[name]))
    def check(data):
        accepted_or_refused(lambda: load_bytes(data))
        path.write_bytes(data)
        accepted_or_refused(lambda: load(path))

    check()


READERS = {
    "good/embeddings.safetensors": lambda run: load_embeddings(run),
    "good/checkpoint.safetensors": lambda run: read_checkpoint(run),
    "good/config.json": lambda run: rundir.read_config(run),
    "good/run.json": lambda run: rundir.check_complete(run, rundir.read_config(run)),
    "rule/elastic.safetensors": lambda run: load_elastic(run),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_run_file_reader(workspace, files, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(workspace / name.split("/")[0], run)
    target = run / name.split("/")[1]

    @FUZZ
    @given(data=mutated(files[name]))
    def check(data):
        target.write_bytes(data)
        accepted_or_refused(lambda: READERS[name](run))

    check()


def test_a_whole_run_with_one_damaged_file(workspace, files, tmp_path):
    """``load_run`` and an evaluation of the damaged run: refused by name or correct."""
    run = tmp_path / "run"
    shutil.copytree(workspace / "good", run)
    names = ["embeddings.safetensors", "config.json", "run.json", "result.json"]

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(name=st.sampled_from(names), data=st.data())
    def check(name, data):
        original = (workspace / "good" / name).read_bytes()
        (run / name).write_bytes(data.draw(mutated(original)))
        try:
            accepted_or_refused(lambda: load_run(run).export_detailed(
                "5KB", user="u1"))
        finally:
            (run / name).write_bytes(original)

    check()
