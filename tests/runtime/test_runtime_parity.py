"""Parity: the device ranks exactly as the server model restricted to the shipped positions
(full tables, a 0/1 mask and the block rescaling, plain NumPy), and onnxruntime agrees."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.eval.ranking import top_k
from elasticrec.export.builder import BuildOptions, build
from elasticrec.runtime import load_bytes

N_ITEMS, DIM, N_USERS, K = 3000, 32, 6, 20


@pytest.fixture(scope="module")
def run() -> RunEmbeddings:
    rng = np.random.default_rng(3)
    return RunEmbeddings(
        user=rng.standard_normal((N_USERS, DIM), dtype=np.float32),
        item=rng.standard_normal((N_ITEMS, DIM), dtype=np.float32),
        dataset="toy", dataset_fingerprint="f", model="mf",
        user_labels=[f"u{i}" for i in range(N_USERS)],
        item_labels=[str(i) for i in range(N_ITEMS)],
    )


def selections():
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 5, N_ITEMS)
    priorities = [list(rng.permutation(8)[: rng.integers(0, 9)]) for _ in range(5)]
    return {
        "dense": DenseSelection(13),
        "blocks": BlockSelection.from_groups(8, groups, priorities),
        "blocks-rescaled": BlockSelection.from_groups(8, groups, priorities, rescale=True),
        "ragged": RaggedSelection(rng.integers(0, DIM + 1, N_ITEMS)),
    }


def server_mask(selection, n_items: int, dim: int) -> np.ndarray:
    """float32 (n_items, dim): 1 at shipped positions (times N/|S| when rescaled), else 0."""
    cols = np.arange(dim)
    if isinstance(selection, DenseSelection):
        return np.broadcast_to(cols < selection.width, (n_items, dim)).astype(np.float32)
    if isinstance(selection, RaggedSelection):
        return (cols < selection.widths[:, None]).astype(np.float32)
    width = dim // selection.n_blocks
    mask = np.zeros((n_items, dim), np.float32)
    for g, shipped in enumerate(selection.groups):
        rows = selection.item_group == g
        for b in shipped:
            mask[rows, b * width:(b + 1) * width] = 1.0
        if selection.rescale and shipped:
            mask[rows] *= selection.n_blocks / len(shipped)
    return mask


@pytest.mark.parametrize("name", list(selections()))
def test_runtime_ranking_equals_masked_server_ranking(run, name):
    selection = selections()[name]
    pkg = load_bytes(build(run, selection, BuildOptions()))
    rng = np.random.default_rng(5)
    server_items = run.item * server_mask(selection, N_ITEMS, DIM)
    for user in range(N_USERS):
        history = np.sort(rng.choice(N_ITEMS, 40, replace=False))
        server_scores = (run.user[user] @ server_items.T)[None]
        expected = top_k(server_scores, K, exclude_indptr=np.array([0, 40]),
                         exclude_indices=history)[0]
        got = pkg.recommend(K, user=f"u{user}", exclude=history)
        np.testing.assert_array_equal(got.items, expected)
        np.testing.assert_allclose(got.scores, server_scores[0, expected], rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(pkg.scores(run.user[user]), server_scores[0], rtol=1e-4,
                                   atol=1e-4)


QUANTISED = [(name, dtype, "auto") for name in selections()
             for dtype in ("float16", "int8", "int4", "int2")]
QUANTISED += [(name, dtype, "block") for name in ("blocks", "blocks-rescaled")
              for dtype in ("int8", "int4", "int2")]
QUANTISED += [(name, dtype, "column") for name in selections() for dtype in ("int8", "int4")]


@pytest.mark.parametrize(("name", "dtype", "scales"), QUANTISED)
def test_quantised_packages_score_with_their_decoded_vectors(run, name, dtype, scales):
    selection = selections()[name]
    pkg = load_bytes(build(run, selection, BuildOptions(value_dtype=dtype, scales=scales)))
    decoded = pkg.item_vectors(np.arange(N_ITEMS))
    reference = run.user @ decoded.T
    np.testing.assert_allclose(pkg.scores(run.user), reference, rtol=1e-4, atol=1e-4)
    for user in range(N_USERS):  # one user: the packed kernel that never decodes the table
        np.testing.assert_allclose(pkg.scores(run.user[user]), reference[user], rtol=1e-4,
                                   atol=1e-4)
    mask = server_mask(selection, N_ITEMS, DIM)
    full = run.user @ (run.item * mask).T
    if dtype == "float16":
        assert np.abs(pkg.scores(run.user) - full).max() < 0.05
    elif scales in ("auto", "column") and "rescaled" not in name:
        # Rounding moves each value by at most half a step, s / 2 with s = max|row| / Q
        # (column scales: s = max|column| / Q).
        top = {"int8": 127, "int4": 7, "int2": 1}[dtype]
        step = (np.abs(run.item).max(axis=1)[:, None] if scales == "auto"
                else np.abs(run.item).max(axis=0)[None, :]) / top
        bound = np.abs(run.user) @ (mask * step / 2).T
        assert (np.abs(pkg.scores(run.user) - full) <= bound * (1 + 1e-4) + 1e-4).all()


ONNX_CASES = [(name, dtype, "auto") for name in selections()
              for dtype in ("float32", "float16", "int8", "int4", "int2")]
ONNX_CASES += [(name, dtype, "block") for name in ("blocks", "blocks-rescaled")
               for dtype in ("int8", "int4")]
ONNX_CASES += [(name, dtype, "column") for name in selections() for dtype in ("int8", "int4")]


@pytest.mark.parametrize(("name", "dtype", "scales"), ONNX_CASES)
@pytest.mark.parametrize("fmt", ["onnx", "ort"])
def test_onnxruntime_gives_the_same_top_k(run, name, dtype, scales, fmt):
    ort = pytest.importorskip("onnxruntime")
    from elasticrec.export.onnx import ORT_SESSION_CONFIG, package_to_onnx, package_to_ort

    selection = selections()[name]
    pkg = load_bytes(build(run, selection, BuildOptions(value_dtype=dtype, scales=scales,
                                                        users=(2,))))
    model = (package_to_ort(pkg, k=K) if fmt == "ort"
             else package_to_onnx(pkg, k=K).SerializeToString())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    for key, value in ORT_SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(6)
    for exclude in (np.zeros(0, np.int64), np.sort(rng.choice(N_ITEMS, 50, replace=False))):
        _assert_session_ranks_as_the_package(session, pkg, exclude, other=run.user[0])


def _assert_session_ranks_as_the_package(session, pkg, exclude: np.ndarray,
                                         other: np.ndarray) -> None:
    """The model's outputs for the package's own user (its default input) and for
    ``other`` equal the runtime's scores and top-K."""
    scores, top_scores, top_items, top_ids = session.run(None, {"exclude": exclude})
    rec = pkg.recommend(K, exclude=exclude)
    np.testing.assert_array_equal(top_items, rec.items)
    assert [str(x) for x in top_ids] == list(rec.labels)
    np.testing.assert_allclose(top_scores, rec.scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores, pkg.scores(pkg.user_vector()), rtol=1e-5, atol=1e-5)
    scores, *_ = session.run(None, {"user": other, "exclude": np.zeros(0, np.int64)})
    np.testing.assert_allclose(scores, pkg.scores(other), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("labels", [
    [str(5 + i) for i in range(300)],  # range
    [str(i) for i in range(400) if i % 4],  # holes
    [str(9 * i) for i in range(300)],  # delta
    [str((i * 7919) % 1000) for i in range(300)],  # int32
    [f"B00{i:07d}" for i in range(300)],  # front
    [f"é{i}" for i in range(5)],  # labels
])
def test_onnx_models_carry_the_id_map_and_seen_items(labels):
    ort = pytest.importorskip("onnxruntime")
    from elasticrec.export.onnx import ORT_SESSION_CONFIG, package_to_onnx

    rng = np.random.default_rng(1)
    emb = RunEmbeddings(user=rng.standard_normal((1, 8), dtype=np.float32),
                        item=rng.standard_normal((len(labels), 8), dtype=np.float32),
                        dataset="toy", dataset_fingerprint="f", model="mf", user_labels=["a"],
                        item_labels=labels)
    seen = tuple(range(0, len(labels), 3))
    pkg = load_bytes(build(emb, DenseSelection(8), BuildOptions(value_dtype="int4", seen=seen)))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    for key, value in ORT_SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    k = min(K, len(labels) - len(seen))
    session = ort.InferenceSession(package_to_onnx(pkg, k=k).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    _, _, top_items, top_ids = session.run(None, {"exclude": np.zeros(0, np.int64)})
    rec = pkg.recommend(k)
    assert not set(rec.items) & set(seen)
    np.testing.assert_array_equal(top_items, rec.items)
    assert [x.decode() if isinstance(x, bytes) else str(x) for x in top_ids] == list(rec.labels)


def _pq_package(run: RunEmbeddings, dtype: str) -> bytes:
    from elasticrec.export.pq import PQTables, build_pq

    rng = np.random.default_rng(8)
    m, k = 8, 256
    codebooks = rng.standard_normal((m, k, DIM // m), dtype=np.float32)
    if dtype == "float16":  # values float16 holds exactly, as train_pq gives them
        codebooks = codebooks.astype(np.float16).astype(np.float32)
    t = PQTables(codebooks, rng.integers(0, k, (N_ITEMS, m)).astype(np.uint8))
    emb = replace(run, item=t.decoded())
    return build_pq(emb, t, BuildOptions(method="pq", value_dtype=dtype, users=(2,),
                                         seen=(0, 7, 99)))


def _qr_package(run: RunEmbeddings, dtype: str) -> bytes:
    from elasticrec.embeddings import QRFactors
    from elasticrec.export.qr import build_qr

    rng = np.random.default_rng(9)
    m = 56  # 54 quotient rows, the last holding 32 items
    f = QRFactors(rng.standard_normal((-(-N_ITEMS // m), DIM), dtype=np.float32),
                  rng.standard_normal((m, DIM), dtype=np.float32))
    emb = replace(run, item=f.items(np.arange(N_ITEMS)))
    return build_qr(emb, f, BuildOptions(method="qr", value_dtype=dtype, users=(2,),
                                         seen=(0, 7, 99)))


@pytest.mark.parametrize("layout", ["pq", "qr"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("fmt", ["onnx", "ort"])
def test_pq_and_qr_models_score_as_the_runtime_without_the_decoded_table(run, layout, dtype,
                                                                          fmt):
    ort = pytest.importorskip("onnxruntime")
    from elasticrec.export.onnx import options_for_reading, package_to_onnx, package_to_ort

    data = (_pq_package if layout == "pq" else _qr_package)(run, dtype)
    pkg = load_bytes(data)
    onnx_model = package_to_onnx(pkg, k=K)
    # no constant as large as the decoded (n_items x D) table: the file is the package's size
    assert max(np.prod(t.dims) for t in onnx_model.graph.initializer) < N_ITEMS * DIM
    assert len(onnx_model.SerializeToString()) < 1.2 * len(data)
    model = package_to_ort(pkg, k=K) if fmt == "ort" else onnx_model.SerializeToString()
    session = ort.InferenceSession(model, options_for_reading(),
                                   providers=["CPUExecutionProvider"])
    _assert_session_ranks_as_the_package(session, pkg, np.array([5, 11, 2000], np.int64),
                                         other=run.user[0])
