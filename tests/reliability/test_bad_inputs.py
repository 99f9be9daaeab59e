"""The bad-input corpus: data files, options, run folders and packages a user may hand the
CLI. Every case must exit 2 with exactly one error line that names the input (the file and
line, the option, or the package path), no traceback, and leave the working directory
exactly as it was (every entry and every byte compared before and after)."""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from reliability_tools import TRAIN, assert_refused, cli, snapshot
from safetensors.numpy import save_file

from elasticrec.format.container import HEADER_PREFIX

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    names: str  # what the one error line must contain: the file, the option, the package
    setup: Setup | None = None


def write(name: str, data: bytes | str) -> Setup:
    def setup(ws: Path) -> None:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return setup


def truncate(name: str, keep: int) -> Setup:
    def setup(ws: Path) -> None:
        path = ws / name
        path.write_bytes(path.read_bytes()[:keep])
    return setup


def flip(name: str, offset: int) -> Setup:
    def setup(ws: Path) -> None:
        path = ws / name
        data = bytearray(path.read_bytes())
        data[offset % len(data)] ^= 0x40
        path.write_bytes(bytes(data))
    return setup


def remove(name: str) -> Setup:
    def setup(ws: Path) -> None:
        path = ws / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return setup


def copy(src: str, dst: str) -> Setup:
    return lambda ws: shutil.copyfile(ws / src, ws / dst)


def both(*steps: Setup) -> Setup:
    def setup(ws: Path) -> None:
        for step in steps:
            step(ws)
    return setup


def edit_json(name: str, change: Callable[[dict], object]) -> Setup:
    def setup(ws: Path) -> None:
        path = ws / name
        value = json.loads(path.read_text())
        change(value)
        path.write_text(json.dumps(value))
    return setup


def tensors_without_metadata(name: str) -> Setup:
    def setup(ws: Path) -> None:
        save_file({"user": np.zeros((40, 8), np.float32), "item": np.zeros((40, 8), np.float32)},
                  str(ws / name))
    return setup


def random_bytes(name: str, n: int, seed: int = 0) -> Setup:
    return write(name, np.random.default_rng(seed).bytes(n))


def deep_header() -> bytes:
    """A package whose header begins as a package's does and then nests 100,000 deep."""
    body = (HEADER_PREFIX + b"0" * 64 + b'\\"}","x":' + b"[" * 100_000 + b"]" * 100_000
            + b"}")
    body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body


def lightgcn(folder: str, train: str, test: str = "0 1\n1 2\n") -> Setup:
    return both(write(f"{folder}/train.txt", train), write(f"{folder}/test.txt", test))


def train(*extra: str, data: str = "events.csv", out: str = "out") -> tuple[str, ...]:
    return ("train", "--dataset", data, "--out", out, *TRAIN, *extra)


RULE = ("--method", "rule", "--blocks", "4", "--item-groups", "2", "--label-configs", "10")
EXPORT = ("export", "good", "--budget", "5KB", "--user", "u1", "--out", "out.erpkg")
STREAM = ("stream", "--dataset", "events.csv", "--method", "su", "--out", "out",
          "--time-col", "ts", "--budget")

DATA_FILES = [
    Case("binary-csv", train(data="bin.csv"), "bin.csv", random_bytes("bin.csv", 3000)),
    Case("empty-file", train(data="e.csv"), "e.csv", write("e.csv", "")),
    Case("whitespace-only", train(data="e.csv"), "e.csv", write("e.csv", "\n \n\t\n")),
    Case("header-only", train(data="h.csv"), "h.csv", write("h.csv", "user,item\n")),
    Case("no-user-column", train(data="c.csv"), "c.csv line 1",
         write("c.csv", "uid,item\n1,2\n")),
    Case("missing-time-column", train("--time-col", "when"), "events.csv line 1"),
    Case("missing-item-column", train("--item-col", "thing"), "events.csv line 1"),
    Case("same-column-twice", train("--user-col", "item"), "events.csv"),
    Case("time-col-is-item", train("--time-col", "item"), "events.csv"),
    Case("short-row", train(data="r.csv"), "r.csv line 3",
         write("r.csv", "user,item\n1,2\n3\n4,5\n")),
    Case("long-row", train(data="r.csv"), "r.csv line 2",
         write("r.csv", "user,item\n1,2,3\n4,5\n")),
    Case("bad-utf8", train(data="u.csv"), "u.csv line 3",
         write("u.csv", b"user,item\n1,2\n\xff\xfe,3\n")),
    Case("empty-id", train(data="i.csv"), "i.csv line 3", write("i.csv", "user,item\n1,2\n,3\n")),
    Case("bad-timestamp", train("--time-col", "ts", data="t.csv"), "t.csv line 3",
         write("t.csv", "user,item,ts\n1,2,100\n3,4,yesterday\n")),
    Case("unknown-extension", train(data="d.xlsx"), "d.xlsx", write("d.xlsx", "user,item\n")),
    Case("txt-no-separator", train(data="d.txt"), "d.txt line 1", write("d.txt", "useritem\n")),
    Case("missing-file", train(data="nope.csv"), "nope.csv"),
    Case("missing-path", train(data="some/where/x"), "some/where/x"),
    Case("unknown-name", train(data="gowala"), "gowala"),
    Case("not-parquet", train(data="p.parquet"), "p.parquet", write("p.parquet", "user,item\n")),
    Case("device-as-data", train(data="/dev/null"), "/dev/null"),
    Case("folder-without-splits", train(data="emptydir"), "emptydir",
         lambda ws: (ws / "emptydir").mkdir()),
    Case("lightgcn-negative-id", train(data="lg"), "lg/train.txt line 2",
         lightgcn("lg", "0 1 2\n1 -3 4\n")),
    Case("lightgcn-non-integer", train(data="lg"), "lg/train.txt line 1",
         lightgcn("lg", "0 1 x2\n")),
    Case("lightgcn-huge-id", train(data="lg"), "lg/train.txt line 1",
         lightgcn("lg", "0 99999999999999999999\n")),
    Case("lightgcn-empty", train(data="lg"), "lg/train.txt", lightgcn("lg", "\n")),
    Case("lightgcn-bad-test", train(data="lg"), "lg/test.txt line 1",
         lightgcn("lg", "0 1\n", "a b\n")),
    Case("lightgcn-with-columns", train("--user-col", "u", data="lg"), "lg",
         lightgcn("lg", "0 1\n")),
    Case("user-with-every-item", train(data="lg"), "user '0'",
         lightgcn("lg", "0 0 1\n1 0\n", "1 1\n")),
    Case("k-core-empties-data", train("--k-core", "100"), "--k-core 100"),
    Case("given-split-with-k-core", train("--k-core", "2", data="lg"), "--k-core",
         lightgcn("lg", "0 1 2\n1 2 3\n")),
]

OPTIONS = [
    Case("lr-inf", train("--lr", "inf"), "--lr"),
    Case("lr-nan", train("--lr", "nan"), "--lr"),
    Case("lr-negative", train("--lr", "-1"), "--lr"),
    Case("lr-not-a-number", train("--lr", "fast"), "--lr"),
    Case("lr-diverges", train("--lr", "1e30"), "lr=1e+30"),
    Case("l2-inf", train("--l2", "inf"), "--l2"),
    Case("dim-zero", train("--dim", "0"), "--dim"),
    Case("dim-huge", train("--dim", "100000000000"), "--dim"),
    Case("dim-text", train("--dim", "wide"), "--dim"),
    Case("init-std-zero", train("--init-std", "0"), "--init-std"),
    Case("epochs-zero", train("--epochs", "0"), "--epochs"),
    Case("batch-zero", train("--batch-size", "0"), "--batch-size"),
    Case("test-ratio-one", train("--test-ratio", "1"), "--test-ratio"),
    Case("test-ratio-negative", train("--test-ratio", "-0.1"), "--test-ratio"),
    Case("valid-ratio-one", train("--valid-ratio", "1"), "--valid-ratio"),
    Case("k-zero", train("--k", "0"), "--k"),
    Case("metric-unknown", train("--metric", "auc"), "--metric"),
    Case("metric-k-not-reported", train("--metric", "recall@5"), "--metric"),
    Case("layers-negative", ("train", "--dataset", "events.csv", "--out", "out", "--dim", "8",
                             "--layers", "-1"), "--layers"),
    Case("blocks-not-divisor", train(*RULE[:2], "--blocks", "3"), "--blocks"),
    Case("item-groups-zero", train(*RULE, "--item-groups", "0"), "--item-groups"),
    Case("label-configs-few", train(*RULE, "--label-configs", "1"), "--label-configs"),
    Case("diversity-nan", train(*RULE, "--diversity", "nan"), "--diversity"),
    Case("rule-without-validation", train(*RULE, "--valid-ratio", "0"), "--valid-ratio"),
    Case("peel-lr-inf", train("--method", "peel", "--peel-lr", "inf"), "--peel-lr"),
    Case("clusters-zero", train("--method", "peel", "--clusters", "0"), "--clusters"),
    Case("workers-zero", train("--method", "peel", "--workers", "0"), "--workers"),
    Case("unknown-option", train("--learning-rate", "0.1"), "--learning-rate"),
    Case("unknown-model", train("--model", "svd"), "--model"),
    Case("out-is-a-file", train(out="events.csv"), "events.csv"),
    Case("out-under-a-file", train(out="events.csv/run"), "events.csv/run"),
    Case("out-holds-a-run", train(out="good"), "good"),
    Case("resume-nothing", train("--resume", out="fresh"), "fresh"),
    Case("stream-c-inf", (*STREAM, "c=inf"), "c=inf"),
    Case("stream-c-nan", (*STREAM, "c=nan"), "c=nan"),
    Case("stream-c-zero", (*STREAM, "c=0"), "c=0"),
    Case("stream-B-huge", (*STREAM, "B=1e400"), "B=1e400"),
    Case("stream-budget-text", (*STREAM, "lots"), "lots"),
    Case("stream-d-max-zero", (*STREAM, "c=4", "--d-max", "0"), "d_max"),
    Case("stream-lr-inf", (*STREAM, "c=4", "--lr", "inf"), "lr"),
    Case("stream-too-many-segments", (*STREAM, "c=4", "--segments", "100000"), "segments"),
    Case("stream-no-timestamps", ("stream", "--dataset", "events.csv", "--method", "su",
                                  "--out", "out", "--budget", "c=4"), "time"),
    Case("stream-out-is-a-file", ("stream", "--dataset", "events.csv", "--method", "su",
                                  "--out", "events.csv", "--time-col", "ts", "--budget", "c=4"),
         "events.csv"),
    Case("demo-budget-text", ("demo", "--dataset", "events.csv", "--budgets", "10%", "lots",
                              "--out", "out"), "lots"),
    Case("demo-budget-over-100", ("demo", "--dataset", "events.csv", "--budgets", "200%",
                                  "--out", "out"), "200%"),
    Case("export-budget-text", ("export", "good", "--budget", "lots", "--user", "u1",
                                "--out", "o.erpkg"), "lots"),
    Case("export-budget-inf", ("export", "good", "--budget", "inf", "--user", "u1",
                               "--out", "o.erpkg"), "inf"),
    Case("export-budget-zero", ("export", "good", "--budget", "0", "--user", "u1",
                                "--out", "o.erpkg"), "budget"),
    Case("export-budget-over-100", ("export", "good", "--budget", "200%", "--user", "u1",
                                    "--out", "o.erpkg"), "200%"),
    Case("export-budget-too-small", ("export", "good", "--budget", "100", "--user", "u1",
                                     "--out", "o.erpkg"), "budget"),
    Case("export-unknown-user", ("export", "good", "--budget", "5KB", "--user", "nobody",
                                 "--out", "o.erpkg"), "nobody"),
    Case("export-unknown-history", ("export", "good", "--budget", "5KB", "--history", "x1",
                                    "--out", "o.erpkg"), "x1"),
    Case("export-out-is-a-folder", ("export", "good", "--budget", "5KB", "--user", "u1",
                                    "--out", "rule"), "rule"),
    Case("export-out-under-a-file", ("export", "good", "--budget", "5KB", "--user", "u1",
                                     "--out", "events.csv/p.erpkg"), "events.csv"),
    Case("export-dtype-unknown", (*EXPORT, "--dtype", "int3"), "--dtype"),
    Case("evaluate-k-zero", ("evaluate", "good", "--k", "0"), "--k"),
]

RUN_FOLDERS = [
    Case("no-run-folder", ("evaluate", "nowhere"), "nowhere"),
    Case("no-config", EXPORT, "good/config.json", remove("good/config.json")),
    Case("config-bad-json", EXPORT, "good/config.json", write("good/config.json", '{"a": ')),
    Case("config-deep-json", EXPORT, "good/config.json",
         write("good/config.json", "[" * 100_000 + "]" * 100_000)),
    Case("config-not-object", EXPORT, "good/config.json", write("good/config.json", "[1]")),
    Case("config-binary", EXPORT, "good/config.json", random_bytes("good/config.json", 500)),
    Case("config-unknown-method", EXPORT, "good/config.json",
         edit_json("good/config.json", lambda c: c.update(method="magic"))),
    Case("config-is-a-folder", EXPORT, "good/config.json",
         both(remove("good/config.json"), lambda ws: (ws / "good/config.json").mkdir())),
    Case("unfinished-run", EXPORT, "good", remove("good/run.json")),
    Case("run-record-bad-json", EXPORT, "good/run.json", write("good/run.json", "{")),
    Case("run-record-other-method", EXPORT, "good/run.json",
         edit_json("good/run.json", lambda m: m.update(method="rule"))),
    Case("run-record-no-files", EXPORT, "good/run.json",
         edit_json("good/run.json", lambda m: m.pop("files"))),
    Case("embeddings-truncated", EXPORT, "good/embeddings.safetensors",
         truncate("good/embeddings.safetensors", 700)),
    Case("embeddings-missing", EXPORT, "good/embeddings.safetensors",
         remove("good/embeddings.safetensors")),
    Case("embeddings-flipped-byte", EXPORT, "good/embeddings.safetensors",
         flip("good/embeddings.safetensors", -5)),
    Case("embeddings-without-metadata", EXPORT, "good/embeddings.safetensors",
         tensors_without_metadata("good/embeddings.safetensors")),
    Case("embeddings-from-another-run", ("evaluate", "good"), "good/embeddings.safetensors",
         copy("rule/embeddings.safetensors", "good/embeddings.safetensors")),
    Case("embeddings-random", ("evaluate", "good"), "good/embeddings.safetensors",
         random_bytes("good/embeddings.safetensors", 3680)),
    Case("rule-state-missing", ("export", "rule", "--budget", "5KB", "--user", "u1",
                                "--out", "o.erpkg"), "rule/elastic.safetensors",
         remove("rule/elastic.safetensors")),
    Case("rule-state-truncated", ("export", "rule", "--budget", "5KB", "--user", "u1",
                                  "--out", "o.erpkg"), "rule/elastic.safetensors",
         truncate("rule/elastic.safetensors", 100)),
    Case("rule-run-said-plain", ("export", "rule", "--budget", "5KB", "--user", "u1",
                                 "--out", "o.erpkg"), "rule/",
         edit_json("rule/config.json", lambda c: c.update(method="full"))),
    Case("result-altered", ("evaluate", "good"), "good/result.json",
         write("good/result.json", "{}\n")),
    Case("resume-truncated-checkpoint", train("--resume", out="good"),
         "good/checkpoint.safetensors", truncate("good/checkpoint.safetensors", 500)),
    Case("resume-random-checkpoint", train("--resume", out="good"),
         "good/checkpoint.safetensors", random_bytes("good/checkpoint.safetensors", 4000)),
    Case("resume-checkpoint-without-metadata", train("--resume", out="good"),
         "good/checkpoint.safetensors",
         tensors_without_metadata("good/checkpoint.safetensors")),
    Case("resume-checkpoint-of-other-shapes", train("--resume", out="good"),
         "good/checkpoint.safetensors", lambda ws: save_file(
             {"model.embedding.weight": np.zeros((3, 2), np.float32)},
             str(ws / "good/checkpoint.safetensors"), metadata={"elasticrec": json.dumps(
                 {"param_groups": [], "state": {"epoch": 1, "config": json.loads(
                     (ws / "good/config.json").read_text())["train"]}})})),
    Case("resume-checkpoint-of-another-run", train("--resume", out="good"),
         "good/checkpoint.safetensors",
         copy("rule/checkpoint.safetensors", "good/checkpoint.safetensors")),
    Case("resume-checkpoint-missing", train("--resume", out="good"),
         "good/checkpoint.safetensors", remove("good/checkpoint.safetensors")),
    Case("resume-metrics-garbage", train("--resume", out="good"), "good/metrics.jsonl line 1",
         write("good/metrics.jsonl", "not json\n")),
    Case("resume-changed-lr", train("--resume", "--lr", "0.5", out="good"), "good"),
    Case("resume-changed-model", ("train", "--dataset", "events.csv", "--out", "good",
                                  "--resume", "--dim", "8", "--epochs", "3"), "good"),
    Case("resume-changed-data", train("--resume", "--test-ratio", "0.3", out="good"), "good"),
    Case("resume-changed-method", train(*RULE, "--resume", out="good"), "good"),
]

PACKAGES = [
    Case("package-binary", ("inspect", "x.erpkg"), "x.erpkg", random_bytes("x.erpkg", 5000)),
    Case("package-empty", ("inspect", "x.erpkg"), "x.erpkg", write("x.erpkg", b"")),
    Case("package-truncated", ("inspect", "good.erpkg"), "good.erpkg",
         truncate("good.erpkg", 1000)),
    Case("package-flipped-byte", ("recommend", "good.erpkg"), "good.erpkg",
         flip("good.erpkg", -3)),
    Case("package-flipped-header", ("inspect", "good.erpkg"), "good.erpkg",
         flip("good.erpkg", 200)),
    Case("package-trailing-bytes", ("inspect", "x.erpkg"), "x.erpkg",
         lambda ws: (ws / "x.erpkg").write_bytes((ws / "good.erpkg").read_bytes() + b"\0")),
    Case("package-deep-header", ("inspect", "x.erpkg"), "x.erpkg", write("x.erpkg",
                                                                       deep_header())),
    Case("package-huge-header-length", ("inspect", "x.erpkg"), "x.erpkg",
         write("x.erpkg", struct.pack("<Q", 2**62) + b"{}")),
    Case("package-is-a-csv", ("inspect", "events.csv"), "events.csv"),
    Case("package-is-a-folder", ("inspect", "good"), "good"),
    Case("package-is-a-device", ("inspect", "/dev/null"), "/dev/null"),
    Case("package-missing", ("recommend", "none.erpkg"), "none.erpkg"),
    Case("package-run-file", ("inspect", "good/embeddings.safetensors"),
         "good/embeddings.safetensors"),
    Case("evaluate-package-binary", ("evaluate", "good", "--package", "bundle.erpkg",
                                     "x.erpkg"),
         "x.erpkg", random_bytes("x.erpkg", 100)),
    Case("evaluate-package-of-one-user", ("evaluate", "good", "--package", "bundle.erpkg",
                                          "good.erpkg"), "good.erpkg"),
    Case("evaluate-package-other-data", ("evaluate", "good", "--package", "other.erpkg"),
         "other.erpkg", lambda ws: shutil.copyfile(ws / "other/bundle.erpkg",
                                                    ws / "other.erpkg")),
    Case("recommend-unknown-user", ("recommend", "bundle.erpkg", "--user", "nobody"), "nobody"),
    Case("recommend-k-zero", ("recommend", "good.erpkg", "-k", "0"), "-k"),
    Case("recommend-unknown-history", ("recommend", "good.erpkg", "--history", "x9"), "x9"),
    Case("shrink-to-nothing", ("shrink", "good.erpkg", "--budget", "10", "--out", "s.erpkg"),
         "budget"),
    Case("shrink-bad-budget", ("shrink", "good.erpkg", "--budget", "-5", "--out", "s.erpkg"),
         "-5"),
    Case("shrink-out-is-a-folder", ("shrink", "good.erpkg", "--budget", "2KB",
                                    "--out", "good"), "good"),
    Case("onnx-binary", ("onnx", "x.erpkg", "--out", "m.onnx"), "x.erpkg",
         random_bytes("x.erpkg", 64)),
]

CORPUS = DATA_FILES + OPTIONS + RUN_FOLDERS + PACKAGES


def test_the_corpus_is_large_and_named_uniquely():
    assert len(CORPUS) >= 80
    assert len({c.id for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_refused_in_one_line_leaving_nothing(case: Case, sandbox: Path, capsys):
    if case.setup is not None:
        case.setup(sandbox)
    before = snapshot(sandbox)
    code, _out, err = cli(capsys, list(case.argv))
    assert_refused(code, err, case.names)
    assert snapshot(sandbox) == before, "the refused command changed the folder"
    assert os.getcwd() == str(sandbox)
