"""Result records for benchmarks: JSON on disk, markdown generated from it.

Every record is a flat JSON object carrying at least ``dataset``, ``model``, ``method``, the
metrics as ``"recall@20"`` etc., ``seconds``, and where a budget applies ``budget_bytes`` and
``package_bytes``; ``provenance()`` adds the date, the machine and the commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from elasticrec import locked, write_bytes, write_text
from elasticrec.bench.provenance import code_commit
from elasticrec.bench.provenance import provenance as bench_provenance

RESULTS_DIR = Path(__file__).resolve().parents[1] / "docs" / "results"


def provenance() -> dict:
    return bench_provenance(CODE_COMMIT)


CODE_COMMIT = code_commit((".", ":!docs/results"))  # scripts count, results do not


def load(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return json.loads(path.read_text())["records"]


def upsert(path: Path, records: Sequence[dict], key: Sequence[str],
           replace_dataset: str | None = None) -> list[dict]:
    """Add ``records`` to the JSON file at ``path``, replacing records with the same key
    (and, with ``replace_dataset``, every earlier record of that dataset from the benchmarks
    these records come from: a run that regenerates all of them leaves no stale rows)."""
    with locked(path):
        return _upsert(path, records, key, replace_dataset)


def _upsert(path: Path, records: Sequence[dict], key: Sequence[str],
            replace_dataset: str | None) -> list[dict]:
    existing = load(path)
    if replace_dataset is not None:
        kinds = {r.get("benchmark") for r in records}
        existing = [r for r in existing
                    if not (r.get("dataset") == replace_dataset and r.get("benchmark") in kinds)]
    new_keys = {tuple(r.get(k) for k in key) for r in records}
    kept = [r for r in existing if tuple(r.get(k) for k in key) not in new_keys]
    merged = kept + [_no_nan(r) for r in records]
    write_text(path, json.dumps({"records": merged}, indent=2, sort_keys=True,
                                allow_nan=False) + "\n")
    return merged


def _no_nan(value):
    """NaN (a metric that could not be measured) as JSON null, which every reader accepts."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def measured(records: Sequence[dict]) -> str:
    """One line per (day, machine, commit) the records were measured on."""
    seen = sorted({(r["date"][:10], r["machine"], r["commit"]) for r in records
                   if "date" in r and "machine" in r and "commit" in r})
    return "\n".join(f"Measured {d} on {m} at commit {c}." for d, m, c in seen)


def markdown_table(records: Sequence[dict], columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    rows = ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in records]
    return "\n".join([head, sep, *rows])


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def budget_curves(ax, rows: Sequence[dict], title: str) -> None:
    """Recall@20 against the budget (a share like ``"10%"``), one line per method."""
    for method in sorted({r["method"] for r in rows}):
        pts = sorted((float(r["budget"].rstrip("%")), r["recall@20"]) for r in rows
                     if r["method"] == method)
        ax.plot(*zip(*pts, strict=True), marker="o", label=method)
    ax.set(xscale="log", xlabel="budget (% of the full float32 item table)",
           ylabel="Recall@20", title=title)


def save_figure(fig, path: Path) -> None:
    """Write a matplotlib figure as PNG atomically (a temporary file, then a rename)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=120, format="png")
    write_bytes(path, buffer.getvalue())
