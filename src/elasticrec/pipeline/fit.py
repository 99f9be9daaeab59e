"""Training a run end to end: data, model, trainer, final embeddings, the method's state
(RULE's estimator, PEEL's groups) and the test evaluation, in a run folder (``rundir``).

``fit`` checks every input and option before it creates anything: a refused call leaves the
file system as it was. A run folder holds ``config.json`` (everything needed to rebuild the
data and the model, and the run's method), ``metrics.jsonl`` (one record per epoch),
``checkpoint.safetensors`` (to resume), ``embeddings.safetensors`` (the final tables),
``result.json`` (the test evaluation record), the method's state files and, last,
``run.json`` (the files that make the run complete, sized and hashed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from elasticrec.atomic import write_bytes, write_text
from elasticrec.checks import ConfigError
from elasticrec.data.interactions import Interactions
from elasticrec.data.prepare import PreparedData, split_dataset
from elasticrec.data.sampling import BPRSampler
from elasticrec.elastic.diversity import mean_block_similarity
from elasticrec.elastic.rule import fit_rule_estimator
from elasticrec.elastic.state import save_elastic
from elasticrec.elastic.training import elastic_groups, elastic_objective
from elasticrec.embeddings import QRFactors, RunEmbeddings, save_embeddings, save_qr_factors
from elasticrec.errors import ElasticrecError
from elasticrec.eval.evaluate import EvalResult, evaluate_ranking, score_fn_from_embeddings
from elasticrec.export.basis import rotate_tables, score_basis
from elasticrec.models.base import Recommender
from elasticrec.models.factory import build_model
from elasticrec.models.qr import QRMF
from elasticrec.peel.personalise import personalise
from elasticrec.peel.quality import personalised_metrics
from elasticrec.peel.state import save_peel
from elasticrec.pipeline import rundir
from elasticrec.pipeline.inputs import COLUMN_OPTIONS, data_source
from elasticrec.pipeline.options import RunConfigs, make_configs
from elasticrec.pipeline.run import Run
from elasticrec.train.checkpoint import CHECKPOINT_FILE, check_resumable
from elasticrec.train.config import TrainConfig, graph_batch_size
from elasticrec.train.distributed import SINGLE, DistContext
from elasticrec.train.search import successive_halving
from elasticrec.train.trainer import Trainer
from elasticrec.version import __version__

Log = Callable[[str], None]
TRAINING_COPIES = 4  # parameters, gradients and Adam's two moments
logger = logging.getLogger("elasticrec")


def fit(data, *, model: str = "lightgcn", method: str = "full", out: str | Path | None = None,
        data_dir: str | Path | None = None, download: bool = True, resume: bool = False,
        monitor_test: bool = False, workers: int = 1, progress: bool | None = None,
        log: Log | None = None, distributed: DistContext = SINGLE, **options) -> Run | None:
    """Train a recommender on ``data`` and return the finished ``Run``.

    ``data``: a dataset name (``elasticrec datasets``), a CSV/TSV/Parquet file or a folder of
    LightGCN-format files, a DataFrame with user/item[/timestamp] columns (``user_col=``,
    ``item_col=``, ``timestamp_col=`` name them), a ``scipy.sparse`` users x items matrix, or
    ``(users, items[, timestamps])`` arrays. ``model``: ``"lightgcn"``, ``"mf"`` or ``"pop"``.
    ``method``: ``"full"`` (a plain base model), ``"rule"`` (elastic item blocks and RULE's
    performance estimator, exportable at any budget) or ``"peel"`` (RULE's training, then
    user groups with their own refined tables and learned block weights). ``out``: the run
    folder to create (``None``: a temporary folder that lives as long as the ``Run``).
    ``options``: any field of the data, model, training, elastic or PEEL configs (see
    ``elasticrec.pipeline.options``), e.g. ``epochs=40, dim=64, lr=1e-3, n_blocks=16``.
    With no schedule option, a plain run carves a validation split, chooses the loss, lr and
    L2 on it within ``search_budget`` (CPU time, default ``"10m"``), stops early on
    validation Recall@20 (docs/training.md). ``model="pop"`` is the most-popular ranking.
    Named datasets are read from ``data_dir`` (default: the user cache), downloaded when
    missing unless ``download=False``. ``monitor_test`` logs test metrics at every
    validation for learning curves only (nothing is chosen on them); ``workers`` processes
    refine PEEL's groups. ``log`` receives progress lines (default: the ``elasticrec``
    logger); ``progress`` shows per-epoch bars (default: when stderr is a terminal).
    Under torchrun every process calls ``fit`` with its ``distributed`` context
    (``elasticrec.process_group(elasticrec.from_environment(os.environ))``): each draws its
    share of every batch, rank 0 alone logs, writes the folder and returns the ``Run``; the
    other ranks return ``None`` (docs/distributed.md).

    >>> run = elasticrec.fit(df, model="mf", epochs=20)           # doctest: +SKIP
    >>> package = run.export("10%", user=42)                     # doctest: +SKIP
    """
    log = (log or logger.info) if distributed.is_writer else (lambda _msg: None)
    writer = distributed.is_writer
    progress = sys.stderr.isatty() if progress is None else progress
    columns = {k: options.get(k) for k in COLUMN_OPTIONS}
    source = data_source(data, columns)
    if source.in_memory:  # the columns were read; the stored dataset needs none
        options = {k: v for k, v in options.items() if k not in COLUMN_OPTIONS}
    configs = make_configs(source.name, model, method, options)
    if configs.search is not None and distributed.is_distributed:
        if configs.search_explicit:
            raise ElasticrecError("search_budget: the search runs in one process; give lr "
                                  "and l2 (or run it first without torchrun)")
        log("several processes: no search; the default lr and l2 are used")
        configs = replace(configs, search=None)
    keep = None
    if out is None:
        if resume:
            raise ElasticrecError("resume=True needs the run folder to resume (out=)")
        keep = tempfile.TemporaryDirectory(prefix="elasticrec-run-")
        out = keep.name
    run_dir = Path(out)
    saved = _check_out(run_dir, resume) if writer or resume else None
    if resume and saved is not None and saved.get("search") is not None:
        configs = _searched(configs, saved, options)
    t0 = time.perf_counter()
    ds = source.load(None if data_dir is None else Path(data_dir), download=download,
                     columns={k: v for k, v in columns.items() if v is not None})
    prepared = split_dataset(configs.data, ds)
    if "batch_size" not in options and configs.model.model == "lightgcn":
        configs = replace(configs, train=replace(
            configs.train, batch_size=graph_batch_size(len(prepared.train))))
    config = _config(configs, prepared.fingerprint, in_memory=source.in_memory)
    # who this run is: its checkpoints carry it, so a checkpoint from another run is refused
    config["run_id"] = (saved or {}).get("run_id") or uuid.uuid4().hex
    if configs.search is not None or (saved or {}).get("search") is not None:
        config["search"] = (saved or {}).get("search")  # filled in when the search ends
    if configs.elastic is not None and prepared.valid is None:
        raise ElasticrecError("a RULE or PEEL run needs a validation split to label block "
                              "configurations: set valid_ratio > 0 (--valid-ratio)")
    _check_sizes(configs, prepared)
    if resume and writer:
        check_resumable(run_dir, configs.train.to_json(), run_id=(saved or {}).get("run_id"))
    new_run, before = writer and saved is None, _entries(run_dir)
    kept = _resume_point(run_dir) if writer and resume else None
    try:
        if writer:  # rank 0 checks and writes the folder
            _open_folder(run_dir, config, saved, ds if source.in_memory else None)
        log(f"{prepared.name}: {prepared.train.n_users} users, {prepared.train.n_items} "
            f"items, {len(prepared.train)} training events, {len(prepared.test)} test events "
            f"(prepared in {time.perf_counter() - t0:.1f}s)")
        _train(run_dir, prepared, configs, resume=resume, monitor_test=monitor_test,
               workers=workers, progress=progress, log=log, distributed=distributed,
               run_id=config["run_id"] if writer else None)
        if not writer:
            return None
        if configs.search is not None and not resume:  # the schedule the search chose
            chosen = rundir.read_config(run_dir)
            config.update(train=chosen["train"], search=chosen["search"])
        rundir.write_config(run_dir, config)  # a resumed run's schedule may have grown
        rundir.seal(run_dir, config)
    except Exception as exc:
        if new_run and not (run_dir / CHECKPOINT_FILE).exists():
            _restore(run_dir, before)  # failed before its first epoch: leave nothing
        # (after it, the folder is an unfinished run that --resume continues: a killed
        # peer rank or a crash must not cost the epochs already trained)
        elif kept is not None:  # a resume refused before it trained leaves the run sealed
            _reseal(run_dir, kept)
        error = _user_error(exc, configs)
        if error is exc:
            raise
        raise error from exc
    return Run(run_dir, data=prepared, keep=keep)


def resumable(out: str | os.PathLike) -> bool:
    """Whether ``out`` holds a training that ``fit(..., out=out, resume=True)`` continues:
    a checkpoint left by an interrupted run (or a finished one, whose schedule may grow)."""
    return (Path(out) / CHECKPOINT_FILE).is_file()


def ranking_evaluator(
    known: Interactions, target: Interactions, ks: tuple[int, ...]
) -> Callable[[Recommender], dict[str, float]]:
    """Full-ranking metrics of a model on ``target``, with ``known`` events excluded."""
    known_csr, target_csr = known.to_csr(), target.to_csr()

    def run(model: Recommender) -> dict[str, float]:
        users, items = model.final_embeddings()
        return _evaluate(known_csr, target_csr, users.numpy(), items.numpy(), ks).metrics

    return run


def _train(run_dir: Path, data: PreparedData, configs: RunConfigs, *, resume: bool,
           monitor_test: bool, workers: int, progress: bool, log: Log,
           distributed: DistContext, run_id: str | None = None) -> dict:
    """Train, save the final embeddings and the method's state, evaluate on the test split;
    write and return the result record (rank 0; other ranks take part and return ``{}``)."""
    writer = distributed.is_writer
    model_config, train_config = configs.model, configs.train
    elastic, peel = configs.elastic, configs.peel
    torch.manual_seed(train_config.seed)
    cosine = train_config.loss == "ccl"
    model = build_model(model_config, data.train, train_config.seed, cosine=cosine)
    ks = train_config.ks
    item_group = objective = None
    if elastic is not None:
        item_group = elastic_groups(elastic, data.train)
        if not elastic.plain:  # "plain": the base model's own loss
            objective = elastic_objective(elastic, item_group, train_config)
    sampler = BPRSampler.from_interactions(data.train)
    validate = ranking_evaluator(data.train, data.valid, ks) if data.valid else None

    def trainer_for(net: Recommender, config: TrainConfig, **kw) -> Trainer:
        return Trainer(net, sampler, config, validate=validate, log=log, objective=objective,
                       distributed=distributed, run_id=run_id, **kw)

    search_report = None
    if configs.search is not None and not resume:
        model, train_config, search_report, optim_state = _search(
            configs, data, sampler, trainer_for, validate, log)
        if writer:  # the chosen schedule, so that --resume continues it
            config = rundir.read_config(run_dir)
            rundir.write_config(run_dir, {**config, "train": train_config.to_json(),
                                          "search": search_report})
    fit = None
    if model.trainable:  # the most-popular ranking has nothing to train
        trainer = trainer_for(
            model, train_config, run_dir=run_dir, progress=progress,
            monitors={"test": ranking_evaluator(data.known, data.test, ks)}
            if monitor_test else None,
            start_metric=search_report["best"] if search_report else None)
        if search_report is not None:  # the winner continues with its optimiser's state
            trainer.optimizer.load_state_dict(optim_state)
        fit = trainer.fit(resume=resume)
    users, items = model.final_embeddings()
    if writer:
        save_embeddings(run_dir, RunEmbeddings(
            user=users.numpy(), item=items.numpy(), dataset=data.name,
            dataset_fingerprint=data.fingerprint, model=model_config.model,
            user_labels=_labels(data.train.user_labels, data.train.n_users),
            item_labels=_labels(data.train.item_labels, data.train.n_items),
        ))
        if isinstance(model, QRMF):  # the factors a qr package ships
            quotient, remainder = model.factors()
            save_qr_factors(run_dir, QRFactors(quotient.numpy(), remainder.numpy()))
    test = _test_result(data, users.numpy(), items.numpy(), ks) if writer else None
    extra = {}
    if elastic is not None:
        label_user, label_item = users.numpy(), items.numpy()
        if elastic.plain:  # its blocks are the basis's positions, each group a prefix
            label_user, label_item = rotate_tables(label_user, label_item,
                                                   score_basis(label_user, label_item))
        state = fit_rule_estimator(elastic, label_user, label_item, item_group,
                                   data.train.to_csr(), data.valid.to_csr(),
                                   seed=train_config.seed, log=log, distributed=distributed,
                                   prefixes=elastic.plain)
        if writer:
            save_elastic(run_dir, state)
        extra = {"estimator": state.report, "block_similarity": mean_block_similarity(
            items, elastic.n_blocks), "elastic": elastic.to_json()}
    if peel is not None:
        peel_state = personalise(peel, users.numpy(), items.numpy(), item_group,
                                 elastic.n_groups, elastic.n_blocks, data.train,
                                 workers=workers, log=log, distributed=distributed)
        if not writer:  # rank 0 holds the gathered groups
            return {}
        save_peel(run_dir, peel_state)
        personal = personalised_metrics(peel_state, item_group, data.known.to_csr(),
                                        data.test.to_csr(), ks)
        extra.update(peel=peel.to_json(), peel_report=peel_state.report,
                     personalised={k: personal[k] for k in sorted(personal)})
        log("PEEL, every block, each user with their group's tables: " + ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(personal.items())))
    if not writer:
        return {}
    if search_report is None and resume:
        search_report = rundir.read_config(run_dir).get("search")
    searched = search_report["epochs"] if search_report else 0
    record = {
        "dataset": data.name,
        "model": model_config.model,
        "method": configs.method,
        **test.metrics,
        "seconds": (fit.seconds if fit else 0.0) + (search_report["seconds"]
                                                    if search_report else 0.0),
        "epochs": searched + (fit.epochs_run if fit else 0),
        "best_epoch": searched + (fit.best_epoch if fit else 0),
        "seconds_per_epoch": fit.seconds_per_epoch if fit else 0.0,
        "eval_seconds": test.seconds,
        "n_test_users": test.n_users,
        "dim": model.output_dim if model_config.model == "pop" else model_config.dim,
        "n_layers": model_config.n_layers if model_config.model == "lightgcn" else 0,
        **({"qr_buckets": model_config.qr_buckets} if model_config.qr_buckets else {}),
        "batch_size": train_config.batch_size,
        "lr": train_config.lr,
        "lr_decay": train_config.lr_decay,
        "lr_plateau": train_config.lr_plateau,
        "lr_plateau_patience": train_config.lr_plateau_patience,
        "l2": train_config.l2,
        "sampling": train_config.sampling,
        "loss": train_config.loss if model.trainable else None,
        "stopped_early": fit.stopped_early if fit else False,
        f"valid_{train_config.metric}": fit.best_metric if fit else None,
        "valid_ratio": configs.data.valid_ratio,
        **({"search": search_report} if search_report else {}),
        **extra,
    }
    write_text(run_dir / rundir.RESULT_FILE, json.dumps(record, indent=2) + "\n")
    return record


def _search(configs: RunConfigs, data: PreparedData, sampler: BPRSampler,
            trainer_for: Callable[..., Trainer], validate, log: Log):
    """Successive halving over loss, lr and L2 (``train.search``): the winning model, the schedule
    it continues with (the epochs it has left), the search's record, its optimiser state."""
    train_config = configs.train
    result = successive_halving(
        configs.search, train_config,
        lambda loss: build_model(configs.model, data.train, train_config.seed,
                                 cosine=loss == "ccl"),
        trainer_for, validate,
        horizon=max(1, min(configs.search.max_epochs, train_config.epochs // 2)), log=log)
    winner = result.winner
    report = result.report(configs.search, train_config.metric)
    log(f"search: chose {winner.loss}, lr {winner.lr:g}, l2 {winner.l2:g} ({report['best']:.4f} "
        f"{train_config.metric} after {winner.epochs} epochs, {result.seconds:.0f}s)")
    chosen = replace(train_config, loss=winner.loss, lr=winner.lr, l2=winner.l2,
                     epochs=max(1, train_config.epochs - winner.epochs))
    return winner.model, chosen, report, winner.trainer.optimizer.state_dict()


def _searched(configs: RunConfigs, saved: dict, options: dict) -> RunConfigs:
    """A resumed searched run: the schedule the search chose (its epochs grown, if asked)."""
    train = {**saved["train"], "ks": tuple(saved["train"]["ks"])}
    if "epochs" in options:
        train["epochs"] = max(1, options["epochs"] - saved["search"]["epochs"])
    return replace(configs, train=TrainConfig(**train), search=None)


def _config(configs: RunConfigs, fingerprint: str, *, in_memory: bool) -> dict:
    config = {
        "elasticrec": __version__,
        "data": configs.data.to_json(),
        "model": configs.model.to_json(),
        "train": configs.train.to_json(),
        "dataset_fingerprint": fingerprint,
        "method": configs.method,
        "data_source": "memory" if in_memory else "file",
    }
    if configs.peel is not None:
        config["peel"] = configs.peel.to_json()
    if configs.elastic is not None:
        config["elastic"] = configs.elastic.to_json()
    return config


def _open_folder(run_dir: Path, config: dict, saved: dict | None, memory_dataset) -> None:
    """Start the folder of a new run (its config, and the dataset when it came from memory),
    or mark a resumed one unfinished once its config agrees with this call's."""
    if saved is None:
        rundir.write_config(run_dir, config)
        if memory_dataset is not None:
            rundir.save_dataset(run_dir, memory_dataset)
        return
    for key in ("data", "model", "dataset_fingerprint", "method"):
        if saved.get(key) != config[key]:
            raise ElasticrecError(f"{run_dir}: cannot resume: the {key} differs from the one "
                                  "this run was started with")
    rundir.unseal(run_dir)


def _check_sizes(configs: RunConfigs, data: PreparedData) -> None:
    """Refuse, before anything is written, blocks that do not divide the item embedding
    and tables too large for this machine's memory."""
    model = configs.model
    width = model.dim * (model.n_layers + 1 if model.model == "lightgcn"
                         and model.combine == "concat" else 1)
    if configs.elastic is not None and width % configs.elastic.n_blocks:
        raise ConfigError(f"n_blocks={configs.elastic.n_blocks} is not allowed: a divisor of "
                          f"the item embedding width {width} (dim={model.dim})", "n_blocks")
    rows = data.train.n_users + data.train.n_items
    # the parameters, their gradients and Adam's two moments, in float32
    need = TRAINING_COPIES * rows * model.dim * 4
    memory = _physical_memory()
    if memory and need > memory:
        raise ConfigError(
            f"dim={model.dim} is not allowed: {rows:,} embedding rows of width {model.dim} "
            f"need about {need:,} bytes to train, more than this machine's {memory:,} bytes "
            "of memory", "dim")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _resume_point(run_dir: Path) -> tuple[bytes | None, tuple[int, int]]:
    """The run's completion record (if any) and its checkpoint's (size, mtime): what a
    resume that fails before its first epoch must find again."""
    record = run_dir / rundir.MANIFEST_FILE
    info = (run_dir / CHECKPOINT_FILE).stat()
    return (record.read_bytes() if record.is_file() else None,
            (info.st_size, info.st_mtime_ns))


def _reseal(run_dir: Path, kept: tuple[bytes | None, tuple[int, int]]) -> None:
    record, checkpoint = kept
    path = run_dir / CHECKPOINT_FILE
    if record is not None and path.is_file() and (
            path.stat().st_size, path.stat().st_mtime_ns) == checkpoint:
        write_bytes(run_dir / rundir.MANIFEST_FILE, record)


def _entries(run_dir: Path) -> set[str] | None:
    """The names in ``run_dir`` now; None when it does not exist (a failure removes it)."""
    return set(os.listdir(run_dir)) if run_dir.is_dir() else None


def _restore(run_dir: Path, before: set[str] | None) -> None:
    """Remove what a failed new run created: the folder, or the entries added to it."""
    if before is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in set(_entries(run_dir) or ()) - before:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _user_error(exc: Exception, configs: RunConfigs) -> Exception:
    """A failure during training in the one-line form: a diverged loss names the learning
    rate, an allocation failure the sizes; anything else passes as it is."""
    if isinstance(exc, FloatingPointError):
        return ElasticrecError(f"{exc} (lr={configs.train.lr})")
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                        and "allocate" in str(exc)):
        return ElasticrecError(f"out of memory while training (dim={configs.model.dim}, "
                               f"batch_size={configs.train.batch_size}): {_first_line(exc)}")
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _check_out(run_dir: Path, resume: bool) -> dict | None:
    """The saved config of the run to resume, or None for a new run (whose folder must not
    hold one); refused before anything is written."""
    if resume:
        return rundir.read_config(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ElasticrecError(f"{run_dir}: exists and is not a folder; choose another --out")
    if (run_dir / rundir.CONFIG_FILE).exists():
        raise ElasticrecError(f"{run_dir} already holds a run; use --resume to continue it "
                              "or choose another --out")
    return None


def _evaluate(known: sp.csr_matrix, target: sp.csr_matrix, users: np.ndarray,
              items: np.ndarray, ks: tuple[int, ...]) -> EvalResult:
    return evaluate_ranking(score_fn_from_embeddings(users, items), known, target, ks)


def _test_result(data: PreparedData, users: np.ndarray, items: np.ndarray, ks) -> EvalResult:
    return _evaluate(data.known.to_csr(), data.test.to_csr(), users, items, ks)


def _labels(labels: np.ndarray | None, n: int) -> list[str]:
    return [str(x) for x in labels] if labels is not None else [str(i) for i in range(n)]
