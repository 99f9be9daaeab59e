import json
import subprocess
import sys

import numpy as np
import pytest

from elasticrec.cli import main


@pytest.fixture
def events_csv(tmp_path):
    """A block-structured toy dataset as a user's own CSV file (string ids, timestamps)."""
    rng = np.random.default_rng(0)
    lines = ["user,item,ts"]
    for u in range(40):
        block = u % 4
        for i in rng.choice(10, size=6, replace=False):
            lines.append(f"u{u},item{block * 10 + i},{rng.integers(10**9, 2 * 10**9)}")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_evaluate_json(tmp_path, events_csv, capsys):
    run = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", "--dataset", str(events_csv), "--model", "mf",
                           "--out", str(run), "--epochs", "3", "--batch-size", "32",
                           "--dim", "8", "--eval-every", "0")
    assert code == 0
    assert "recall@20" in out
    for name in ("config.json", "metrics.jsonl", "checkpoint.safetensors",
                 "embeddings.safetensors", "result.json"):
        assert (run / name).is_file(), name
    code, out, _ = run_cli(capsys, "evaluate", str(run), "--json", "--k", "5", "20")
    assert code == 0
    record = json.loads(out)
    assert {"recall@20", "ndcg@20", "recall@5", "precision@5", "hitrate@20"} <= set(record)
    trained = json.loads((run / "result.json").read_text())
    assert record["recall@20"] == pytest.approx(trained["recall@20"])


def test_init_std_reaches_the_model(tmp_path, events_csv, capsys):
    """--init-std sets the N(0, s) initialisation: one epoch at a tiny learning rate from
    1e-4 (SimpleX's initialisation; docs/training.md) keeps every row that small."""
    from safetensors.numpy import load_file

    run = tmp_path / "run"
    code, _, _ = run_cli(capsys, "train", "--dataset", str(events_csv), "--model", "mf",
                         "--out", str(run), "--epochs", "1", "--batch-size", "4096",
                         "--dim", "8", "--eval-every", "0", "--init-std", "1e-4",
                         "--loss", "bpr", "--lr", "1e-6")
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert json.dumps(config).count('"init_std": 0.0001') == 1
    ckpt = load_file(str(run / "checkpoint.safetensors"))
    table = next(v for k, v in ckpt.items() if k.endswith("embedding"))
    assert 0 < np.abs(table).max() < 1e-3


def test_lightgcn_with_validation_and_resume(tmp_path, events_csv, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", str(events_csv), "--model", "lightgcn", "--out", str(run),
            "--batch-size", "64", "--dim", "8", "--layers", "2", "--valid-ratio", "0.2",
            "--eval-every", "1", "--split", "temporal", "--time-col", "ts"]
    assert run_cli(capsys, *args, "--epochs", "2")[0] == 0
    code, _, err = run_cli(capsys, *args, "--epochs", "2")
    assert code == 2 and "--resume" in err
    assert run_cli(capsys, *args, "--epochs", "3", "--resume")[0] == 0
    epochs = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "nope", "--out", "x"], "unknown dataset 'nope'"),
        (["train", "--dataset", "missing.csv", "--out", "x"], "missing.csv"),
        (["evaluate", "no/such/run"], "config.json"),
        (["train", "--dataset", "ml-100k", "--out", "x", "--batch-size", "0"], "batch_size=0"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_malformed_file_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\n1,2\n3\n")
    code, _, err = run_cli(capsys, "train", "--dataset", str(bad), "--out", str(tmp_path / "r"))
    assert code == 2
    assert "bad.csv" in err and "line 3" in err


@pytest.mark.parametrize("cmd", [[], ["train"], ["evaluate"], ["datasets"], ["demo"]])
def test_help_everywhere(cmd, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*cmd, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "elasticrec", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("elasticrec "), proc.stderr


def test_full_budget_package_evaluates_like_the_model(tmp_path, events_csv, capsys):
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "--dataset", str(events_csv), "--model", "mf", "--out",
                   str(run), "--epochs", "2", "--batch-size", "32", "--dim", "8",
                   "--eval-every", "0")[0] == 0
    full, small = tmp_path / "full.erpkg", tmp_path / "small.erpkg"
    assert run_cli(capsys, "export", str(run), "--budget", "1MB", "--all-users", "--out",
                   str(full))[0] == 0
    assert run_cli(capsys, "export", str(run), "--budget", "1800", "--all-users", "--out",
                   str(small))[0] == 0
    code, out, _ = run_cli(capsys, "evaluate", str(run), "--json", "--package", str(full),
                           str(small))
    assert code == 0
    records = json.loads(out)
    model = json.loads((run / "result.json").read_text())
    assert records[0]["recall@20"] == pytest.approx(model["recall@20"], abs=1e-12)
    assert records[0]["ndcg@20"] == pytest.approx(model["ndcg@20"], abs=1e-12)
    assert records[1]["device_bytes"] < records[0]["device_bytes"]
    assert all(r["package_bytes"] == p.stat().st_size
               for r, p in zip(records, (full, small), strict=True))


def test_package_from_another_dataset_is_refused(tmp_path, events_csv, capsys):
    run = tmp_path / "run"
    other = tmp_path / "other.csv"
    other.write_text(events_csv.read_text().replace("item1,", "item2,"))
    for name, data in (("run", events_csv), ("run2", other)):
        assert run_cli(capsys, "train", "--dataset", str(data), "--model", "mf", "--out",
                       str(tmp_path / name), "--epochs", "1", "--dim", "4",
                       "--eval-every", "0")[0] == 0
    pkg = tmp_path / "p.erpkg"
    assert run_cli(capsys, "export", str(tmp_path / "run2"), "--budget", "1MB", "--all-users",
                   "--out", str(pkg))[0] == 0
    code, _, err = run_cli(capsys, "evaluate", str(run), "--package", str(pkg))
    assert code == 2 and "fingerprint" in err


def test_rule_train_then_export_at_any_budget(tmp_path, events_csv, capsys):
    from elasticrec.runtime import load

    run = tmp_path / "rule"
    code, out, err = run_cli(capsys, "train", "--dataset", str(events_csv), "--model", "mf",
                             "--method", "rule", "--out", str(run), "--epochs", "4",
                             "--batch-size", "32", "--dim", "8", "--blocks", "4",
                             "--item-groups", "4", "--label-configs", "20", "--eval-every", "0")
    assert code == 0, err
    assert "rule" in out and "Spearman" in err
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "rule" and config["data"]["valid_ratio"] == 0.1
    result = json.loads((run / "result.json").read_text())
    assert -1 <= result["estimator"]["spearman_held_out"] <= 1
    assert result["estimator"]["n_labelled"] == 20
    sizes = []
    for budget in (1800, 2200, 4000):  # bytes; the header alone is over a kilobyte here
        out_file = tmp_path / f"p{budget}.erpk"
        code, out, err = run_cli(capsys, "export", str(run), "--budget", str(budget), "--user",
                                 "u3", "--out", str(out_file))
        assert code == 0, err
        pkg = load(out_file)
        assert out_file.stat().st_size == pkg.file_bytes <= budget
        assert pkg.manifest.layout.to_json()["kind"] == "blocks" and "search in" in out
        sizes.append(pkg.manifest.layout.n_shipped_blocks())
    assert min(sizes) >= 40  # a block per group at least; more is the estimator's call
    code, _, err = run_cli(capsys, "export", str(run), "--budget", "5%", "--user", "u3",
                           "--out", str(tmp_path / "tiny.erpk"))
    assert code == 2 and "one block per item group needs" in err
    assert not (tmp_path / "tiny.erpk").exists()
    code, _, err = run_cli(capsys, "train", "--dataset", str(events_csv), "--method", "rule",
                           "--out", str(tmp_path / "r2"), "--valid-ratio", "0", "--epochs", "1")
    assert code == 2 and "validation split" in err


def test_peel_train_then_export_per_user(tmp_path, events_csv, capsys):
    from elasticrec.runtime import load

    run = tmp_path / "peel"
    code, out, err = run_cli(capsys, "train", "--dataset", str(events_csv), "--model", "mf",
                             "--method", "peel", "--out", str(run), "--epochs", "3",
                             "--batch-size", "32", "--dim", "8", "--blocks", "4",
                             "--item-groups", "4", "--label-configs", "12", "--eval-every", "0",
                             "--clusters", "2", "--peel-epochs", "2")
    assert code == 0, err
    assert "PEEL: 2 user groups" in err and "peel" in out
    result = json.loads((run / "result.json").read_text())
    assert 0 <= result["personalised"]["recall@20"] <= 1
    assert (run / "peel.safetensors").is_file()
    for budget in (1800, 4000):
        path = tmp_path / f"u{budget}.erpk"
        code, out, err = run_cli(capsys, "export", str(run), "--budget", str(budget), "--user",
                                 "u7", "--out", str(path))
        assert code == 0, err
        assert "user group" in out and path.stat().st_size <= budget
        assert load(path).users == ("u7",)
    code, _, err = run_cli(capsys, "export", str(run), "--budget", "4000", "--all-users",
                           "--out", str(tmp_path / "all.erpk"))
    assert code == 2 and "give a user or a history" in err
    new = tmp_path / "new.erpk"
    code, out, err = run_cli(capsys, "export", str(run), "--budget", "4000", "--history",
                             "item1", "item2", "item5", "--out", str(new))
    assert code == 0, err
    pkg = load(new)
    assert pkg.users == ("new",) and new.stat().st_size <= 4000
    assert set(pkg.recommend(3, exclude=pkg.item_index(["item1"])).labels) <= {
        f"item{i}" for i in range(40)}
    code, _, err = run_cli(capsys, "export", str(run), "--budget", "4000", "--history",
                           "nope", "--out", str(tmp_path / "x.erpk"))
    assert code == 2 and "nope" in err


def test_export_and_package_commands_import_no_training_stack():
    """A package for a new budget must come in seconds: the export path loads neither
    PyTorch, SciPy's statistics nor pyarrow."""
    code = ("import sys; from elasticrec.cli import build_parser; build_parser(); "
            "import elasticrec.cli.export, elasticrec.elastic.select, elasticrec.peel.select; "
            "print(sorted(m for m in ('torch', 'scipy.stats', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
