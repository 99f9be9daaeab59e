"""The package commands end to end: export, inspect, recommend, shrink, onnx."""

from __future__ import annotations

import json

import numpy as np
import pytest

import elasticrec
from elasticrec.cli import main
from elasticrec.embeddings import RunEmbeddings
from elasticrec.runtime import load
from toy_data import run_folder

N_ITEMS, DIM = 200, 8


@pytest.fixture
def run_dir(tmp_path):
    rng = np.random.default_rng(0)
    return run_folder(tmp_path / "run", RunEmbeddings(
        user=rng.standard_normal((5, DIM), dtype=np.float32),
        item=rng.standard_normal((N_ITEMS, DIM), dtype=np.float32),
        dataset="toy", dataset_fingerprint="f00", model="mf",
        user_labels=[f"u{i}" for i in range(5)], item_labels=[str(3 * i) for i in range(N_ITEMS)],
    ))


def test_export_inspect_recommend_shrink(run_dir, tmp_path, capsys):
    out = tmp_path / "a.erpk"
    assert main(["export", str(run_dir), "--budget", "50%", "--user", "u2", "--out",
                 str(out)]) == 0
    budget = N_ITEMS * DIM * 4 // 2
    pkg = load(out)
    assert out.stat().st_size == pkg.file_bytes <= budget
    assert pkg.users == ("u2",) and 0 < pkg.manifest.layout.width < DIM
    capsys.readouterr()

    assert main(["inspect", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sum(summary["bytes"].values()) == summary["file_bytes"] == pkg.file_bytes
    assert main(["inspect", str(out)]) == 0
    assert "checksum OK" in capsys.readouterr().out

    assert main(["recommend", str(out), "-k", "3", "--exclude", "0", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = pkg.recommend(3, exclude=pkg.item_index(["0", "3"]))
    assert [line.split("\t")[1] for line in lines] == list(expected.labels)

    small = tmp_path / "b.erpk"
    target = pkg.file_bytes - 500
    assert main(["shrink", str(out), "--budget", str(target), "--out", str(small)]) == 0
    assert small.stat().st_size <= target
    assert main(["shrink", str(small), "--budget", "1MB", "--out", str(tmp_path / "c")]) == 2
    assert "needs the server" in capsys.readouterr().err


def test_column_scales_leave_the_bytes_per_item_to_values(run_dir, tmp_path):
    budget = 2300  # about 11 bytes an item: row scales alone take 4 of them
    paths = {scales: tmp_path / f"{scales}.erpk" for scales in ("row", "column")}
    for scales, path in paths.items():
        assert main(["export", str(run_dir), "--budget", str(budget), "--user", "u1",
                     "--dtype", "int4", "--scales", scales, "--out", str(path)]) == 0
    row, column = (load(paths[s]) for s in ("row", "column"))
    assert row.manifest.version == 2 and column.manifest.version == 5
    assert column.manifest.scales == "column" and column.tensors["scales"].shape == (DIM,)
    assert column.manifest.layout.width > row.manifest.layout.width
    assert max(row.file_bytes, column.file_bytes) <= budget


def test_export_without_user_bounds_each_single_user_package(run_dir, tmp_path, capsys):
    out = tmp_path / "all.erpk"
    assert main(["export", str(run_dir), "--budget", "3000", "--dtype", "int8", "--all-users",
                 "--out", str(out)]) == 0
    pkg = load(out)
    assert len(pkg.users) == 5 and pkg.file_bytes > 3000 >= pkg.device_bytes()
    assert all(len(pkg.for_user(u)) <= 3000 for u in pkg.users)
    assert main(["recommend", str(out), "--user", "u4", "-k", "2"]) == 0
    assert main(["recommend", str(out), "--history", "0", "3", "6", "-k", "2"]) == 0


def test_errors_are_one_line_and_exit_2(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--budget", "100B", "--user", "u1", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "over the budget" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    assert main(["export", str(run_dir), "--budget", "2XB", "--user", "u1", "--out",
                 str(tmp_path / "x")]) == 2
    assert main(["export", str(run_dir), "--budget", "1MB", "--user", "nobody", "--out",
                 str(tmp_path / "x")]) == 2
    bad = tmp_path / "bad.erpk"
    bad.write_bytes(b"\x00" * 20)
    assert main(["inspect", str(bad)]) == 2
    assert "elasticrec inspect: error:" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["onnx", "ort"])
def test_onnx_export_within_its_budget(run_dir, tmp_path, fmt, capsys):
    ort = pytest.importorskip("onnxruntime")
    from elasticrec.export.onnx import options_for_reading

    out = tmp_path / "a.erpk"
    assert main(["export", str(run_dir), "--budget", "100%", "--user", "u1", "--dtype", "int4",
                 "--out", str(out)]) == 0
    model = tmp_path / f"m.{fmt}"
    assert main(["onnx", str(out), "-k", "5", "--format", fmt, "--out", str(model)]) == 0
    session = ort.InferenceSession(str(model), options_for_reading(),
                                   providers=["CPUExecutionProvider"])
    _, _, items, ids = session.run(None, {"exclude": np.zeros(0, np.int64)})
    np.testing.assert_array_equal(items, load(out).recommend(5).items)
    assert [str(x) for x in ids] == list(load(out).recommend(5).labels)
    if fmt == "onnx":  # a budget below the model: the package shrinks until the model fits
        budget = model.stat().st_size - 300
        small = tmp_path / f"s.{fmt}"
        assert main(["onnx", str(out), "-k", "5", "--format", fmt, "--budget", str(budget),
                     "--out", str(small)]) == 0
        assert small.stat().st_size <= budget
        assert "shrunk" in capsys.readouterr().out
    assert main(["onnx", str(out), "-k", "5", "--format", fmt, "--budget", "300",
                 "--out", str(tmp_path / "x")]) == 2
    assert "over the budget" in capsys.readouterr().err and not (tmp_path / "x").exists()


@pytest.mark.parametrize("command", ["export", "inspect", "recommend", "shrink", "onnx"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: elasticrec " + command in capsys.readouterr().out


def test_int4_export_fits_twice_the_width_of_int8(run_dir, tmp_path, capsys):
    widths = {}
    for dtype in ("int8", "int4"):
        out = tmp_path / f"{dtype}.erpk"
        assert main(["export", str(run_dir), "--budget", "2400", "--user", "u2", "--dtype",
                     dtype, "--out", str(out)]) == 0
        pkg = load(out)
        assert pkg.file_bytes <= 2400 and pkg.manifest.value_dtype == dtype
        widths[dtype] = pkg.manifest.layout.width
    assert widths["int4"] > widths["int8"]
    assert main(["recommend", str(tmp_path / "int4.erpk"), "-k", "3"]) == 0
    assert main(["inspect", str(tmp_path / "int4.erpk")]) == 0
    text = capsys.readouterr().out
    assert "values int4, row scales" in text
    assert "ids:     delta-coded increasing integers from 0" in text


def test_catalogue_ids_and_seen_items(run_dir, tmp_path, capsys):
    out = tmp_path / "c.erpk"
    assert main(["export", str(run_dir), "--budget", "3000", "--history", "0", "3", "6",
                 "--seen", "--item-ids", "catalogue", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["recommend", str(out), "-k", "3"]) == 2
    assert "catalogue" in capsys.readouterr().err
    catalogue = tmp_path / "items.txt"
    catalogue.write_text("\n".join(str(3 * i) for i in range(N_ITEMS)) + "\n")
    assert main(["recommend", str(out), "-k", str(N_ITEMS), "--catalogue", str(catalogue)]) == 0
    shown = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
    assert len(shown) == N_ITEMS - 3 and not {"0", "3", "6"} & set(shown)
    assert main(["recommend", str(out), "-k", str(N_ITEMS), "--catalogue", str(catalogue),
                 "--include-seen"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == N_ITEMS
    assert main(["inspect", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["item_ids"] == "catalogue" and summary["seen_items"] == 3
    assert summary["bytes"]["seen"] == 6 and summary["item_id_map_bytes"] < 130


def test_a_stream_run_exports_ragged_packages(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lines = ["user,item,ts"]
    for k in range(1200):
        t = k / 1200
        user, item = int(t * 100 + rng.integers(0, 15)), int(t * 60 + rng.integers(0, 10))
        lines.append(f"u{user},i{item},{1_600_000_000 + k * 60}")
    events = tmp_path / "events.csv"
    events.write_text("\n".join(lines) + "\n")
    stream_dir = tmp_path / "stream"
    assert main(["stream", "--dataset", str(events), "--time-col", "ts", "--budget", "8000",
                 "--method", "su", "--out", str(stream_dir), "--segments", "3", "--epochs",
                 "1", "--d-max", "16"]) == 0
    user = elasticrec.load_stream(stream_dir).user_ids[0]
    for dtype, budget in (("float32", "1MB"), ("int4", "2000")):
        out = tmp_path / f"s-{dtype}.erpk"
        assert main(["export", str(stream_dir), "--budget", budget, "--user", user,
                     "--dtype", dtype, "--out", str(out)]) == 0, capsys.readouterr().err
        pkg = load(out)
        assert pkg.manifest.layout.to_json()["kind"] == "ragged"
        assert pkg.manifest.value_dtype == dtype and pkg.users == (user,)
        assert len(pkg.recommend(5).items) == 5
    assert load(tmp_path / "s-int4.erpk").file_bytes <= 2000
    assert main(["export", str(stream_dir), "--budget", "1MB", "--user", user, "--basis",
                 "svd", "--out", str(tmp_path / "no.erpk")]) == 2
    assert "--basis is for train runs" in capsys.readouterr().err
