"""Golden bytes: the tiny package of docs/FORMAT.md section 8, byte for byte, and safetensors
compatibility (our writer equals safetensors' own, and safetensors reads our files)."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
from package_strategies import embeddings_from
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions, build
from elasticrec.format.container import DIGEST_OFFSET, HEADER_PREFIX, decode
from elasticrec.runtime import load_bytes

GOLDEN_HEADER = (
    '{"__metadata__":{"elasticrec":"{\\"sha256\\":\\"'
    "0c61c3fad3643a9fa09f262e27bda7bd8d3ad7763ab99d89b2fcea47f20ea75d"
    '\\",\\"format\\":\\"elasticrec-package\\",\\"version\\":2,\\"method\\":\\"dense-truncate'
    '\\",\\"dataset\\":\\"toy\\",\\"dataset_fingerprint\\":\\"0123456789abcdef\\",\\"model'
    '\\":\\"mf\\",\\"dim\\":4,\\"n_items\\":3,\\"value_dtype\\":\\"float32\\",\\"scales\\":'
    '\\"none\\",\\"layout\\":{\\"kind\\":\\"dense\\",\\"width\\":2},\\"users\\":[\\"alice\\"],'
    '\\"items\\":{\\"kind\\":\\"range\\",\\"start\\":0},\\"seen\\":0}"},"user":{"dtype":"F32",'
    '"shape":[1,4],"data_offsets":[0,16]},"values":{"dtype":"F32","shape":[3,2],'
    '"data_offsets":[16,40]}}    '
)
GOLDEN_V1_HEADER = (  # the same package as format version 1 wrote it
    '{"__metadata__":{"elasticrec":"{\\"sha256\\":\\"'
    "eefac97820ce5d14e522e82f69e13b3c49b6fea78d64c0ebfab60e409e9b8cfc"
    '\\",\\"format\\":\\"elasticrec-package\\",\\"version\\":1,\\"method\\":\\"dense-truncate'
    '\\",\\"dataset\\":\\"toy\\",\\"dataset_fingerprint\\":\\"0123456789abcdef\\",\\"model'
    '\\":\\"mf\\",\\"dim\\":4,\\"n_items\\":3,\\"value_dtype\\":\\"float32\\",\\"scales\\":'
    '\\"none\\",\\"layout\\":{\\"kind\\":\\"dense\\",\\"width\\":2},\\"users\\":[\\"alice\\"],'
    '\\"items\\":{\\"kind\\":\\"range\\"}}"},"user":{"dtype":"F32","shape":[1,4],'
    '"data_offsets":[0,16]},"values":{"dtype":"F32","shape":[3,2],"data_offsets":[16,40]}}   '
)
GOLDEN_DATA = bytes.fromhex(
    "0000803f 00000040 00004040 00008040 0000803f 00000000 00000000 0000803f"
    " 0000003f 0000003f".replace(" ", "")
)


def toy_run() -> RunEmbeddings:
    return RunEmbeddings(
        user=np.array([[1, 2, 3, 4], [0, 0, 0, 0]], np.float32),
        item=np.array([[1, 0, 9, 9], [0, 1, 9, 9], [0.5, 0.5, 9, 9]], np.float32),
        dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=["alice", "bob"], item_labels=["0", "1", "2"],
    )


def test_tiny_package_matches_the_golden_bytes():
    data = build(toy_run(), DenseSelection(2), BuildOptions(users=(0,)))
    header = GOLDEN_HEADER.encode("ascii")
    assert len(header) == 592
    assert data == struct.pack("<Q", 592) + header + GOLDEN_DATA
    assert len(data) == 640


def test_the_version_1_golden_package_still_reads_and_ranks_the_same():
    data = struct.pack("<Q", 568) + GOLDEN_V1_HEADER.encode("ascii") + GOLDEN_DATA
    pkg = load_bytes(data)
    assert pkg.manifest.version == 1 and pkg.file_bytes == 616
    np.testing.assert_array_equal(pkg.scores(pkg.user_vector()), [1, 2, 1.5])
    assert pkg.recommend(3).labels == ("1", "2", "0")


def test_int4_values_are_packed_low_nibble_first_as_the_spec_says():
    emb = RunEmbeddings(
        user=np.array([[1, 1, 1, 1]], np.float32),
        item=np.array([[7, -3, 1, 2], [0.5, 1, -1.5, 3.5]], np.float32),
        dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=["alice"], item_labels=["0", "1"])
    pkg = load_bytes(build(emb, DenseSelection(3), BuildOptions(value_dtype="int4")))
    # row scales max|x| / 7 = 1 and 0.5; q = [7, -3, 1], [1, 2, -3]; codes q + 8.
    assert pkg.tensors["values"].tolist() == [0x5F, 0x99, 0x5A]
    assert pkg.tensors["scales"].tolist() == [1.0, 0.5]
    np.testing.assert_array_equal(pkg.scores(pkg.user_vector()), [5, 0])


def test_golden_digest_is_sha256_of_the_file_with_the_digest_zeroed():
    data = bytearray(build(toy_run(), DenseSelection(2), BuildOptions(users=(0,))))
    assert bytes(data[8:DIGEST_OFFSET]) == HEADER_PREFIX and DIGEST_OFFSET == 53
    stored = data[53:117].decode("ascii")
    data[53:117] = b"0" * 64
    assert hashlib.sha256(data).hexdigest() == stored


def test_golden_package_ranks_as_the_spec_says():
    pkg = load_bytes(build(toy_run(), DenseSelection(2), BuildOptions(users=(0,))))
    np.testing.assert_array_equal(pkg.scores(pkg.user_vector()), [1, 2, 1.5])
    assert pkg.recommend(3).labels == ("1", "2", "0")


def test_writer_equals_safetensors_and_safetensors_reads_ours():
    rng = np.random.default_rng(0)
    emb = embeddings_from(rng, 20, 8, 2, item_labels=[str(1000 + 3 * i) for i in range(20)])
    selections = [
        (DenseSelection(5), BuildOptions(value_dtype="float16")),
        (BlockSelection.from_groups(4, rng.integers(0, 3, 20), [[1, 0], [2], [3, 1]]),
         BuildOptions(value_dtype="int8", scales="block")),
        (RaggedSelection(rng.integers(0, 9, 20)), BuildOptions(value_dtype="int8")),
    ]
    for selection, options in selections:
        data = build(emb, selection, options)
        tensors = st_load(data)
        container = decode(data)
        assert st_save(tensors, metadata={"elasticrec": container.manifest_json}) == data
        assert set(tensors) == set(container.tensors)
        (n,) = struct.unpack("<Q", data[:8])
        assert json.loads(data[8:8 + n])["__metadata__"]["elasticrec"].startswith('{"sha256"')
