"""The command line loads only the command it runs: the device commands work with NumPy
alone, and a command whose extra is missing says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import elasticrec
from elasticrec.cli import COMMANDS, build_parser, main
from toy_data import clustered

SRC = Path(__file__).resolve().parents[2] / "src"
# Every module of the training stack and the other extras, made unimportable.
BLOCKED = ("torch", "scipy", "safetensors", "tqdm", "pyarrow", "pandas", "onnx",
           "onnxruntime", "starlette", "uvicorn", "matplotlib")


def run_blocked(*argv: str) -> subprocess.CompletedProcess:
    """``elasticrec ARGV`` in a fresh interpreter where the extras cannot be imported."""
    code = textwrap.dedent(f"""
        import sys
        for name in {BLOCKED!r}:
            sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
        from elasticrec.cli import main
        code = main({list(argv)!r})
        loaded = sorted(m for m in {BLOCKED!r} if sys.modules.get(m) is not None)
        print("loaded:", loaded, file=sys.stderr)
        sys.exit(code)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """A real PEEL package of a tiny run, exported at 60% of its item table."""
    users, items = clustered(40, 160, 2500, seed=0)
    base = tmp_path_factory.mktemp("loading")
    run = elasticrec.fit((users, items), method="peel", out=base / "run", model="mf",
                         epochs=2, dim=16, n_blocks=4, n_groups=4, label_configs=12,
                         eval_every=0, n_clusters=2, peel_epochs=1, log=lambda _: None)
    path = base / "user3.erpk"
    path.write_bytes(run.export("60%", user=3))
    return path


def test_device_commands_work_with_numpy_alone(package, tmp_path):
    proc = run_blocked("inspect", str(package))
    assert proc.returncode == 0, proc.stderr
    assert "checksum OK" in proc.stdout and "loaded: []" in proc.stderr
    proc = run_blocked("recommend", str(package), "-k", "5")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 5
    small = tmp_path / "small.erpk"
    proc = run_blocked("shrink", str(package), "--budget", "30%", "--out", str(small))
    assert proc.returncode == 0, proc.stderr
    assert small.stat().st_size < package.stat().st_size
    assert "loaded: []" in proc.stderr


@pytest.mark.parametrize("argv, extra", [
    (["train", "--dataset", "ml-100k", "--out", "x"], "train"),
    (["evaluate", "some/run"], "train"),
    (["export", "some/run", "--budget", "10%", "--user", "1", "--out", "x.erpk"], "train"),
    (["serve", "some/run"], "serve"),
    (["onnx", "x.erpk", "--out", "x.onnx"], "onnx"),
])
def test_a_missing_extra_is_one_line_and_exit_1(argv, extra, tmp_path):
    proc = run_blocked(*argv)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("loaded:")]
    assert len(lines) == 1 and f'pip install "elasticrec[{extra}]"' in lines[0], proc.stderr


def test_only_the_chosen_command_is_imported():
    code = ("import sys; from elasticrec.cli import main\n"
            "try:\n    main(['recommend', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('elasticrec.cli.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC)}, check=True)
    # cli.common (the shared options and the one-line error path; standard library only) and
    # the chosen command, no other command
    assert proc.stdout.strip().splitlines()[-1] == \
        "['elasticrec.cli.common', 'elasticrec.cli.recommend']"


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for name, (_, help_text) in COMMANDS.items():
        assert name in out and help_text in out


def test_full_parser_help_matches_the_table():
    """The one-line help in COMMANDS is the help each command's module registers."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_text for name, (_, help_text) in COMMANDS.items()}


@pytest.mark.parametrize("argv, shown", [
    (["train"], ["--test-ratio TEST_RATIO  (default: 0.2)", "--dim DIM  (default: 64)",
                 "--lr LR Adam learning rate [searched; 0.001 without search]"]),
    (["serve"], ["--host HOST  address to listen on (default: 127.0.0.1)",
                 "(default: 8000)"]),
    (["export"], ["(default: float32)"]),
])
def test_help_shows_defaults(argv, shown, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in shown:
        assert " ".join(text.split()) in out


def test_a_default_stated_in_the_help_is_not_repeated(capsys):
    with pytest.raises(SystemExit):
        main(["recommend", "--help"])
    out = capsys.readouterr().out
    assert "(default 20)" in out and "(default: 20)" not in out


@pytest.mark.parametrize("budgets, message", [
    (["10%", "512KiB"], "unknown dataset 'nope'"),  # well-formed: on to the dataset
    (["10%", "lots"], "'lots'"),
])
def test_demo_checks_its_budgets_before_training(budgets, message, tmp_path, capsys):
    code = main(["demo", "--dataset", "nope", "--budgets", *budgets, "--no-download",
                 "--data-dir", str(tmp_path), "--out", str(tmp_path / "demo")])
    assert code == 2 and message in capsys.readouterr().err
