"""`elasticrec stream` end to end on a small timestamped file."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from elasticrec.cli import main
from elasticrec.scall.harness import params_for_bytes, ragged_tables, stored_bytes, table_bytes

KEYS = {"dataset", "method", "segment", "budget_bytes", "package_bytes", "recall@20",
        "ndcg@20", "seconds", "n_users", "n_items"}


@pytest.fixture
def events(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["user,item,ts"]
    for k in range(1500):
        t = k / 1500
        u = int(t * 120 + rng.integers(0, 15))
        i = int(t * 80 + rng.integers(0, 10))
        lines.append(f"u{u},i{i},{1_600_000_000 + k * 60}")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("method", ["su", "mr", "grow", "scall"])
def test_each_segment_is_recorded_and_budgeted_methods_stay_within(tmp_path, events, method,
                                                                    capsys):
    out = tmp_path / method
    code = main(["stream", "--dataset", str(events), "--time-col", "ts", "--budget", "8000",
                 "--method", method, "--out", str(out), "--segments", "4", "--epochs", "2",
                 "--d-max", "16", "--reward-steps", "2"])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "segments.jsonl").read_text().splitlines()]
    assert [r["segment"] for r in records] == [0, 1, 2, 3]
    assert all(KEYS <= set(r) for r in records if r["n_test"])
    within = [r["package_bytes"] <= r["budget_bytes"] for r in records]
    if method == "grow":
        assert within[0] and not all(within)  # sized to the budget once, then it grows out
    else:
        assert all(within)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["within_budget"] == all(within) and summary["segments"] == 4
    assert (out / "agent.safetensors").exists() == (method == "scall")
    # the last segment's stored tables, as written: their values and offsets are the bytes
    stored = load_file(str(out / "embeddings.safetensors"))
    assert table_bytes(stored) == records[-1]["package_bytes"]
    assert len(stored["user_offsets"]) == records[-1]["n_users"] + 1
    assert len(stored["item_values"]) == stored["item_offsets"][-1]


def test_budget_forms_and_errors(tmp_path, events, capsys):
    code = main(["stream", "--dataset", str(events), "--time-col", "ts", "--budget", "c=4",
                 "--method", "su", "--out", str(tmp_path / "c"), "--segments", "2",
                 "--epochs", "1", "--d-max", "8"])
    assert code == 0
    rec = json.loads((tmp_path / "c" / "segments.jsonl").read_text().splitlines()[-1])
    assert rec["budget_bytes"] == 4 * 4 * (rec["n_users"] + rec["n_items"])
    assert main(["stream", "--dataset", str(events), "--time-col", "ts", "--budget", "c=x",
                 "--method", "su", "--out", str(tmp_path / "x")]) == 2
    assert main(["stream", "--dataset", str(events), "--time-col", "ts", "--budget", "100",
                 "--method", "su", "--out", str(tmp_path / "y"), "--segments", "2"]) == 2
    assert "cannot store" in capsys.readouterr().err


def test_stored_bytes_count_values_and_offsets():
    users, items = np.array([3, 0, 2]), np.array([1, 4])
    assert stored_bytes(users, items) == 4 * 10 + 8 * (4 + 2)
    assert params_for_bytes(stored_bytes(users, items), 4) == 10


def test_ragged_tables_keep_each_rows_prefix_and_cost_stored_bytes():
    table = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)  # 2 users, 3 items
    users, items = np.array([3, 0]), np.array([1, 4, 2])
    t = ragged_tables(table, users, items)
    assert t["user_values"].tolist() == [0, 1, 2] and t["user_offsets"].tolist() == [0, 3]
    assert t["user_ids"].tolist() == [0]
    assert t["item_values"].tolist() == [8, 12, 13, 14, 15, 16, 17]
    assert t["item_offsets"].tolist() == [0, 1, 5, 7]
    assert table_bytes(t) == stored_bytes(users, items)

