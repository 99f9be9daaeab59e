"""Item id maps: every kind round-trips exactly, the builder picks the smallest, the codecs'
bytes are as FORMAT.md says, and malformed maps are refused."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from package_strategies import embeddings_from

from elasticrec.budget.selection import DenseSelection
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, build, item_id_kind, plan
from elasticrec.format import ids as id_maps
from elasticrec.format.container import encode
from elasticrec.format.ids import ItemIds, catalogue_fingerprint
from elasticrec.format.sizes import package_bytes
from elasticrec.runtime import PackageError, load_bytes


def package_for(labels, **options):
    emb = embeddings_from(np.random.default_rng(0), len(labels), 2, 1, item_labels=labels)
    return emb, build(emb, DenseSelection(2), BuildOptions(**options))


@pytest.mark.parametrize(("labels", "kind"), [
    (["0", "1", "2"], "range"),
    ([str(i) for i in range(1, 1683)], "range"),  # MovieLens: ids 1..n
    ([str(-5 + i) for i in range(50)], "range"),
    (["5", "1", "-7"], "labels"),  # a tensor's header entry costs more than 3 short labels
    ([str(7 * i) for i in range(300)], "delta"),
    ([str(i) for i in range(1, 400) if i % 37], "holes"),  # 1..399 but 10 missing
    ([str((i * 7919) % 1000) for i in range(300)], "int32"),  # not increasing
    ([str(2**40 * (i % 7) + i) for i in range(300)], "int64"),
    (["1", str(2**31)], "labels"),
    (["007", "1"], "labels"), (["+5", "1"], "labels"), (["1_000", "2"], "labels"),
    (["٣", "1"], "labels"), (["a\"b\\c", "é", "𝄞"], "labels"), ([str(2**63), "1"], "labels"),
    ([f"B00{i:07d}" for i in range(300)], "front"),
])
def test_item_ids_use_the_smallest_exact_map_and_round_trip(labels, kind):
    chosen = item_id_kind(labels)[0]
    assert chosen.kind == kind
    emb, data = package_for(labels)
    pkg = load_bytes(data)
    assert pkg.item_labels == tuple(labels)
    assert pkg.item_index(labels).tolist() == list(range(len(labels)))
    # No other exact map of these labels makes a smaller package.
    base = plan(emb, DenseSelection(2), BuildOptions())
    for other in _exact_maps(labels):
        assert package_bytes(base) <= package_bytes(replace(base, items=other))


def _exact_maps(labels):
    out = [ItemIds("labels", tuple(labels))]
    try:
        ints = [int(x) for x in labels]
    except ValueError:
        ints = None
    if ints is not None and [str(v) for v in ints] == labels and max(map(abs, ints)) < 2**62:
        out.append(ItemIds("int64"))
        if max(map(abs, ints)) < 2**31 - 1:
            out.append(ItemIds("int32"))
        if all(b > a for a, b in itertools.pairwise(ints)):
            n = len(id_maps.encode_varints(np.diff(ints) - 1))
            out.append(ItemIds("delta", first=ints[0], n_bytes=n))
            if ints[-1] - ints[0] + 1 - len(ints) <= len(ints):
                holes = sorted(set(range(ints[0], ints[-1] + 1)) - set(ints))
                gaps = np.diff([ints[0], *holes]) - 1
                out.append(ItemIds("holes", start=ints[0], n_holes=len(holes),
                                   n_bytes=len(id_maps.encode_varints(gaps))))
    else:
        out.append(ItemIds("front", n_bytes=len(id_maps.front_encode(labels))))
    return out


def test_range_costs_a_few_bytes_and_names_its_start():
    labels = [str(i) for i in range(1, 41)]
    ids, tensor = item_id_kind(labels)
    assert tensor is None and ids.to_json() == {"kind": "range", "start": 1}
    assert id_maps.cost(ids, 40) <= 40


def test_varints_are_leb128():
    assert id_maps.encode_varints(np.array([0, 1, 127, 128, 300, 2**63])).tolist() == [
        0, 1, 127, 0x80, 0x01, 0xAC, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x80, 0x01]
    assert id_maps.decode_varints(np.array([0xAC, 0x02, 5], np.uint8), 2).tolist() == [300, 5]
    with pytest.raises(ValueError, match="exactly 3 varints"):
        id_maps.decode_varints(np.array([0xAC, 0x02, 5], np.uint8), 3)


def test_front_coding_bytes():
    # "ab": shares 0, 2 bytes "ab"; "abc": shares 2, 1 byte "c"; "b": shares 0, 1 byte "b".
    assert bytes(id_maps.front_encode(["ab", "abc", "b"])) == b"\x00\x02ab\x02\x01c\x00\x01b"
    assert id_maps.front_decode(np.frombuffer(b"\x00\x02ab\x02\x01c\x00\x01b", np.uint8),
                                3) == ("ab", "abc", "b")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=30, unique=True))
def test_any_distinct_strings_round_trip_front_coded(labels):
    data = id_maps.front_encode(labels)
    assert id_maps.front_decode(data, len(labels)) == tuple(labels)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2**63, 2**63 - 1), min_size=1, max_size=30, unique=True))
def test_any_increasing_int64_ids_round_trip_delta_coded(ints):
    ints = sorted(ints)
    data = id_maps.encode_varints(np.diff(np.array(ints, dtype=object)).astype(np.uint64) - 1)
    assert id_maps.delta_decode(ints[0], data, len(ints)) == ints


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=2, max_size=40, unique=True))
def test_any_increasing_ids_round_trip_with_holes(ints):
    ints = sorted(ints)
    ids, tensor = id_maps.choose([str(x) for x in ints])
    assert id_maps.decode(ids, len(ints), tensor) == tuple(str(x) for x in ints)
    holes = sorted(set(range(ints[0], ints[-1] + 1)) - set(ints))
    data = id_maps.encode_varints(np.diff([ints[0], *holes]).astype(np.uint64) - 1)
    assert id_maps.holes_decode(ints[0], len(holes), data, len(ints)) == ints


def test_catalogue_reference_needs_the_devices_catalogue():
    labels = [f"item-{i}" for i in range(30)]
    _, data = package_for(labels, item_ids="catalogue")
    pkg = load_bytes(data)
    assert pkg.manifest.items.to_json() == {"kind": "catalogue",
                                            "fingerprint": catalogue_fingerprint(labels)}
    assert "item_ids" not in pkg.tensors
    with pytest.raises(PackageError, match="catalogue"):
        pkg.recommend(3)
    with pytest.raises(PackageError, match="fingerprint"):
        load_bytes(data, catalogue=labels[::-1])
    named = load_bytes(data, catalogue=labels)
    assert named.recommend(3).labels == tuple(labels[i] for i in named.recommend(3).items)
    assert named.item_index(["item-4"]).tolist() == [4]


def test_a_corrupt_delta_map_is_refused():
    labels = [str(3 * i) for i in range(100)]
    _, data = package_for(labels)
    pkg = load_bytes(data)
    assert pkg.manifest.items.kind == "delta"
    assert pkg.manifest.items.n_bytes == 99
    tensors = {s.name: (s.dtype, np.array(pkg.tensors[s.name]))
               for s in pkg.manifest.tensor_specs()}
    tensors["item_ids"][1][-1] = 0x80  # the last varint never ends
    with pytest.raises(PackageError, match="item_ids"):
        load_bytes(encode(pkg.manifest.to_json(), tensors))


def test_repeated_labels_are_refused():
    with pytest.raises(ElasticrecError, match="item labels repeat"):
        item_id_kind(["a", "a"])
