"""The house, checked from the code's own imports: floors, the public API, a torch-free export.

The floors list each top-level part of ``elasticrec`` from the ground up; a module may import
its own part and parts on lower floors, never a part on its own floor or above. The command
line, the package server, the benchmark suites (``elasticrec.bench``), the examples and the
benchmark scripts may import only the public names (``elasticrec.__all__``, the device runtime
``elasticrec.runtime``, the server ``elasticrec.serve``, the suites ``elasticrec.bench``) and
their own folder's modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import elasticrec

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "elasticrec"
FLOORS = [
    {"errors", "checks", "atomic", "version"},
    {"tensorfile"},
    {"embeddings", "budget", "data", "eval", "format"},
    {"models", "runtime"},
    {"train", "export"},
    {"elastic"},
    {"peel", "scall"},
    {"pipeline"},
    {"__init__"},  # the public face loads the pipeline lazily
    {"serve", "bench"},  # consumers of the public API, as the CLI is
    {"cli"},
    {"__main__"},
]
FLOOR = {part: level for level, parts in enumerate(FLOORS) for part in parts}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``elasticrec`` import in a file, at any depth; ``from
    elasticrec import x`` counts as ``elasticrec.x``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "elasticrec":
                out += [(node.lineno, f"elasticrec.{a.name}") for a in node.names]
            elif node.module.startswith("elasticrec."):
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("elasticrec")]
    return out


def part_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def test_every_part_has_a_floor():
    parts = {part_of(p) for p in SRC.rglob("*.py")}
    assert parts == set(FLOOR), f"parts without a floor: {sorted(parts - set(FLOOR))}"


def test_no_part_imports_its_floor_or_above():
    wrong = []
    for path in SRC.rglob("*.py"):
        part = part_of(path)
        for line, module in imports(path):
            target = module.split(".")[1] if "." in module else "__init__"
            if target == part or part == "__init__":
                continue
            if target in FLOOR and FLOOR[target] >= FLOOR[part]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({part}, floor {FLOOR[part]}) "
                             f"imports {module} (floor {FLOOR[target]})")
    assert not wrong, "\n".join(wrong)


def test_train_does_not_import_peel_or_the_pipeline():
    """train/ sits below peel/ (which may use its distributed helpers): no cycle between them."""
    found = [m for p in (SRC / "train").rglob("*.py") for _, m in imports(p)
             if m.startswith(("elasticrec.peel", "elasticrec.pipeline", "elasticrec.elastic"))]
    assert not found, f"train/ imports {found}"


def public(module: str, own: str = "elasticrec.cli") -> bool:
    """A public name, the device runtime, the package server, the command line (its ``main``
    runs a command), or a module of the importing folder's own part."""
    if module == "elasticrec" or module.startswith(("elasticrec.cli", "elasticrec.serve",
                                                    "elasticrec.bench")):
        return True
    if module == own or module.startswith(own + "."):
        return True
    if module == "elasticrec.runtime":
        return True
    name = module.removeprefix("elasticrec.")
    return "." not in name and name in elasticrec.__all__


@pytest.mark.parametrize("folder", ["src/elasticrec/cli", "src/elasticrec/serve", "examples",
                                    "benchmarks", "src/elasticrec/bench"])
def test_cli_benchmarks_and_examples_use_only_the_public_api(folder):
    own = folder.removeprefix("src/").replace("/", ".")
    private = [f"{p.relative_to(ROOT)}:{line} imports {m}"
               for p in sorted((ROOT / folder).rglob("*.py")) for line, m in imports(p)
               if not public(m, own)]
    assert not private, "\n".join(private)


def test_public_names_load_and_are_listed():
    assert set(elasticrec.__all__) == set(elasticrec._PUBLIC) | {"__version__", "runtime"}
    for name in elasticrec.__all__:
        assert getattr(elasticrec, name) is not None
    with pytest.raises(AttributeError, match="no attribute"):
        elasticrec.not_a_name  # noqa: B018


def test_export_modules_work_with_torch_blocked(tmp_path):
    """Every module on the export path imports, and a RULE and a PEEL export run, with
    PyTorch made unimportable (a package for a new budget comes in well under a second)."""
    code = f"""
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import importlib
for name in ("elasticrec", "elasticrec.cli", "elasticrec.cli.export", "elasticrec.pipeline.run",
             "elasticrec.pipeline.export", "elasticrec.peel.export", "elasticrec.peel.select",
             "elasticrec.elastic.select", "elasticrec.export.builder",
             "elasticrec.pipeline.stream_export"):
    importlib.import_module(name)
from elasticrec.cli import build_parser
build_parser()
import elasticrec
print(elasticrec.load_run({str(RUNS['peel'])!r}).export("60%", user=3)[:8])
print(elasticrec.load_run({str(RUNS['rule'])!r}).export("60%", user=3)[:8])
print(sorted(m for m in ("torch", "scipy.stats", "pyarrow") if sys.modules.get(m)))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


RUNS: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def tiny_runs(tmp_path_factory):
    """A RULE and a PEEL run on a tiny clustered dataset, trained once for this module."""
    import numpy as np

    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 2500)
    items = (users % 4) * 40 + rng.integers(0, 40, 2500)
    base = tmp_path_factory.mktemp("runs")
    common = dict(model="mf", epochs=2, dim=16, n_blocks=4, n_groups=4, label_configs=12,
                  eval_every=0, log=lambda _: None)
    RUNS["rule"] = elasticrec.fit((users, items), method="rule", out=base / "rule",
                                  **common).path
    RUNS["peel"] = elasticrec.fit((users, items), method="peel", out=base / "peel",
                                  n_clusters=2, peel_epochs=1, **common).path
    yield
