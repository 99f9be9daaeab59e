"""Random embeddings, selections and build options for package property tests (tiny sizes)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from elasticrec.budget.selection import BlockSelection, DenseSelection, RaggedSelection
from elasticrec.embeddings import RunEmbeddings
from elasticrec.export.builder import BuildOptions

LABEL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


def embeddings_from(rng: np.random.Generator, n_items: int, dim: int, n_users: int,
                    item_labels: list[str] | None = None,
                    user_labels: list[str] | None = None) -> RunEmbeddings:
    return RunEmbeddings(
        user=rng.standard_normal((n_users, dim), dtype=np.float32),
        item=rng.standard_normal((n_items, dim), dtype=np.float32),
        dataset="toy", dataset_fingerprint="0123456789abcdef", model="mf",
        user_labels=user_labels or [f"u{i}" for i in range(n_users)],
        item_labels=item_labels or [str(i) for i in range(n_items)],
    )


@st.composite
def item_labels(draw: st.DrawFn, n: int) -> list[str]:
    """Distinct labels of each id-map kind: range, int32, int64 or text (any Unicode)."""
    kind = draw(st.sampled_from(["range", "int32", "int64", "text"]))
    if kind == "range":
        return [str(i) for i in range(n)]
    if kind == "text":
        prefix = draw(st.text(LABEL_CHARS, max_size=3))
        return [f"{prefix}{i}" for i in range(n)]
    top = 2**31 - 1 if kind == "int32" else 2**63 - 1
    step = draw(st.integers(1, 1000))
    base = draw(st.integers(-top - 1, top - step * n))
    return [str(base + step * i) for i in range(n)]


@st.composite
def embeddings(draw: st.DrawFn, max_items: int = 30) -> RunEmbeddings:
    n_items = draw(st.integers(1, max_items))
    dim = draw(st.sampled_from([1, 2, 4, 6, 8, 12]))
    n_users = draw(st.integers(1, 3))
    prefix = draw(st.text(LABEL_CHARS, max_size=4))
    users = [prefix + "x" * draw(st.integers(0, 3)) + str(i) for i in range(n_users)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return embeddings_from(rng, n_items, dim, n_users, draw(item_labels(n_items)), users)


@st.composite
def selections(draw: st.DrawFn, n_items: int, dim: int):
    kind = draw(st.sampled_from(["dense", "blocks", "ragged"]))
    if kind == "dense":
        return DenseSelection(draw(st.integers(0, dim)))
    if kind == "ragged":
        widths = draw(st.lists(st.integers(0, dim), min_size=n_items, max_size=n_items))
        return RaggedSelection(np.array(widths, dtype=np.int64))
    n_blocks = draw(st.sampled_from([d for d in (1, 2, 3, 4, 6) if dim % d == 0]))
    n_groups = draw(st.integers(1, 5))
    group = draw(st.lists(st.integers(0, n_groups - 1), min_size=n_items, max_size=n_items))
    pairs = [(g, b) for g in range(n_groups) for b in range(n_blocks)]
    order = draw(st.permutations(pairs))[: draw(st.integers(0, len(pairs)))]
    return BlockSelection(n_blocks, n_groups, np.array(group, dtype=np.int64), tuple(order),
                          draw(st.booleans()))


@st.composite
def options(draw: st.DrawFn, selection, n_users: int) -> BuildOptions:
    dtype = draw(st.sampled_from(["float32", "float16", "int8", "int4", "int2"]))
    scales = "auto"
    if dtype.startswith("int") and isinstance(selection, BlockSelection):
        scales = draw(st.sampled_from(["auto", "row", "block"]))
    users = draw(st.none() | st.lists(st.integers(0, n_users - 1), min_size=1, max_size=n_users,
                                      unique=True).map(tuple))
    return BuildOptions(value_dtype=dtype, scales=scales, users=users)


@st.composite
def package_requests(draw: st.DrawFn, max_items: int = 30):
    """(embeddings, selection, options) for a random package."""
    emb = draw(embeddings(max_items))
    sel = draw(selections(len(emb.item), emb.item.shape[1]))
    return emb, sel, draw(options(sel, len(emb.user)))
