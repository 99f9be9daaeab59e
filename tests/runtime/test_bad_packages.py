"""A corpus of malformed, truncated, tampered and future packages: each one is refused with a
``PackageError`` whose message names the problem; none crashes or loads."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as st_save

from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build
from elasticrec.format.container import (
    DIGEST_OFFSET,
    DTYPES,
    ZERO_DIGEST,
    decode,
    digest,
    encode,
)
from elasticrec.runtime import PackageError, load, load_bytes

RNG = np.random.default_rng(7)
N_ITEMS, DIM = 12, 8
EMB = RunEmbeddings(
    user=RNG.standard_normal((2, DIM), dtype=np.float32),
    item=RNG.standard_normal((N_ITEMS, DIM), dtype=np.float32),
    dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
    user_labels=["alice", "bob"], item_labels=[str(100 + i) for i in range(N_ITEMS)],
)
GROUPS = np.arange(N_ITEMS) % 3
DENSE = build(EMB, DenseSelection(6), BuildOptions(users=(0,)))
BLOCKS = build(EMB, BlockSelection.from_groups(4, GROUPS, [[0, 1], [2], [3, 0]]),
               BuildOptions(value_dtype="int8", scales="block", users=(0,)))
RAGGED = build(EMB, RaggedSelection(np.arange(N_ITEMS) % (DIM + 1)),
               BuildOptions(value_dtype="int8", users=(0,)))
INT_IDS = build(  # 40 ids in no order: an int32 tensor is the smallest map
    RunEmbeddings(user=EMB.user, item=RNG.standard_normal((40, DIM), dtype=np.float32),
                  dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
                  user_labels=["alice", "bob"],
                  item_labels=[str(1000 + (i * 17) % 40) for i in range(40)]),
    DenseSelection(2), BuildOptions(users=(0,)))
PACKED = build(EMB, RaggedSelection(np.arange(N_ITEMS) % (DIM + 1)),  # 39 values: a half byte
               BuildOptions(value_dtype="int4", users=(0,)))


def resign(data: bytes | bytearray) -> bytes:
    """Recompute the digest, so that a deeper check than the checksum is what refuses."""
    out = bytearray(data)
    out[DIGEST_OFFSET:DIGEST_OFFSET + 64] = digest(out).encode("ascii")
    return bytes(out)


def split(data: bytes) -> tuple[str, dict[str, tuple[str, np.ndarray]]]:
    """The manifest JSON (digest zeroed) and writable copies of the tensors."""
    c = decode(data)
    tensors = {}
    for name, (spec, offset) in c.tensors.items():
        arr = np.frombuffer(data, DTYPES[spec.dtype], int(np.prod(spec.shape)), offset)
        tensors[name] = (spec.dtype, arr.reshape(spec.shape).copy())
    return '{"sha256":"' + ZERO_DIGEST + c.manifest_json[75:], tensors


def with_manifest(data: bytes, edit: Callable[[dict], None]) -> bytes:
    manifest, tensors = split(data)
    raw = json.loads(manifest)
    edit(raw)
    text = json.dumps(raw, ensure_ascii=True, separators=(",", ":"))
    return encode(text, tensors)


def with_tensors(data: bytes, edit: Callable[[dict], None]) -> bytes:
    manifest, tensors = split(data)
    edit(tensors)
    return encode(manifest, tensors)


def with_header(data: bytes, edit: Callable[[str], str]) -> bytes:
    """Edit the header text, fix the length field and padding, re-sign."""
    (n,) = struct.unpack("<Q", data[:8])
    header = edit(data[8:8 + n].decode("utf-8").rstrip(" ")).encode("utf-8")
    header += b" " * (-len(header) % 8)
    return resign(struct.pack("<Q", len(header)) + header + data[8 + n:])


def flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def header_len(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


def set_item(name: str, index, value) -> Callable[[dict], None]:
    def edit(t: dict) -> None:
        t[name][1][index] = value
    return edit


CORPUS: list[tuple[str, Callable[[], bytes], str]] = [
    ("empty file", lambda: b"", r"truncated: 0 bytes"),
    ("truncated in the length field", lambda: DENSE[:5], r"truncated: 5 bytes"),
    ("truncated in the header", lambda: DENSE[:200], r"truncated: header length .* runs past"),
    ("truncated in the data", lambda: DENSE[:-7], r"truncated: the tensors need"),
    ("truncated by one byte", lambda: RAGGED[:-1], r"truncated: the tensors need"),
    ("trailing bytes", lambda: DENSE + b"\0", r"1 trailing bytes"),
    ("oversized header length", lambda: struct.pack("<Q", 2**40) + DENSE[8:],
     r"header length 1,099,511,627,776 exceeds the 100,000,000-byte limit"),
    ("header length beyond the file", lambda: struct.pack("<Q", len(DENSE)) + DENSE[8:],
     r"runs past the end"),
    ("header length not a multiple of 8",
     lambda: struct.pack("<Q", header_len(DENSE) - 3) + DENSE[8:], r"not a multiple of 8"),
    ("not JSON", lambda: with_header(DENSE, lambda h: h.replace('"user":', '"user";')),
     r"header is not valid UTF-8 JSON"),
    ("plain safetensors file", lambda: st_save({"x": np.zeros(3, np.float32)}),
     r"not an elasticrec package"),
    ("flipped byte in a tensor", lambda: flip(DENSE, len(DENSE) - 3), r"checksum mismatch"),
    ("flipped byte in the header (a label)",
     lambda: flip(DENSE, DENSE.index(b"alice")), r"checksum mismatch"),
    ("flipped byte in a block id", lambda: flip(BLOCKS, BLOCKS.index(b"[[0,0],") + 4),
     r"checksum mismatch"),
    ("flipped digest", lambda: flip(DENSE, DIGEST_OFFSET), r"checksum mismatch"),
    ("future version", lambda: with_manifest(DENSE, lambda m: m.update(version=6)),
     r"format version 6 is newer than this elasticrec reads"),
    ("version 5 without column scales", lambda: with_manifest(DENSE,
                                                              lambda m: m.update(version=5)),
     r"version=5 is not allowed: 1 or 2 for a dense.*5 for column scales"),
    ("v1 manifest with a v2 key", lambda: with_manifest(DENSE, lambda m: m.update(version=1)),
     r"manifest keys differ from version 1: missing \[\], unexpected \['seen'\]"),
    ("int4 zero code", lambda: with_tensors(PACKED, set_item("values", 0, 0x70)),
     r"'values' \(int4\) holds a zero code"),
    ("int4 bits after the last value", lambda: with_tensors(PACKED, set_item("values", -1, 0xF8)),
     r"'values' \(int4\) has bits set after its last value"),
    ("wrong version", lambda: with_manifest(DENSE, lambda m: m.update(version=0)),
     r"manifest version 0 is not allowed"),
    ("wrong format name", lambda: with_manifest(DENSE, lambda m: m.update(format="x")),
     r"manifest format is 'x'"),
    ("unknown manifest key", lambda: with_manifest(DENSE, lambda m: m.update(extra=1)),
     r"unexpected \['extra'\]"),
    ("missing tensor", lambda: with_tensors(BLOCKS, lambda t: t.pop("scales")),
     r"missing tensor 'scales'"),
    ("extra tensor", lambda: with_tensors(DENSE, lambda t: t.update(
        extra=("F32", np.zeros(2, np.float32)))), r"unexpected tensor 'extra'"),
    ("NaN in values", lambda: with_tensors(DENSE, set_item("values", (3, 2), np.nan)),
     r"tensor 'values' holds NaN or infinite values"),
    ("infinity in the user vector",
     lambda: with_tensors(DENSE, set_item("user", (0, 1), np.inf)),
     r"tensor 'user' holds NaN or infinite values"),
    ("wrong dtype", lambda: with_tensors(DENSE, lambda t: t.update(
        values=("F16", t["values"][1].astype(np.float16)))),
     r"tensor 'values' has dtype F16; the manifest requires F32"),
    ("wrong shape", lambda: with_tensors(DENSE, lambda t: t.update(
        values=("F32", t["values"][1][:, :5].copy()))),
     r"tensor 'values' has shape \[12, 5\]; the manifest requires \[12, 6\]"),
    ("offsets not monotone", lambda: with_tensors(RAGGED, set_item("offsets", 3, 40)),
     r"tensor 'offsets' is not monotone"),
    ("offsets not ending at n_values",
     lambda: with_tensors(RAGGED, set_item("offsets", -1, 1)), r"tensor 'offsets' runs from"),
    ("ragged row wider than dim", lambda: with_tensors(RAGGED, lambda t: t.update(
        offsets=("I32", np.r_[0, np.full(N_ITEMS, t["offsets"][1][-1])].astype(np.int32)))),
     r"row width \d+ above dim=8"),
    ("block id out of range",
     lambda: with_manifest(BLOCKS, lambda m: m["layout"]["order"].append([1, 4])),
     r"layout.order pair=\[1, 4\] is not allowed"),
    ("repeated block", lambda: with_manifest(BLOCKS, lambda m: m["layout"]["order"].append(
        [0, 0])), r"distinct \(group, block\) pairs"),
    ("group id out of range", lambda: with_tensors(BLOCKS, set_item("item_group", 0, 3)),
     r"tensor 'item_group' names group 3"),
    ("group sizes disagree",
     lambda: with_tensors(BLOCKS, set_item("item_group", 0, 1)), r"disagrees with the"),
    ("negative scale", lambda: with_tensors(BLOCKS, set_item("scales", 2, -1.0)),
     r"negative scales"),
    ("int8 -128", lambda: with_tensors(BLOCKS, set_item("values", 5, -128)),
     r"holds -128"),
    ("repeated item id", lambda: with_tensors(INT_IDS, set_item("item_ids", 1, 1000)),
     r"'item_ids' repeats an id"),
    ("unknown dtype", lambda: with_header(DENSE, lambda h: h.replace('"F32","shape":[1,8]',
                                                                      '"F64","shape":[1,8]')),
     r"tensor 'user' has dtype 'F64'"),
    ("offsets disagree with shape", lambda: with_header(
        DENSE, lambda h: h.replace('"shape":[1,8]', '"shape":[1,9]')), r"span 32 bytes"),
    ("non-canonical spacing", lambda: with_header(DENSE, lambda h: h.replace(
        '"user":{', '"user": {')), r"not in canonical form"),
    ("dim not divisible by n_blocks",
     lambda: with_manifest(BLOCKS, lambda m: m["layout"].update(n_blocks=3)),
     r"layout.n_blocks=3 is not allowed"),
]


@pytest.mark.parametrize(("name", "make", "message"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_package_is_refused_with_a_clear_message(name, make, message, tmp_path):
    data = make()
    with pytest.raises(PackageError, match=message):
        load_bytes(data)
    path = tmp_path / "bad.erpk"
    path.write_bytes(data)
    with pytest.raises(PackageError, match=message):
        load(path)


def test_corpus_is_large_and_its_bases_are_valid():
    assert len(CORPUS) >= 15
    for data in (DENSE, BLOCKS, RAGGED):
        assert load_bytes(data).recommend(3).items.size == 3
    assert issubclass(PackageError, ElasticrecError)


def test_edits_without_resigning_fail_the_checksum():
    _, tensors = split(DENSE)
    tensors["values"][1][0, 0] += 1
    tampered = bytearray(encode('{"sha256":"' + ZERO_DIGEST + decode(DENSE).manifest_json[75:],
                                tensors))
    tampered[DIGEST_OFFSET:DIGEST_OFFSET + 64] = DENSE[DIGEST_OFFSET:DIGEST_OFFSET + 64]
    with pytest.raises(PackageError, match="checksum mismatch"):
        load_bytes(bytes(tampered))
    assert re.fullmatch("[0-9a-f]{64}", decode(DENSE).manifest_json[11:75])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["dense", "blocks", "ragged"]), st.data())
def test_random_corruption_is_refused_or_harmless_never_a_crash(name, data):
    """Random bytes overwritten anywhere, digest recomputed so deeper checks are reached:
    loading either refuses with a PackageError or yields a package that still scores."""
    base = {"dense": DENSE, "blocks": BLOCKS, "ragged": RAGGED}[name]
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4), label="n_edits")):
        at = data.draw(st.integers(0, len(buf) - 1), label="at")
        buf[at] = data.draw(st.integers(0, 255), label="byte")
    if data.draw(st.booleans(), label="resign") and len(buf) > DIGEST_OFFSET + 64:
        buf = bytearray(resign(buf))
    try:
        pkg = load_bytes(bytes(buf))
    except PackageError:
        return
    scores = pkg.scores(pkg.user_vector())
    assert scores.shape == (pkg.n_items,)
