"""Exact top-k selection over full score rows, with each row's excluded items left out.

This module imports NumPy only: the device runtime ranks with it, and the server evaluation
ranks with the same code, so that both produce the same lists item for item.

Order. Items are ranked by descending score; equal scores are ranked by ascending item index.
The order is therefore total and deterministic, and it is exactly the order of Python's
``sorted(items, key=lambda j: (-score[j], j))``. ``0.0`` and ``-0.0`` count as equal scores,
``+inf`` ranks above every finite score and ``-inf`` below (such items are still returned).
A NaN anywhere in ``scores`` raises ``ValueError``, even at an excluded position.

Padding. When a row has fewer than ``k`` items left after its exclusions, its list ends with
``-1`` entries; ``-1`` is never an item.

Method. A full ``np.argpartition`` of every row is the obvious way and the slow one, and it
chooses arbitrarily among equal scores at the cut. Instead each row is split into ``n_blocks``
strided blocks (item ``j`` belongs to block ``j % n_blocks``) and the maximum of each block is
taken in one vectorised pass. If ``t`` is the k-th largest block maximum of a row, k distinct
blocks each hold an item scoring at least ``t``, so the row's k-th best score is at least ``t``
and every item of the top k, and every item tied with the last of them, lies in a block whose
maximum is at least ``t``. Only those blocks are gathered; their items scoring at least ``t``
are sorted by (row, rank key) and the first k of each row kept. The rank key packs the score's
order-preserving 32 bits above the complement of the item index into one uint64, so a larger
key ranks first and no two items tie. A row with many tied blocks at ``t`` (all scores equal,
say) would gather most of itself; such rows are instead ranked whole, by an
``np.argpartition`` of their rank keys. The result does not depend on ``n_blocks``; only the
speed does. Excluded items never enter: block maxima are recomputed without them for the few
blocks they touch, and they are masked out of what is gathered, so ``scores`` is never
written to, and never copied whole when it is C-contiguous.
"""

from __future__ import annotations

import numpy as np

__all__ = ["default_n_blocks", "top_k"]

# A row with more candidate blocks than this many per wanted item (plus a few) is ranked whole.
_CROWDED_BLOCKS_PER_K = 2
# Rows ranked whole are keyed this many at a time, to bound the uint64 key array.
_FULL_ROWS_PER_PASS = 256


def default_n_blocks(n_items: int, k: int) -> int:
    """The block count ``top_k`` uses unless told otherwise (measured on gowalla's shape).

    More blocks make the bound slower to find and the gathered candidates fewer; sixteen
    blocks per wanted item, and at least 4096, balanced the two best for k from 20 to 300.
    """
    return max(1, min(n_items, max(4096, 16 * k)))


def top_k(
    scores: np.ndarray,
    k: int,
    *,
    exclude_indptr: np.ndarray | None = None,
    exclude_indices: np.ndarray | None = None,
    n_blocks: int | None = None,
) -> np.ndarray:
    """The ``k`` best items of each row of ``scores``, best first, as an int64 ``(B, k)`` array.

    ``scores`` is a float32 ``(B, n_items)`` array (C order is fastest); it is only read. The
    items to leave out of row ``r`` are ``exclude_indices[exclude_indptr[r]:exclude_indptr[r +
    1]]``: CSR form relative to the rows of ``scores``, in any order, duplicates harmless. Ties
    go to the smaller item index; rows with fewer than ``k`` remaining items are padded with
    ``-1`` (see the module docstring). ``n_blocks`` tunes speed only.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.dtype != np.float32:
        raise ValueError(
            f"scores must be a 2-d float32 array, got shape {scores.shape} dtype {scores.dtype}"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k={k!r} is not allowed: an int >= 1")
    k = int(k)
    n_rows, n_items = scores.shape
    ex_rows, ex_cols = _exclusions(exclude_indptr, exclude_indices, n_rows, n_items)
    out = np.full((n_rows, k), -1, dtype=np.int64)
    if n_rows == 0 or n_items == 0:
        return out
    if n_blocks is None:
        n_blocks = default_n_blocks(n_items, k)
    elif (
        isinstance(n_blocks, bool)
        or not isinstance(n_blocks, int | np.integer)
        or not (1 <= n_blocks <= n_items)
    ):
        raise ValueError(f"n_blocks={n_blocks!r} is not allowed: an int in [1, {n_items}]")
    m = int(n_blocks)

    block_max = _block_max(scores, m)
    nan_rows = np.flatnonzero(np.isnan(block_max).any(axis=1))
    if nan_rows.size:
        raise ValueError(f"scores contain NaN (in {nan_rows.size} rows, first row {nan_rows[0]})")

    ex_block = ex_rows * m + ex_cols % m  # flat (row, block) key of each excluded item
    ex_depth = ex_cols // m  # its position inside the block
    if k > m:
        bound = np.full(n_rows, -np.inf, dtype=block_max.dtype)  # every block is a candidate
    else:
        bound = _fix_excluded_maxima(scores, block_max, k, ex_block, ex_depth)
    is_cand = block_max >= bound[:, None]
    crowded = np.flatnonzero(is_cand.sum(axis=1) > _CROWDED_BLOCKS_PER_K * k + 8)
    if crowded.size:
        _top_k_full_rows(scores, k, crowded, ex_rows, ex_cols, out)
        is_cand[crowded] = False
    # flatnonzero + divmod is several times faster than a 2-d np.nonzero
    cand_keys = np.flatnonzero(is_cand)  # row-major, so sorted
    cand_rows, cand_blocks = np.divmod(cand_keys, m)
    values, valid, cols = _gather_blocks(scores, cand_rows, cand_blocks, m)
    if ex_rows.size and cand_keys.size:
        at = np.minimum(np.searchsorted(cand_keys, ex_block), len(cand_keys) - 1)
        found = cand_keys[at] == ex_block
        valid[at[found], ex_depth[found]] = False
    keep = valid & (values >= bound[cand_rows][:, None])
    rows = np.broadcast_to(cand_rows[:, None], keep.shape)[keep]
    items = cols[keep]
    order = np.lexsort((~_rank_keys(values[keep], items), rows))  # by row, then best first
    rows, items = rows[order], items[order]

    counts = np.bincount(rows, minlength=n_rows)
    rank = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    take = rank < k
    out[rows[take], rank[take]] = items[take]
    return out


def _rank_keys(values: np.ndarray, items: np.ndarray) -> np.ndarray:
    """uint64 keys ordered as the ranking: a larger key has a larger score or, on equal scores,
    a smaller item index. Keys are never 0, which marks excluded items."""
    # + 0.0 turns -0.0 into 0.0; then positive floats get the top bit set and negative ones
    # are bit-flipped, which makes unsigned order equal float order (NaN has been rejected).
    bits = (values + np.float32(0.0)).view(np.uint32)
    flip = (bits.view(np.int32) >> 31).view(np.uint32) | np.uint32(0x8000_0000)
    ordered = (bits ^ flip).astype(np.uint64)
    return (ordered << np.uint64(32)) | (np.uint64(0xFFFF_FFFF) - items.astype(np.uint64))


def _top_k_full_rows(
    scores: np.ndarray,
    k: int,
    rows: np.ndarray,
    ex_rows: np.ndarray,
    ex_cols: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out[rows]`` by partitioning the rows' whole rank-key arrays (ties are cheap here)."""
    n_items = scores.shape[1]
    kk = min(k, n_items)
    item_ids = np.arange(n_items, dtype=np.int64)
    local = np.full(len(scores), -1, dtype=np.int64)
    for lo in range(0, len(rows), _FULL_ROWS_PER_PASS):
        part = rows[lo : lo + _FULL_ROWS_PER_PASS]
        keys = _rank_keys(scores[part], item_ids)
        local[part] = np.arange(len(part))
        at = local[ex_rows]
        mine = at >= 0
        keys[at[mine], ex_cols[mine]] = 0
        local[part] = -1
        best = np.argpartition(keys, n_items - kk, axis=1)[:, n_items - kk :]
        best_keys = np.take_along_axis(keys, best, axis=1)
        order = np.argsort(~best_keys, axis=1)
        items = np.take_along_axis(best, order, axis=1)
        items[np.take_along_axis(best_keys, order, axis=1) == 0] = -1
        out[part, :kk] = items


def _exclusions(
    indptr: np.ndarray | None, indices: np.ndarray | None, n_rows: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validated (row, item) int64 arrays of the excluded pairs, in CSR row order."""
    if indptr is None and indices is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if indptr is None or indices is None:
        raise ValueError("exclude_indptr and exclude_indices must be given together")
    indptr, indices = np.asarray(indptr), np.asarray(indices)
    for name, arr in (("exclude_indptr", indptr), ("exclude_indices", indices)):
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"{name} must be a 1-d integer array, got shape {arr.shape} dtype {arr.dtype}"
            )
    if len(indptr) != n_rows + 1:
        raise ValueError(f"exclude_indptr has {len(indptr)} entries, expected {n_rows + 1}")
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise ValueError(
            "exclude_indptr must start at 0, never decrease and end at "
            f"len(exclude_indices)={len(indices)}"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise ValueError(
            f"exclude_indices must lie in [0, {n_items}), "
            f"got range [{indices.min()}, {indices.max()}]"
        )
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr))
    return rows, indices.astype(np.int64, copy=False)


def _fix_excluded_maxima(
    scores: np.ndarray, block_max: np.ndarray, k: int, ex_block: np.ndarray, ex_depth: np.ndarray
) -> np.ndarray:
    """Correct ``block_max`` for excluded items where it matters; return each row's bound.

    A raw block maximum that counts an excluded item is too high, and a bound taken from it
    could be too high as well. Only blocks whose raw maximum reaches the bound can change the
    bound, so those are recomputed without their excluded items, and the bound taken again,
    until every block at or above the bound is exact. Then k exact blocks reach the bound
    (a valid one), and every block that holds an item scoring at least the bound reaches it.
    Usually one or two rounds recompute about k/m of the blocks with exclusions.
    """
    m = block_max.shape[1]
    flat_max = block_max.reshape(-1)
    keys, owner = np.unique(ex_block, return_inverse=True)
    exact = np.zeros(len(keys), dtype=bool)
    slot = np.full(len(keys), -1, dtype=np.int64)
    bound = np.partition(block_max, m - k, axis=1)[:, m - k]
    while True:
        stale = np.flatnonzero(~exact & (flat_max[keys] >= bound[keys // m]))
        if not stale.size:
            return bound
        values, valid, _ = _gather_blocks(scores, keys[stale] // m, keys[stale] % m, m)
        slot[stale] = np.arange(len(stale))
        at = slot[owner]
        mine = at >= 0
        valid[at[mine], ex_depth[mine]] = False
        slot[stale] = -1
        flat_max[keys[stale]] = np.where(valid, values, -np.inf).max(axis=1)
        exact[stale] = True
        rows = np.unique(keys[stale] // m)
        bound[rows] = np.partition(block_max[rows], m - k, axis=1)[:, m - k]


def _block_max(scores: np.ndarray, m: int) -> np.ndarray:
    """The ``(B, m)`` maxima of the strided blocks ``{j : j % m == b}`` of each row."""
    n_rows, n_items = scores.shape
    depth = n_items // m
    main = depth * m
    # Reducing over the middle axis is an elementwise maximum of contiguous length-m slices,
    # which NumPy vectorises well (a reduction over short contiguous blocks does not).
    block_max = scores[:, :main].reshape(n_rows, depth, m).max(axis=1)
    tail = scores[:, main:]
    if tail.shape[1]:
        head = block_max[:, : tail.shape[1]]
        np.maximum(head, tail, out=head)
    return np.ascontiguousarray(block_max)  # callers write through block_max.reshape(-1)


def _gather_blocks(
    scores: np.ndarray, rows: np.ndarray, blocks: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values, validity and item ids of the given (row, block) pairs, one pair per output row.

    Block ``b`` holds items ``b, b + m, b + 2m, ...``: ``ceil(n_items / m)`` of them when
    ``b < n_items % m``, one fewer otherwise. The missing last slot is invalid, reads ``-inf``
    and names item ``b``.
    """
    n_items = scores.shape[1]
    tail = n_items % m
    depth = n_items // m + (tail > 0)
    cols = blocks[:, None] + m * np.arange(depth, dtype=np.int64)
    valid = np.ones(cols.shape, dtype=bool)
    if tail:
        short = blocks >= tail
        valid[short, -1] = False
        cols[short, -1] = blocks[short]
    if scores.flags.c_contiguous:  # a flat take is markedly faster than 2-d fancy indexing
        values = np.take(scores.reshape(-1), cols + (rows * n_items)[:, None])
    else:
        values = scores[rows[:, None], cols]
    if tail:
        values[short, -1] = -np.inf
    return values, valid, cols
