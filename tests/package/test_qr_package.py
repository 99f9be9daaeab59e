"""The qr layout of the package format (version 4): write and load round trip, the exact size
from the manifest, refused manifests and tensors, float16 tables, and the shape a budget
holds (``qr_shape``): the most rows at full width, else the fewest rows narrowed."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from elasticrec.budget.fit import BudgetExceeded
from elasticrec.embeddings import QRFactors, RunEmbeddings
from elasticrec.export.builder import BuildOptions, write_package
from elasticrec.export.qr import bucket_counts, build_qr, fewest_rows_buckets, plan_qr, qr_shape
from elasticrec.format.container import ZERO_DIGEST, decode, encode
from elasticrec.format.manifest import QRLayout
from elasticrec.format.sizes import byte_breakdown, device_bytes, package_bytes
from elasticrec.runtime import PackageError, load, load_bytes
from package_edits import rebuilt as edit_package
from package_edits import split

DIM, N_ITEMS, M = 8, 43, 5  # 43 items: 9 quotient rows, the last holding 3 items


def factors(n_items: int = N_ITEMS, m: int = M, seed: int = 0) -> QRFactors:
    rng = np.random.default_rng(seed)
    return QRFactors(rng.standard_normal((-(-n_items // m), DIM), dtype=np.float32),
                     rng.standard_normal((m, DIM), dtype=np.float32))


def toy(f: QRFactors, n_users: int = 3, n_items: int = N_ITEMS) -> RunEmbeddings:
    rng = np.random.default_rng(1)
    return RunEmbeddings(
        user=rng.standard_normal((n_users, DIM), dtype=np.float32),
        item=f.items(np.arange(n_items)), dataset="toy",
        dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=[f"u{i}" for i in range(n_users)],
        item_labels=[str(i) for i in range(n_items)])


F = factors()
EMB = toy(F)
OPTIONS = BuildOptions(method="qr", users=(0,))
QR = build_qr(EMB, F, OPTIONS)


def rebuilt(edit_manifest=None, edit_tensors=None) -> bytes:
    return edit_package(QR, edit_manifest, edit_tensors)


def test_round_trip_through_a_file(tmp_path):
    path = tmp_path / "alice.erpkg"
    write_package(path, QR)
    pkg = load(path)
    m = pkg.manifest
    assert (m.version, m.layout, m.value_dtype, m.scales) == (4, QRLayout(M), "float32", "none")
    assert path.stat().st_size == len(QR) == package_bytes(m) == device_bytes(m)
    assert sum(byte_breakdown(m).values()) == len(QR)
    np.testing.assert_array_equal(pkg.tensors["quotient"], F.quotient)
    np.testing.assert_array_equal(pkg.tensors["remainder"], F.remainder)
    assert m.quotient_rows == 9 and m.n_values() == (9 + M) * DIM
    np.testing.assert_allclose(pkg.scores(EMB.user[0]), EMB.item @ EMB.user[0], rtol=1e-5,
                               atol=1e-5)
    assert load_bytes(load_bytes(QR).for_user("u0")).manifest == m
    _, tensors = split(QR)
    assert '"layout":{"kind":"qr","m":5}' in decode(QR).manifest_json
    assert set(tensors) == {"user", "quotient", "remainder"}  # a range id map: no tensor


def test_size_is_the_manifests_and_the_tables_are_what_grows():
    small = plan_qr(EMB, fewest_rows_buckets(N_ITEMS), OPTIONS)
    one = plan_qr(EMB, 1, OPTIONS)  # m = 1: the quotient is the whole table, plus one row
    assert byte_breakdown(one)["quotient"] == N_ITEMS * DIM * 4
    assert package_bytes(one) - package_bytes(small) >= (N_ITEMS + 1 - 14) * DIM * 4 - 8


def test_float16_tables_round_trip_and_halve_the_values():
    options = BuildOptions(method="qr", users=(0,), value_dtype="float16")
    data = build_qr(EMB, F, options)
    pkg = load_bytes(data)
    assert pkg.manifest.value_dtype == "float16" and pkg.tensors["quotient"].dtype == np.float16
    assert byte_breakdown(pkg.manifest)["remainder"] == M * DIM * 2
    q16 = F.quotient.astype(np.float16).astype(np.float32)
    r16 = F.remainder.astype(np.float16).astype(np.float32)
    rows = np.arange(N_ITEMS)
    np.testing.assert_allclose(pkg.scores(EMB.user[0]), (q16[rows // M] * r16[rows % M])
                               @ EMB.user[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "manifest", "tensors", "message"), [
    ("m of zero", lambda r: r["layout"].update(m=0), None, r"layout\.m=0 is not allowed"),
    ("m above n_items", lambda r: r["layout"].update(m=N_ITEMS + 1), None,
     r"layout\.m=44 is not allowed: an int in \[1, max\(n_items, 1\) = 43\]"),
    ("extra layout key", lambda r: r["layout"].update(centroids=2), None,
     r"layout with kind='qr' and keys \['kind', 'm', 'centroids'\] is not allowed"),
    ("int8 tables", lambda r: r.update(value_dtype="int8", scales="row"), None,
     r"value_dtype='int8' is not allowed: one of \('float32', 'float16'\)"),
    ("version 2", lambda r: r.update(version=2), None,
     r"version=2 is not allowed: 4 for the qr layout"),
    ("version 3", lambda r: r.update(version=3), None,
     r"version=3 is not allowed: 4 for the qr layout"),
    ("missing remainder", None, lambda t: t.pop("remainder"), r"remainder"),
    ("short quotient", None, lambda t: t.update(quotient=("F32", t["quotient"][1][:-1])),
     r"quotient"),
    ("NaN in the quotient", None, lambda t: t["quotient"][1].__setitem__((0, 0), np.nan),
     r"tensor 'quotient' holds NaN or infinite values"),
])
def test_bad_qr_packages_are_refused_naming_the_field(name, manifest, tensors, message):
    with pytest.raises(PackageError, match=message):
        load_bytes(rebuilt(manifest, tensors))


def test_a_dense_manifest_may_not_claim_version_4():
    from elasticrec.budget.selection import DenseSelection
    from elasticrec.export.builder import build

    dense = build(EMB, DenseSelection(DIM), BuildOptions(users=(0,)))
    raw, tensors = split(dense)
    raw.update(sha256=ZERO_DIGEST, version=4)
    with pytest.raises(PackageError, match=r"version=4 is not allowed: 1 or 2 for a dense"):
        load_bytes(encode(json.dumps(raw, separators=(",", ":")), tensors))


def test_mismatched_tables_and_over_budget_builds_are_refused():
    from elasticrec.errors import ElasticrecError

    with pytest.raises(ElasticrecError, match="do not fit a table of 43 items"):
        build_qr(EMB, factors(n_items=N_ITEMS + M), OPTIONS)
    with pytest.raises(BudgetExceeded, match="over the budget"):
        build_qr(EMB, F, OPTIONS, budget_bytes=len(QR) - 1)
    assert build_qr(EMB, F, OPTIONS, budget_bytes=len(QR)) == QR


def test_bucket_counts_go_from_the_largest_table_to_the_smallest():
    assert fewest_rows_buckets(43) == 7 and fewest_rows_buckets(49) == 7
    assert fewest_rows_buckets(1) == 1 and fewest_rows_buckets(0) == 1
    counts = bucket_counts(43)
    rows = [m + -(-43 // m) for m in counts]
    assert counts[0] == 1 and rows == sorted(rows, reverse=True) and sorted(counts) == list(
        range(1, 8))
    assert min(rows) == rows[-1] == 14  # ceil(2 sqrt(43))


def test_qr_shape_takes_the_most_rows_that_fit_then_narrows():
    options = BuildOptions(method="qr")  # every user's package must fit
    for m in bucket_counts(N_ITEMS):
        budget = device_bytes(plan_qr(EMB, m, options))
        shape = qr_shape(EMB, options, budget)
        assert shape.width == DIM
        assert shape.rows >= m + -(-N_ITEMS // m)  # this m fits: nothing smaller is chosen
        assert device_bytes(plan_qr(EMB, shape.buckets, options)) <= budget
    smallest = device_bytes(plan_qr(EMB, 7, options))
    narrow = qr_shape(EMB, options, smallest - 1)
    assert (narrow.buckets, narrow.quotient_rows) == (7, 7) and narrow.width < DIM
    emb = replace(EMB, user=EMB.user[:, :narrow.width], item=EMB.item[:, :narrow.width])
    assert device_bytes(plan_qr(emb, 7, options)) <= smallest - 1
    with pytest.raises(BudgetExceeded, match="the smallest qr package needs"):
        qr_shape(EMB, options, 100)


def test_the_format_md_example():
    """docs/FORMAT.md section 8, the qr example: size, length field, digest, scores."""
    alice = RunEmbeddings(user=np.array([[1, 2, 3, 4]], np.float32),
                          item=np.zeros((3, 4), np.float32), dataset="toy",
                          dataset_fingerprint="0123456789abcdef", model="mf",
                          user_labels=["alice"], item_labels=["0", "1", "2"])
    tables = QRFactors(np.array([[1, 2, 0, 1], [1, 1, 1, 1]], np.float32),
                       np.array([[1, 0, 1, 1], [0, 1, 1, -1]], np.float32))
    data = build_qr(alice, tables, BuildOptions(method="qr"))
    assert len(data) == 728 and int.from_bytes(data[:8], "little") == 0x280
    c = decode(data)
    assert c.manifest_json[11:19] == "cdc617b3"
    assert list(c.tensors) == ["quotient", "remainder", "user"]
    assert '"version":4,"method":"qr"' in c.manifest_json
    assert '"layout":{"kind":"qr","m":2}' in c.manifest_json
    pkg = load_bytes(data)
    np.testing.assert_array_equal(pkg.item_vectors(np.arange(3)),
                                  [[1, 0, 0, 1], [0, 2, 0, -1], [1, 0, 1, 1]])
    np.testing.assert_array_equal(pkg.scores(pkg.user_vector()), [5, 0, 8])
    np.testing.assert_array_equal(pkg.recommend(3).items, [2, 0, 1])
