"""The pq layout of the package format (version 3): write and load round trip, the exact size
from the manifest, refused manifests and codes, and building: codebooks trained with faiss
(skipped without it), the largest m that fits a budget, the error without faiss."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest

from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, write_package
from elasticrec.export.pq import PQTables, build_pq, fit_pq, plan_pq, train_pq
from elasticrec.format.container import ZERO_DIGEST, decode, encode
from elasticrec.format.manifest import PQLayout
from elasticrec.format.sizes import byte_breakdown, device_bytes, package_bytes
from elasticrec.runtime import PackageError, load, load_bytes
from package_edits import rebuilt as edit_package
from package_edits import split

DIM = 8


def toy(n_items: int = 40, n_users: int = 3, seed: int = 0) -> RunEmbeddings:
    rng = np.random.default_rng(seed)
    return RunEmbeddings(
        user=rng.standard_normal((n_users, DIM), dtype=np.float32),
        item=rng.standard_normal((n_items, DIM), dtype=np.float32),
        dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=[f"u{i}" for i in range(n_users)],
        item_labels=[str(i) for i in range(n_items)])


def random_tables(n_items: int, m: int, k: int, seed: int = 0) -> PQTables:
    rng = np.random.default_rng(seed)
    return PQTables(rng.standard_normal((m, k, DIM // m), dtype=np.float32),
                    rng.integers(0, k, (n_items, m)).astype(np.uint8))


EMB = toy()
OPTIONS = BuildOptions(method="pq", users=(0,))
PQ = build_pq(EMB, train_pq(EMB.item, 2), OPTIONS)  # 40 items: exact codes, no faiss


def test_round_trip_through_a_file(tmp_path):
    path = tmp_path / "alice.erpk"
    write_package(path, PQ)
    pkg = load(path)
    m = pkg.manifest
    assert (m.version, m.layout, m.value_dtype, m.scales) == (3, PQLayout(2, 40), "float32",
                                                             "none")
    assert path.stat().st_size == len(PQ) == package_bytes(m) == device_bytes(m)
    assert sum(byte_breakdown(m).values()) == len(PQ)
    assert pkg.tensors["codes"].shape == (40, 2) and pkg.tensors["codebooks"].shape == (2, 40, 4)
    # at most 256 items: every item is its own centroid, so the package scores exactly
    np.testing.assert_allclose(pkg.scores(EMB.user[0]), EMB.item @ EMB.user[0], rtol=1e-5,
                               atol=1e-5)
    assert load_bytes(load_bytes(PQ).for_user("u0")).manifest == m
    from safetensors.numpy import load as st_load  # a pq package is a safetensors file too

    for name, arr in st_load(PQ).items():
        np.testing.assert_array_equal(arr, pkg.tensors[name])


def test_size_is_header_users_ids_codebooks_and_codes():
    small = plan_pq(EMB, 1, OPTIONS)
    parts = byte_breakdown(small)
    assert parts["codebooks"] == 1 * 40 * DIM * 4 and parts["codes"] == 40 * 1
    assert parts["user"] == DIM * 4
    half = byte_breakdown(plan_pq(EMB, 4, replace(OPTIONS, value_dtype="float16")))
    assert half["codebooks"] == 40 * DIM * 2 and half["codes"] == 40 * 4


def rebuilt(edit_manifest=None, edit_tensors=None) -> bytes:
    return edit_package(PQ, edit_manifest, edit_tensors)


def set_code(t: dict) -> None:
    t["codes"][1][3, 1] = 40


def nan_codebook(t: dict) -> None:
    t["codebooks"][1][0, 0, 0] = np.nan


@pytest.mark.parametrize(("edit_manifest", "edit_tensors", "message"), [
    (lambda m: m["layout"].update(m=3), None, r"layout.m=3 is not allowed: an int >= 1 "
     r"dividing dim=8"),
    (lambda m: m["layout"].update(m=0), None, r"layout.m=0 is not allowed"),
    (lambda m: m["layout"].update(centroids=257), None,
     r"layout.centroids=257 is not allowed: an int in \[1, 256\]"),
    (lambda m: m["layout"].update(centroids=0), None, r"layout.centroids=0 is not allowed"),
    (lambda m: m["layout"].pop("centroids"), None,
     r"layout with kind='pq' and keys \['kind', 'm'\] is not allowed"),
    (lambda m: m.update(version=2), None, r"version=2 is not allowed: 3 for the pq layout"),
    (lambda m: m.update(value_dtype="int8", scales="row"), None,
     r"value_dtype='int8' is not allowed: one of \('float32', 'float16'\)"),
    (lambda m: m["layout"].update(kind="opq"), None,
     r"layout kind='opq' is not one this elasticrec reads"),
    (None, set_code, r"tensor 'codes' holds code 40; the manifest's layout.centroids=40"),
    (None, nan_codebook, r"tensor 'codebooks' holds NaN or infinite values"),
    (lambda m: m["layout"].update(centroids=32), None,
     r"tensor 'codebooks' has shape \[2, 40, 4\]; the manifest requires \[2, 32, 4\]"),
    (lambda m: m.update(n_items=39), None,
     r"tensor 'codes' has shape \[40, 2\]; the manifest requires \[39, 2\]"),
    (None, lambda t: t.pop("codes"), r"missing tensor 'codes'"),
    (None, lambda t: t.update(values=("F32", np.zeros(3, np.float32))),
     r"unexpected tensor 'values'"),
], ids=["m-not-dividing", "m-zero", "too-many-centroids", "no-centroids", "missing-key",
        "pq-in-version-2", "integer-codebooks", "unknown-layout", "code-out-of-range",
        "nan-codebook", "codebook-shape", "codes-shape", "missing-codes", "extra-tensor"])
def test_bad_pq_packages_are_refused_naming_the_field(edit_manifest, edit_tensors, message):
    with pytest.raises(PackageError, match=message):
        load_bytes(rebuilt(edit_manifest, edit_tensors))


def test_version_3_is_only_the_pq_layouts():
    from elasticrec.budget.selection import DenseSelection
    from elasticrec.export.builder import build

    dense = build(EMB, DenseSelection(4), OPTIONS)
    assert load_bytes(dense).manifest.version == 2
    raw, tensors = split(dense)
    raw["sha256"], raw["version"] = ZERO_DIGEST, 3
    with pytest.raises(PackageError, match=r"version=3 is not allowed: 1 or 2 for a dense"):
        load_bytes(encode(json.dumps(raw, separators=(",", ":")), tensors))


def test_the_builder_refuses_what_does_not_fit():
    with pytest.raises(ElasticrecError, match="over the budget"):
        build_pq(EMB, train_pq(EMB.item, 2), OPTIONS, budget_bytes=len(PQ) - 1)
    with pytest.raises(ElasticrecError, match="do not fit a table"):
        build_pq(EMB, random_tables(39, 2, 40), OPTIONS)
    with pytest.raises(ValueError, match="value_dtype='int8' is not allowed"):
        plan_pq(EMB, 2, BuildOptions(value_dtype="int8", method="pq"))
    with pytest.raises(ValueError, match="m=3 is not allowed"):
        train_pq(EMB.item, 3)


def test_fit_chooses_the_largest_m_that_fits():
    emb = toy(n_items=300, n_users=4)
    options = BuildOptions(method="pq", value_dtype="float16")  # every user: a bundle
    sizes = {m: device_bytes(plan_pq(emb, m, options)) for m in (1, 2, 4, 8)}
    assert sizes[1] < sizes[2] < sizes[4] < sizes[8]
    assert sizes[8] - sizes[4] == 300 * 4  # m more bytes per item; the codebooks stay K * D
    for m, size in sizes.items():
        assert fit_pq(emb, options, size) == m
        if m < 8:
            assert fit_pq(emb, options, size + 300 * m - 1) == m
    with pytest.raises(ElasticrecError, match=r"pq package needs .* \(m=1: one code per item"):
        fit_pq(emb, options, sizes[1] - 1)


def test_missing_faiss_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ElasticrecError, match=r"pip install 'elasticrec\[pq\]'"):
        train_pq(toy(n_items=300).item, 2)


def test_faiss_codebooks_encode_each_item_to_its_nearest_centroids():
    pytest.importorskip("faiss")
    emb = toy(n_items=600, seed=5)
    for dtype in ("float32", "float16"):
        t = train_pq(emb.item, 4, value_dtype=dtype, seed=0)
        assert t.codebooks.shape == (4, 256, 2) and t.codes.shape == (600, 4)
        assert t.codes.dtype == np.uint8
        if dtype == "float16":
            np.testing.assert_array_equal(t.codebooks.astype(np.float16), t.codebooks)
        sub = emb.item.reshape(600, 4, 2)
        dist = ((sub[:, :, None, :] - t.codebooks[None]) ** 2).sum(axis=3)  # (n, m, K)
        chosen = np.take_along_axis(dist, t.codes[:, :, None].astype(np.int64), axis=2)[..., 0]
        np.testing.assert_allclose(chosen, dist.min(axis=2), rtol=1e-4, atol=1e-5)
        error = ((t.decoded() - emb.item) ** 2).sum() / (emb.item ** 2).sum()
        assert error < 0.2  # 256 centroids for 600 points in 2-d sub-spaces
        pkg = load_bytes(build_pq(emb, t, BuildOptions(value_dtype=dtype, method="pq")))
        np.testing.assert_allclose(pkg.scores(emb.user), emb.user @ t.decoded().T, rtol=1e-5,
                                   atol=1e-4)
    again = train_pq(emb.item, 4, seed=0)
    np.testing.assert_array_equal(again.codes, train_pq(emb.item, 4, seed=0).codes)


def test_the_format_md_example():
    """docs/FORMAT.md section 8, the pq example: size, length field, digest, scores."""
    alice = RunEmbeddings(user=np.array([[1, 2, 3, 4]], np.float32),
                          item=np.zeros((3, 4), np.float32), dataset="toy",
                          dataset_fingerprint="0123456789abcdef", model="mf",
                          user_labels=["alice"], item_labels=["0", "1", "2"])
    tables = PQTables(np.array([[[1, 0], [0, 1]], [[1, 1], [0, -1]]], np.float32),
                      np.array([[0, 0], [1, 1], [1, 0]], np.uint8))
    data = build_pq(alice, tables, BuildOptions(method="pq"))
    assert len(data) == 718 and int.from_bytes(data[:8], "little") == 0x290
    c = decode(data)
    assert c.manifest_json[11:19] == "b28437e5"
    assert list(c.tensors) == ["codebooks", "user", "codes"]
    assert '"layout":{"kind":"pq","m":2,"centroids":2}' in c.manifest_json
    pkg = load_bytes(data)
    np.testing.assert_array_equal(pkg.segments[0].lookup_tables(pkg.tensors["user"])[0],
                                  [[1, 2], [7, -4]])
    np.testing.assert_array_equal(pkg.scores(pkg.user_vector()), [8, -2, 9])
    np.testing.assert_array_equal(pkg.recommend(3).items, [2, 0, 1])
