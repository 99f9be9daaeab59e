"""PEEL's personalisation on a finished RULE run: a new PEEL run folder, no retraining.

``fit(method="peel")`` trains RULE's elastic model and then personalises it; this does the
second step alone on a run whose first step is done, so that one trained model serves many
PEEL settings (user groups, costs, epochs). The new folder holds the RULE run's embeddings,
elastic state and training history unchanged, PEEL's state, and a config and result record
that say ``method: peel``: the run ``fit`` would have written with the same options (PEEL's
refinement is seeded by its own config, so the two are identical).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from elasticrec.atomic import write_bytes, write_text
from elasticrec.errors import ElasticrecError
from elasticrec.peel.config import PeelConfig
from elasticrec.peel.personalise import personalise
from elasticrec.peel.quality import personalised_metrics
from elasticrec.peel.state import save_peel
from elasticrec.pipeline import rundir
from elasticrec.pipeline.options import option_names

if TYPE_CHECKING:
    from elasticrec.pipeline.run import Run

logger = logging.getLogger("elasticrec")
COPIED = ("embeddings.safetensors", "elastic.safetensors", "metrics.jsonl",
          rundir.DATASET_FILE)


def peel_config(options: dict, *, l2: float, seed: int) -> PeelConfig:
    """PEEL's config from ``fit``'s option names (``peel_`` prefixes for shared fields)."""
    allowed = set(option_names("peel")) - set(option_names("rule"))
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ElasticrecError(f"unknown PEEL option {unknown[0]!r}; allowed: "
                              f"{', '.join(sorted(allowed))}")
    fields = {k.removeprefix("peel_"): v for k, v in options.items()}
    fields.setdefault("l2", l2)
    return PeelConfig(seed=seed, **fields)


def personalise_run(run: Run, *, out, workers: int, log, options: dict) -> Run:
    from elasticrec.pipeline.run import Run

    if run.method not in ("rule", "peel"):
        raise ElasticrecError(f"{run.path}: a {run.method!r} run has no elastic blocks to "
                              "personalise; train it with method='rule'")
    log = log or logger.info
    config = peel_config(options, l2=run.config["train"]["l2"], seed=run.config["data"]["seed"])
    keep = None
    if out is None:
        keep = tempfile.TemporaryDirectory(prefix="elasticrec-peel-")
        out = keep.name
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ElasticrecError(f"{out}: exists and is not a folder; choose another out")
    if (out / rundir.CONFIG_FILE).exists():
        raise ElasticrecError(f"{out} already holds a run; choose another out")
    if out.resolve() == run.path.resolve():
        raise ElasticrecError(f"{out}: personalise into a new folder, not the RULE run's own")
    data = run.data()
    emb, elastic = run.embeddings, run.elastic_state
    state = personalise(config, emb.user, emb.item, elastic.item_group, elastic.config.n_groups,
                        elastic.config.n_blocks, data.train, workers=workers, log=log)
    new_config = {**run.config, "method": "peel", "peel": config.to_json()}
    for name in COPIED:
        if (run.path / name).is_file():
            write_bytes(out / name, (run.path / name).read_bytes())
    save_peel(out, state)
    ks = tuple(run.config["train"]["ks"])
    personal = personalised_metrics(state, elastic.item_group, data.known.to_csr(),
                                    data.test.to_csr(), ks)
    record = {**run.result, "method": "peel", "peel": config.to_json(),
              "peel_report": state.report,
              "personalised": {k: personal[k] for k in sorted(personal)}}
    log("PEEL, every block, each user with their group's tables: " + ", ".join(
        f"{k} {v:.4f}" for k, v in sorted(personal.items())))
    write_text(out / rundir.RESULT_FILE, json.dumps(record, indent=2) + "\n")
    rundir.write_config(out, new_config)
    rundir.seal(out, new_config)
    return Run(out, data=data, keep=keep)
