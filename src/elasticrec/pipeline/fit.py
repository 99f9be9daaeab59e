"""A training run end to end: data, model, trainer, final embeddings and test evaluation.

A run directory holds ``config.json`` (everything needed to rebuild the data and the model),
``metrics.jsonl`` (one record per epoch), ``checkpoint.safetensors`` (to resume),
``embeddings.safetensors`` (the final tables, see ``rundir``) and ``result.json`` (the test
evaluation record).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from elasticrec.atomic import write_text
from elasticrec.data.interactions import Interactions
from elasticrec.data.prepare import DataConfig, PreparedData, prepare
from elasticrec.data.sampling import BPRSampler
from elasticrec.elastic.config import ElasticConfig
from elasticrec.elastic.diversity import mean_block_similarity
from elasticrec.elastic.groups import id_range_groups, popularity_groups
from elasticrec.elastic.objective import ElasticBPR
from elasticrec.elastic.rule import fit_rule_estimator
from elasticrec.elastic.state import save_elastic
from elasticrec.embeddings import RunEmbeddings, load_embeddings, save_embeddings
from elasticrec.eval.evaluate import EvalResult, evaluate_ranking, score_fn_from_embeddings
from elasticrec.models.base import Recommender
from elasticrec.models.config import ModelConfig
from elasticrec.models.factory import build_model
from elasticrec.peel.config import PeelConfig
from elasticrec.peel.export import personalised_metrics
from elasticrec.peel.personalise import personalise
from elasticrec.peel.state import save_peel
from elasticrec.train.config import TrainConfig
from elasticrec.train.distributed import SINGLE, DistContext
from elasticrec.train.trainer import Trainer
from elasticrec.version import __version__

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"


def ranking_evaluator(
    known: Interactions, target: Interactions, ks: tuple[int, ...]
) -> Callable[[Recommender], dict[str, float]]:
    """Full-ranking metrics of a model on ``target``, with ``known`` events excluded."""
    known_csr, target_csr = known.to_csr(), target.to_csr()

    def run(model: Recommender) -> dict[str, float]:
        users, items = model.final_embeddings()
        return _evaluate(known_csr, target_csr, users.numpy(), items.numpy(), ks).metrics

    return run


def train_run(
    run_dir: str | Path,
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    data_dir: Path,
    download: bool = True,
    resume: bool = False,
    monitor_test: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
    elastic: ElasticConfig | None = None,
    peel: PeelConfig | None = None,
    workers: int = 1,
    distributed: DistContext = SINGLE,
) -> dict:
    """Train, save the final embeddings, evaluate on the test split; return the result record.

    ``monitor_test`` also logs test metrics at every validation, for learning curves only:
    model selection never looks at them. With ``elastic`` the run is RULE's: the item
    embeddings train as blocks (``elastic.objective``) and, after training, the performance
    estimator is fitted on validation labels and saved beside the embeddings. With ``peel``
    as well, PEEL's personalisation follows: users clustered, each group's tables and block
    weights refined on its own events (``workers`` processes), saved as ``peel.safetensors``.
    Under ``distributed`` every process of the job calls this; rank 0 alone logs, writes the
    run folder and returns the record, the others return ``{}``.
    """
    if peel is not None and elastic is None:
        raise ValueError("PEEL personalises an elastic model: give an ElasticConfig too")
    run_dir = Path(run_dir)
    log = log if distributed.is_writer else (lambda _msg: None)
    torch.manual_seed(train_config.seed)
    t0 = time.perf_counter()
    data = prepare(data_config, data_dir, download=download)
    config = {
        "elasticrec": __version__,
        "data": data_config.to_json(),
        "model": model_config.__dict__,
        "train": train_config.to_json(),
        "dataset_fingerprint": data.fingerprint,
        "method": "peel" if peel else "rule" if elastic else "full",
    }
    if peel is not None:
        config["peel"] = peel.to_json()
    if elastic is not None:
        config["elastic"] = elastic.to_json()
        if data.valid is None:
            raise ValueError("a RULE run needs a validation split to label block "
                             "configurations: set valid_ratio > 0 (--valid-ratio)")
    if distributed.is_writer:
        _write_or_check_config(run_dir, config, resume)
    log(f"{data.name}: {data.train.n_users} users, {data.train.n_items} items, "
        f"{len(data.train)} training events, {len(data.test)} test events "
        f"(prepared in {time.perf_counter() - t0:.1f}s)")
    model = build_model(model_config, data.train, train_config.seed)
    ks = train_config.ks
    item_group = objective = None
    if elastic is not None:
        item_group = elastic_groups(elastic, data.train)
        objective = elastic_objective(elastic, item_group, train_config)
    trainer = Trainer(
        model, BPRSampler.from_interactions(data.train), train_config,
        validate=ranking_evaluator(data.train, data.valid, ks) if data.valid else None,
        monitors={"test": ranking_evaluator(data.known, data.test, ks)} if monitor_test else None,
        run_dir=run_dir, progress=progress, log=log, objective=objective,
        distributed=distributed,
    )
    fit = trainer.fit(resume=resume)
    users, items = model.final_embeddings()
    if distributed.is_writer:
        save_embeddings(run_dir, RunEmbeddings(
            user=users.numpy(), item=items.numpy(), dataset=data.name,
            dataset_fingerprint=data.fingerprint, model=model_config.model,
            user_labels=_labels(data.train.user_labels, data.train.n_users),
            item_labels=_labels(data.train.item_labels, data.train.n_items),
        ))
    test = _test_result(data, users.numpy(), items.numpy(), ks) if distributed.is_writer else None
    extra = {}
    if elastic is not None:
        state = fit_rule_estimator(elastic, users.numpy(), items.numpy(), item_group,
                                   data.train.to_csr(), data.valid.to_csr(),
                                   seed=train_config.seed, log=log, distributed=distributed)
        if distributed.is_writer:
            save_elastic(run_dir, state)
        extra = {"estimator": state.report, "block_similarity": mean_block_similarity(
            items, elastic.n_blocks), "elastic": elastic.to_json()}
    if peel is not None:
        peel_state = personalise(peel, users.numpy(), items.numpy(), item_group,
                                 elastic.n_groups, elastic.n_blocks, data.train,
                                 workers=workers, log=log, distributed=distributed)
        if not distributed.is_writer:  # rank 0 holds the gathered groups
            return {}
        save_peel(run_dir, peel_state)
        personal = personalised_metrics(peel_state, item_group, data.known.to_csr(),
                                        data.test.to_csr(), ks)
        extra.update(peel=peel.to_json(), peel_report=peel_state.report,
                     personalised={k: personal[k] for k in sorted(personal)})
        log("PEEL, every block, each user with their group's tables: " + ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(personal.items())))
    if not distributed.is_writer:
        return {}
    record = {
        "dataset": data.name,
        "model": model_config.model,
        "method": config["method"],
        **test.metrics,
        "seconds": fit.seconds,
        "epochs": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "seconds_per_epoch": fit.seconds_per_epoch,
        "eval_seconds": test.seconds,
        "n_test_users": test.n_users,
        "dim": model_config.dim,
        "n_layers": model_config.n_layers if model_config.model == "lightgcn" else 0,
        "batch_size": train_config.batch_size,
        "lr": train_config.lr,
        "lr_decay": train_config.lr_decay,
        "l2": train_config.l2,
        "sampling": train_config.sampling,
        "stopped_early": fit.stopped_early,
        **extra,
    }
    write_text(run_dir / RESULT_FILE, json.dumps(record, indent=2) + "\n")
    return record


def elastic_groups(config: ElasticConfig, train: Interactions) -> np.ndarray:
    """The item group of every item, by training popularity or by id range."""
    if config.grouping == "popularity":
        counts = np.bincount(train.item, minlength=train.n_items)
        return popularity_groups(counts, config.n_groups)
    return id_range_groups(train.n_items, config.n_groups)


def elastic_objective(config: ElasticConfig, item_group: np.ndarray,
                      train_config: TrainConfig) -> ElasticBPR:
    return ElasticBPR(
        item_group=torch.from_numpy(item_group), n_groups=config.n_groups,
        n_blocks=config.n_blocks, l2=train_config.l2, diversity=config.diversity,
        diversity_form=config.diversity_form, rescale=config.rescale,
        sizes=config.subset_sizes,
        generator=torch.Generator().manual_seed(train_config.seed + 1),
    )


def evaluate_run(
    run_dir: str | Path, *, data_dir: Path, ks: tuple[int, ...] = (20,), download: bool = True
) -> dict:
    """Rebuild a run's data split, check it is the same data, and evaluate its embeddings."""
    data = rebuild_data(run_dir, data_dir=data_dir, download=download)
    emb = load_embeddings(run_dir)
    test = _test_result(data, emb.user, emb.item, ks)
    return {"dataset": data.name, "model": emb.model, "method": "full", **test.metrics,
            "n_test_users": test.n_users, "seconds": test.seconds}


def evaluate_packages(
    run_dir: str | Path, packages: list[Path], *, data_dir: Path, ks: tuple[int, ...] = (20,),
    download: bool = True,
) -> list[dict]:
    """Evaluate device packages exported from a run, through the NumPy runtime, on its test
    split: the quality a device gets from what ships."""
    from elasticrec import runtime
    from elasticrec.export.evaluate import evaluate_package
    from elasticrec.format.sizes import device_bytes

    data = rebuild_data(run_dir, data_dir=data_dir, download=download)
    known, test = data.known.to_csr(), data.test.to_csr()
    out = []
    for path in packages:
        pkg = runtime.load(path)
        if pkg.manifest.dataset_fingerprint != data.fingerprint:
            raise ValueError(f"{path} was not built from the data of {run_dir} (dataset "
                             f"fingerprint {pkg.manifest.dataset_fingerprint} != "
                             f"{data.fingerprint})")
        result = evaluate_package(pkg, known, test, ks)
        out.append({"dataset": data.name, "model": pkg.manifest.model,
                    "method": pkg.manifest.method, "package": str(path),
                    "package_bytes": Path(path).stat().st_size,
                    "device_bytes": device_bytes(pkg.manifest), **result.metrics,
                    "n_test_users": result.n_users, "seconds": result.seconds})
    return out


def rebuild_data(run_dir: str | Path, *, data_dir: Path, download: bool = True) -> PreparedData:
    """The run's data split, rebuilt from its config and checked against its fingerprint."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    data = prepare(DataConfig(**config["data"]), data_dir, download=download)
    if data.fingerprint != config["dataset_fingerprint"]:
        raise ValueError(
            f"{run_dir}: the dataset {data.name!r} found in {data_dir} is not the data this run "
            f"was trained on (fingerprint {data.fingerprint} != {config['dataset_fingerprint']})"
        )
    return data


def read_config(run_dir: Path) -> dict:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; is {run_dir} an `elasticrec train` run?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def _evaluate(known: sp.csr_matrix, target: sp.csr_matrix, users: np.ndarray,
              items: np.ndarray, ks: tuple[int, ...]) -> EvalResult:
    return evaluate_ranking(score_fn_from_embeddings(users, items), known, target, ks)


def _test_result(data: PreparedData, users: np.ndarray, items: np.ndarray, ks) -> EvalResult:
    return _evaluate(data.known.to_csr(), data.test.to_csr(), users, items, ks)


def _write_or_check_config(run_dir: Path, config: dict, resume: bool) -> None:
    path = run_dir / CONFIG_FILE
    if resume:
        saved = read_config(run_dir)
        for key in ("data", "model", "dataset_fingerprint"):
            if saved.get(key) != config[key]:
                raise ValueError(f"{run_dir}: cannot resume: the {key} configuration differs "
                                 "from the one this run was started with")
    elif path.exists():
        raise FileExistsError(f"{run_dir} already holds a run; use --resume to continue it "
                              "or choose another --out")
    write_text(path, json.dumps(config, indent=2) + "\n")


def _labels(labels: np.ndarray | None, n: int) -> list[str]:
    return [str(x) for x in labels] if labels is not None else [str(i) for i in range(n)]
