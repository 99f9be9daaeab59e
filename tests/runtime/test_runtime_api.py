"""The runtime's contract: NumPy only, memory-mapped loading, recommend with exclusions,
fold-in, per-user packages."""

from __future__ import annotations

import mmap
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from elasticrec.budget.selection import BlockSelection, DenseSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions, build, write_package
from elasticrec.runtime import PackageError, load, load_bytes

RNG = np.random.default_rng(11)
RUN = RunEmbeddings(
    user=RNG.standard_normal((3, 8), dtype=np.float32),
    item=RNG.standard_normal((300, 8), dtype=np.float32),
    dataset="toy", dataset_fingerprint="f", model="mf", user_labels=["ann", "bo", "cy"],
    item_labels=[f"item-{i}" for i in range(300)],
)


def test_runtime_imports_numpy_only(tmp_path):
    path = tmp_path / "p.erpk"
    write_package(path, build(RUN, BlockSelection.from_groups(
        4, np.arange(300) % 3, [[0], [1, 2], [3]]), BuildOptions(value_dtype="int8",
                                                               users=(1,))))
    script = textwrap.dedent(f"""
        import sys
        from elasticrec import runtime
        pkg = runtime.load({str(path)!r})
        rec = pkg.recommend(5, exclude=pkg.item_index(["item-3"]))
        pkg.fold_in([1, 2, 3])
        runtime.shrink(pkg, pkg.device_bytes() - 100)
        assert len(rec.items) == 5
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                       ("torch", "scipy", "safetensors", "onnx", "onnxruntime", "pandas"))
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_load_memory_maps_the_file(tmp_path):
    path = tmp_path / "p.erpk"
    data = build(RUN, DenseSelection(8), BuildOptions())
    write_package(path, data)
    pkg = load(path)
    values = pkg.tensors["values"]
    assert not values.flags.writeable
    base = values
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)
    assert pkg.file_bytes == len(data)


def test_recommend_excludes_and_names_items():
    pkg = load_bytes(build(RUN, DenseSelection(8), BuildOptions(users=(0,))))
    scores = RUN.user[0] @ RUN.item.T
    order = np.lexsort((np.arange(300), -scores))
    rec = pkg.recommend(5)
    np.testing.assert_array_equal(rec.items, order[:5])
    assert rec.labels == tuple(f"item-{i}" for i in order[:5])
    rec = pkg.recommend(5, exclude=pkg.item_index([f"item-{order[0]}", f"item-{order[2]}"]))
    np.testing.assert_array_equal(rec.items, order[[1, 3, 4, 5, 6]])
    assert len(pkg.recommend(10, exclude=np.arange(295)).items) == 5
    with pytest.raises(PackageError, match="item 'nope' is not in this package"):
        pkg.item_index(["nope"])
    with pytest.raises(PackageError, match="excluded item rows"):
        pkg.recommend(5, exclude=[300])


def test_users_are_chosen_by_label_row_or_vector():
    pkg = load_bytes(build(RUN, DenseSelection(8), BuildOptions()))
    with pytest.raises(PackageError, match="holds 3 users; name one"):
        pkg.recommend(3)
    by_label = pkg.recommend(3, user="bo")
    assert by_label.labels == pkg.recommend(3, user=1).labels
    assert by_label.labels == pkg.recommend(3, user_vector=RUN.user[1]).labels
    with pytest.raises(PackageError, match="user 'zed' is not in this package"):
        pkg.recommend(3, user="zed")
    batch = pkg.scores(RUN.user)
    np.testing.assert_allclose(batch[2], pkg.scores(RUN.user[2]), rtol=1e-5, atol=1e-5)


def test_fold_in_solves_the_ridge_normal_equations():
    pkg = load_bytes(build(RUN, BlockSelection.from_groups(4, np.arange(300) % 2, [[0, 1], [2]],
                                                           rescale=True), BuildOptions()))
    history = np.array([4, 9, 17, 40, 41, 99])
    u = pkg.fold_in(history, reg=0.5).astype(np.float64)
    a = pkg.item_vectors(history).astype(np.float64)
    lam = 0.5 * (a * a).sum(axis=1).mean()
    np.testing.assert_allclose((a.T @ a + lam * np.eye(8)) @ u, a.sum(axis=0), atol=1e-4)
    np.testing.assert_allclose(pkg.scores(u.astype(np.float32))[history], a @ u, rtol=1e-4,
                               atol=1e-5)
    with pytest.raises(PackageError, match="at least one history item"):
        pkg.fold_in([])


def test_for_user_cuts_the_single_user_package_the_builder_writes():
    pkg = load_bytes(build(RUN, DenseSelection(5), BuildOptions(value_dtype="float16")))
    single = pkg.for_user("cy")
    assert single == build(RUN, DenseSelection(5), BuildOptions(value_dtype="float16",
                                                               users=(2,)))
    assert len(single) <= pkg.device_bytes()
