"""No code runs from a file: nothing in elasticrec unpickles (no pickle, no ``torch.load``,
no ``np.load`` with pickles allowed, no ``eval``/``exec``), and a pickled checkpoint put in
a run folder is refused as unreadable, never loaded."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
import torch

from elasticrec.errors import ElasticrecError
from elasticrec.train.checkpoint import read_checkpoint

SRC = Path(__file__).resolve().parents[2] / "src" / "elasticrec"


def calls_and_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [n for n in names if n.split(".")[0] in ("pickle", "dill", "cloudpickle",
                                                              "marshal", "shelve")]
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("eval", "exec", "torch.load", "pickle.load", "pickle.loads"):
                found.append(name)
            if name in ("np.load", "numpy.load") and not any(
                    k.arg == "allow_pickle" and isinstance(k.value, ast.Constant)
                    and k.value.value is False for k in node.keywords):
                found.append(f"{name} without allow_pickle=False")
    return found


def test_no_module_unpickles_or_evaluates():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        wrong += [f"{path.relative_to(SRC)}: {x}" for x in calls_and_imports(
            ast.parse(path.read_text()))]
    assert not wrong, wrong


def test_a_pickled_checkpoint_is_refused_not_loaded(workspace, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(workspace / "good", run)
    torch.save({"model": torch.zeros(3)}, run / "checkpoint.safetensors")
    with pytest.raises(ElasticrecError, match=r"checkpoint\.safetensors: unreadable"):
        read_checkpoint(run)
