"""elasticrec: train recommenders once, ship every device a model that fits its memory budget.

The public API (the CLI, the demo and the benchmarks use nothing else)::

    import elasticrec
    run = elasticrec.fit(df, model="lightgcn", method="rule", epochs=40)  # -> Run
    run.evaluate(k=(20,))                          # test metrics of the server model
    run.evaluate(budget="10%")                     # ... of what ships at 10%, on the runtime
    items, scores = run.recommend([42, 7], k=20)   # for users by their own ids
    package = run.export("10%", user=42)           # a device package: bytes within 10%
    peel = run.personalise(n_clusters=4)           # RULE run -> PEEL run, no retraining
    run = elasticrec.load_run("runs/mine")         # a finished run folder, checked
    s = elasticrec.stream(events, budget="c=16", method="scall")   # -> StreamRun
    elasticrec.run_bench("quick", out="bench")     # every method and baseline, 3 budgets

``elasticrec.runtime`` is the device face (NumPy only): load a package, recommend, shrink.
Names are loaded on first use, so ``import elasticrec.runtime`` stays free of PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from elasticrec.version import __version__

# Each public name and the module that defines it (loaded on first use).
_PUBLIC: dict[str, str] = {
    "fit": "elasticrec.pipeline.fit",
    "resumable": "elasticrec.pipeline.fit",
    "Run": "elasticrec.pipeline.run",
    "load_run": "elasticrec.pipeline.run",
    "stream": "elasticrec.pipeline.stream",
    "StreamRun": "elasticrec.pipeline.stream",
    "load_stream": "elasticrec.pipeline.stream",
    "option_names": "elasticrec.pipeline.options",
    "profile_steps": "elasticrec.pipeline.profile",
    "option_choices": "elasticrec.pipeline.options",
    "plain_defaults": "elasticrec.pipeline.options",
    "Exported": "elasticrec.pipeline.export",
    "export_embeddings": "elasticrec.pipeline.export",
    "export_pq": "elasticrec.pipeline.pq_export",
    "export_qr": "elasticrec.pipeline.qr_export",
    "qr_shape": "elasticrec.pipeline.qr_export",
    "mixed_shape": "elasticrec.pipeline.mixed_shape",
    "package_to_onnx": "elasticrec.export.onnx",
    "package_to_ort": "elasticrec.export.onnx",
    "ElasticrecError": "elasticrec.errors",
    "ConfigError": "elasticrec.checks",
    "run_bench": "elasticrec.bench.runner",
    "BenchSuite": "elasticrec.bench.suites",
    "BenchData": "elasticrec.bench.suites",
    "DistContext": "elasticrec.train.distributed",
    "from_environment": "elasticrec.train.distributed",
    "process_group": "elasticrec.train.distributed",
    "parse_budget": "elasticrec.budget.units",
    "parse_stream_budget": "elasticrec.budget.units",
    "format_bytes": "elasticrec.budget.units",
    "BudgetExceeded": "elasticrec.budget.fit",
    "DenseSelection": "elasticrec.budget.selection",
    "BlockSelection": "elasticrec.budget.selection",
    "RaggedSelection": "elasticrec.budget.selection",
    "locked": "elasticrec.atomic",
    "write_bytes": "elasticrec.atomic",
    "write_text": "elasticrec.atomic",
    "load_dataset": "elasticrec.data.dataset",
    "Dataset": "elasticrec.data.dataset",
    "Interactions": "elasticrec.data.interactions",
    "DATASETS": "elasticrec.data.registry",
    "resolve_data_dir": "elasticrec.data.registry",
    "dataset_status": "elasticrec.data.folder",
    "evaluate_ranking": "elasticrec.eval.evaluate",
    "score_fn_from_embeddings": "elasticrec.eval.evaluate",
    "RunEmbeddings": "elasticrec.embeddings",
    "DataConfig": "elasticrec.data.config",
    "ModelConfig": "elasticrec.models.config",
    "TrainConfig": "elasticrec.train.config",
    "ElasticConfig": "elasticrec.elastic.config",
    "PeelConfig": "elasticrec.peel.config",
}
_SUBMODULES = ("runtime",)

__all__ = [  # literal, so tools see it; a test checks it names exactly these
    "DATASETS",
    "BenchData",
    "BenchSuite",
    "BlockSelection",
    "BudgetExceeded",
    "ConfigError",
    "DataConfig",
    "Dataset",
    "DenseSelection",
    "DistContext",
    "ElasticConfig",
    "ElasticrecError",
    "Exported",
    "Interactions",
    "ModelConfig",
    "PeelConfig",
    "RaggedSelection",
    "Run",
    "RunEmbeddings",
    "StreamRun",
    "TrainConfig",
    "__version__",
    "dataset_status",
    "evaluate_ranking",
    "export_embeddings",
    "export_pq",
    "export_qr",
    "fit",
    "format_bytes",
    "from_environment",
    "load_dataset",
    "load_run",
    "load_stream",
    "locked",
    "mixed_shape",
    "option_choices",
    "option_names",
    "package_to_onnx",
    "package_to_ort",
    "parse_budget",
    "parse_stream_budget",
    "plain_defaults",
    "process_group",
    "profile_steps",
    "qr_shape",
    "resolve_data_dir",
    "resumable",
    "run_bench",
    "runtime",
    "score_fn_from_embeddings",
    "stream",
    "write_bytes",
    "write_text",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load on first use
    from elasticrec import runtime
    from elasticrec.atomic import locked, write_bytes, write_text
    from elasticrec.bench.runner import run_bench
    from elasticrec.bench.suites import BenchData, BenchSuite
    from elasticrec.budget.fit import BudgetExceeded
    from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
    from elasticrec.budget.units import format_bytes, parse_budget, parse_stream_budget
    from elasticrec.checks import ConfigError
    from elasticrec.data.config import DataConfig
    from elasticrec.data.dataset import Dataset, load_dataset
    from elasticrec.data.folder import dataset_status
    from elasticrec.data.interactions import Interactions
    from elasticrec.data.registry import DATASETS, resolve_data_dir
    from elasticrec.elastic.config import ElasticConfig
    from elasticrec.embeddings import RunEmbeddings
    from elasticrec.errors import ElasticrecError
    from elasticrec.eval.evaluate import evaluate_ranking, score_fn_from_embeddings
    from elasticrec.export.onnx import package_to_onnx, package_to_ort
    from elasticrec.models.config import ModelConfig
    from elasticrec.peel.config import PeelConfig
    from elasticrec.pipeline.export import Exported, export_embeddings
    from elasticrec.pipeline.fit import fit, resumable
    from elasticrec.pipeline.mixed_shape import mixed_shape
    from elasticrec.pipeline.options import option_choices, option_names, plain_defaults
    from elasticrec.pipeline.pq_export import export_pq
    from elasticrec.pipeline.profile import profile_steps
    from elasticrec.pipeline.qr_export import export_qr, qr_shape
    from elasticrec.pipeline.run import Run, load_run
    from elasticrec.pipeline.stream import StreamRun, load_stream, stream
    from elasticrec.train.config import TrainConfig
    from elasticrec.train.distributed import DistContext, from_environment, process_group


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"elasticrec.{name}")
    else:
        raise AttributeError(f"module 'elasticrec' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
