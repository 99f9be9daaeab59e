"""What a package's item id map costs, per dataset and map kind, and what a small budget then holds.

For each dataset in ``ELASTICREC_DATA`` (ids in row order, as the project's loaders give
them), every exact map that represents its ids is priced as the package holds it
(``runtime.id_map_bytes``: the manifest entry, escaped as the header holds it, plus any tensor
and its header entry), beside the one the builder picks (``chosen``) and a catalogue
reference.

String ids: the LightGCN splits keep their source ids in ``item_list.txt``; yelp2018's are
22-character business ids. ``yelp2018-strings-18k`` takes the first 18,000 of them (sorted,
as the loader orders string ids) as a dataset with string ids of about 18,000 items. For it,
and for every dataset, a single-user package is fitted at 5% of the float32 item table
(64-d, the dense baseline on random values: only bytes matter here) with float32 and int4
values, with the chosen map and with a catalogue reference: ``width`` is the widest prefix
that fits (``null``: even no values do not fit).

Usage: ``python -m benchmarks.id_maps [--out docs/results/id_maps.json]``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

import elasticrec
from benchmarks.results import RESULTS_DIR, markdown_table, measured, provenance, upsert
from elasticrec import runtime
from elasticrec.atomic import write_text
from elasticrec.budget.fit import BudgetExceeded
from elasticrec.budget.selection import DenseSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions, fit, item_id_kind, plan
from elasticrec.format import ids as id_maps
from elasticrec.format.ids import ItemIds

DIM, SHARE = 64, 0.05
DATASETS = ("ml-100k", "ml-latest-small", "amazon-grocery", "ciaodvd", "gowalla", "yelp2018")
KINDS = ("range", "holes", "delta", "int32", "int64", "front", "labels", "catalogue")


def dataset_labels(data_dir: Path) -> dict[str, list[str]]:
    out = {}
    for name in DATASETS:
        try:
            ds = elasticrec.load_dataset(name, data_dir=data_dir, download=False)
        except elasticrec.ElasticrecError as exc:
            print(f"skipping {name}: {exc}")
            continue
        out[name] = [str(x) for x in ds.train.item_labels]
    yelp = data_dir / "yelp2018" / "item_list.txt"
    if yelp.is_file():
        org = [line.split()[0] for line in yelp.read_text().splitlines()[1:] if line.strip()]
        out["yelp2018-strings-18k"] = sorted(org[:18_000])
    return out


def maps(labels: list[str]) -> dict[str, ItemIds]:
    """Every exact map kind of ``labels`` (with the sizes their tensors would take)."""
    out = {"labels": ItemIds("labels", tuple(labels)),
           "catalogue": id_maps.choose(labels, catalogue=True)[0]}
    chosen = item_id_kind(labels)[0]
    out[chosen.kind] = chosen
    try:
        ints = [int(x) for x in labels]
    except ValueError:
        ints = None
    if ints is not None and [str(v) for v in ints] == labels:
        arr = np.array(ints, dtype=np.int64)
        out["int64"] = ItemIds("int64")
        if arr.min() >= -2**31 and arr.max() < 2**31:
            out["int32"] = ItemIds("int32")
        if (np.diff(arr) > 0).all():
            n = len(id_maps.encode_varints((np.diff(arr) - 1).astype(np.uint64)))
            out["delta"] = ItemIds("delta", first=ints[0], n_bytes=n)
            missing = int(arr[-1] - arr[0]) + 1 - len(arr)
            if 0 < missing <= len(arr):
                holes = np.setdiff1d(np.arange(arr[0], arr[-1] + 1), arr)
                gaps = np.diff(np.concatenate([[arr[0]], holes])) - 1
                out["holes"] = ItemIds("holes", start=ints[0], n_holes=missing,
                                       n_bytes=len(id_maps.encode_varints(gaps)))
    else:
        out["front"] = ItemIds("front", n_bytes=len(id_maps.front_encode(labels)))
    return out


def fitted_width(emb: RunEmbeddings, options: BuildOptions, budget: int) -> int | None:
    try:
        return fit(emb, DenseSelection(DIM), options, budget).width
    except BudgetExceeded:
        return None


def records_for(name: str, labels: list[str]) -> list[dict]:
    n = len(labels)
    rng = np.random.default_rng(0)
    emb = RunEmbeddings(user=rng.standard_normal((1, DIM), dtype=np.float32),
                        item=rng.standard_normal((n, DIM), dtype=np.float32), dataset=name,
                        dataset_fingerprint="random", model="random", user_labels=["0"],
                        item_labels=labels)
    base = plan(emb, DenseSelection(DIM), BuildOptions())
    chosen = base.items.kind
    budget = int(SHARE * n * DIM * 4)
    record = {"benchmark": "id_maps", "dataset": name, "model": "random", "method": "id_map",
              "n_items": n, "chosen": chosen, "budget_bytes": budget, **provenance()}
    for kind, ids in maps(labels).items():
        record[f"{kind}_bytes"] = runtime.id_map_bytes(replace(base, items=ids))
    for dtype in ("float32", "int4"):
        for how in ("auto", "catalogue"):
            options = BuildOptions(value_dtype=dtype, item_ids=how)
            record[f"width_5%_{dtype}_{how}"] = fitted_width(emb, options, budget)
    print(record, flush=True)
    return [record]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("ELASTICREC_DATA", "/work/shared/datasets")))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "id_maps.json")
    args = parser.parse_args(argv)
    records = []
    for name, labels in dataset_labels(args.data_dir).items():
        records += records_for(name, labels)
    merged = upsert(args.out, records, key=("benchmark", "dataset"))
    write_markdown(merged, args.out.with_suffix(".md"))
    return 0


def write_markdown(records: list[dict], path: Path) -> None:
    rows = sorted(records, key=lambda r: r["n_items"])
    costs = ["dataset", "n_items", "chosen", *[f"{k}_bytes" for k in KINDS]]
    widths = ["dataset", "budget_bytes", *[f"width_5%_{d}_{h}" for d in ("float32", "int4")
                                           for h in ("auto", "catalogue")]]
    text = (
        "# Item id maps: bytes per kind, and what a 5% package then holds\n\n"
        "Generated by `python -m benchmarks.id_maps` from `id_maps.json`; do not edit.\n\n"
        "Bytes each exact id map takes in a package (manifest entry as the header holds it, "
        "plus any tensor and its header entry); empty: the kind cannot represent these ids. "
        "`chosen` is the builder's pick (`--item-ids auto`); `catalogue` is only asked for "
        "(`--item-ids catalogue`).\n\n"
        + markdown_table(rows, costs)
        + "\n\nThe widest dense prefix (of 64) in a single-user package at 5% of the float32 "
        "item table, with the chosen map or a catalogue reference; empty: not even a package "
        "without values fits.\n\n"
        + markdown_table(rows, widths) + "\n\n" + measured(rows) + "\n")
    write_text(path, text)


if __name__ == "__main__":
    raise SystemExit(main())
