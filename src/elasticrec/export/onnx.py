"""A package's scoring as an ONNX model for mobile runtimes, as small as the package.

Inputs: ``user`` float32 ``[D]`` (for a one-user package also an initializer holding that
user's vector, so it may be left out) and ``exclude`` int64 ``[M]`` (item rows to leave out;
may be empty). ``k`` is fixed at export (default 20). Outputs: ``scores`` float32
``[n_items]`` (before exclusion), ``top_scores`` float32 ``[k]``, ``top_items`` int64 ``[k]``
(rows) and, unless the package names its items by catalogue, ``top_ids``: the items' ids
(int64 for integer id maps, strings otherwise). Excluded items, and the seen items the
package ships, score ``-inf`` in the ranking, so they come last when fewer than ``k`` remain.

Each segment of the runtime (``elasticrec.runtime.kernels``) becomes Gather(user, cols) ->
MatMul with its values, stored transposed in their own type: float32 as is, float16 cast
at run time, and int8 / int4 / int2 as ``INT8`` / ``INT4`` / ``INT2`` initializers decoded
by ``DequantizeLinear`` with the package's scales (per item: per-axis; per block: blocked),
never widened in the file (int2 ships as INT4: onnxruntime has no INT2 DequantizeLinear).
onnxruntime fuses DequantizeLinear + MatMul into ``MatMulNBits``, which by default
quantises the user vector to int8; sessions should set ``ORT_SESSION_CONFIG`` (accuracy
level 1: float32); ``package_to_ort`` fuses them so at that level (the ORT format has no
INT4 initializers), which pads narrow segments to 16 values a row.

The id map is in the model too: a range as one ``Add``, increasing integer ids as their gaps
in the narrowest unsigned type and a ``CumSum``, other integers as an int32 / int64 table,
strings as a string table. A pq package becomes the runtime's lookup-table scoring (its uint8
codes and codebooks as they are stored), a qr package the product ``(Q * u) @ R.T`` of its
two tables, never composed. ``check_budget`` holds the file to a budget like a package;
``package_to_ort`` converts to the ORT format with constant folding off, so no initializer is
widened there either.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from elasticrec.budget.units import format_bytes
from elasticrec.errors import ElasticrecError
from elasticrec.format.manifest import PQLayout, QRLayout
from elasticrec.runtime.kernels import ScoreSegment
from elasticrec.runtime.package import Package
from elasticrec.runtime.packed import PackedRows

OPSET = 21  # DequantizeLinear with INT4 and blocked scales
DEFAULT_K = 20
# onnxruntime's DequantizeLinear takes no INT2 (1.32): int2 values ship as INT4.
_ONNX_INT = {"int8": TensorProto.INT8, "int4": TensorProto.INT4, "int2": TensorProto.INT4}
_BITS = {"int8": 8, "int4": 4, "int2": 4}
# onnxruntime fuses DequantizeLinear + MatMul into MatMulNBits, which by default quantises the
# user vector to int8 (scores off by about 1e-2); accuracy level 1 keeps it float32.
ORT_SESSION_CONFIG = {"session.qdq_matmulnbits_accuracy_level": "1"}


def package_to_onnx(package: Package, *, k: int = DEFAULT_K,
                    int4_as_int8: bool = False) -> onnx.ModelProto:
    """The model (see the module docstring); ``int4_as_int8`` widens int4 / int2 values to
    INT8 initializers, for runtimes without INT4 (the ORT format, unless fused)."""
    if not 1 <= k <= package.n_items:
        raise ElasticrecError(f"k={k} is not allowed: an int in [1, n_items={package.n_items}]")
    g = _Graph()
    n, dim = package.n_items, package.dim
    layout = package.manifest.layout
    if isinstance(layout, PQLayout):
        _pq_scores(g, package)
    elif isinstance(layout, QRLayout):
        _qr_scores(g, package)
    else:
        _segment_scores(g, package, int4_as_int8)
    exclude = "exclude"
    if package.manifest.seen:
        seen = g.node("Cast", [g.const("seen", np.asarray(package.tensors["seen"]))],
                      ["seen_rows"], to=TensorProto.INT64)
        exclude = g.node("Concat", ["exclude", seen], ["excluded"], axis=0)
    minus_inf = g.node("Expand", [g.const("minus_inf", np.array([-np.inf], np.float32)),
                                  g.node("Shape", [exclude], ["exclude_shape"])],
                       ["exclude_fill"])
    masked = g.node("ScatterElements", ["scores", exclude, minus_inf], ["masked"], axis=0)
    g.node("TopK", [masked, g.const("k", np.array([k], np.int64))],
           ["top_scores", "top_items"], axis=0, largest=1, sorted=1)
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n]),
               helper.make_tensor_value_info("top_scores", TensorProto.FLOAT, [k]),
               helper.make_tensor_value_info("top_items", TensorProto.INT64, [k])]
    id_type = _id_map(g, package)
    if id_type is not None:
        outputs.append(helper.make_tensor_value_info("top_ids", id_type, [k]))
    if len(package.users) == 1:
        g.const("user", package.user_vector())  # the default user: the package's own
    graph = helper.make_graph(
        g.nodes, "elasticrec_package",
        inputs=[helper.make_tensor_value_info("user", TensorProto.FLOAT, [dim]),
                helper.make_tensor_value_info("exclude", TensorProto.INT64, ["M"])],
        outputs=outputs, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="elasticrec")
    model.ir_version = 10
    m = package.manifest
    props = {"dataset": m.dataset, "model": m.model, "method": m.method,
             "dataset_fingerprint": m.dataset_fingerprint}
    if len(m.users) == 1:
        props["user"] = m.users[0]
    if m.items.kind == "catalogue":
        props["catalogue"] = m.items.fingerprint
    props["onnxruntime_session_config"] = ",".join(f"{a}={b}" for a, b in
                                                   ORT_SESSION_CONFIG.items())
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def model_bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString()


class ModelOverBudget(ElasticrecError):
    """An exported model file is larger than its budget."""


def check_budget(data: bytes, budget_bytes: int, what: str = "ONNX model") -> None:
    """Refuse a model file over ``budget_bytes``, as a package over its budget is refused."""
    if len(data) > budget_bytes:
        raise ModelOverBudget(
            f"the {what} needs {format_bytes(len(data))}, {len(data) - budget_bytes:,} bytes "
            f"over the budget of {format_bytes(budget_bytes)}; export the package for a "
            "smaller budget, or give a larger --budget")


def package_to_ort(package: Package, *, k: int = DEFAULT_K) -> bytes:
    """The ORT-format model file of ``package`` (onnxruntime's extended graph optimisations,
    constant folding off: it would widen the integer values and the id map to float32 /
    int64 and undo the budget). The ORT format holds no INT4 initializer: DequantizeLinear +
    MatMul are fused into MatMulNBits (uint8 blocks, at accuracy level 1 so the user vector
    stays float32); where a segment cannot be fused (blocks of scales narrower than 16), the
    model is made again with int4 / int2 values as INT8."""
    try:
        return _ort_bytes(package_to_onnx(package, k=k).SerializeToString())
    except Exception as exc:  # onnxruntime raises its own types
        if "Unsupported tensor data type" not in str(exc):
            raise
    return _ort_bytes(package_to_onnx(package, k=k, int4_as_int8=True).SerializeToString())


def _ort_bytes(data: bytes) -> bytes:
    import os
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.ort")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = path
        options.add_session_config_entry("session.save_model_format", "ORT")
        options.add_session_config_entry("optimization.disable_specified_optimizers",
                                         "ConstantFolding")
        for key, value in ORT_SESSION_CONFIG.items():
            options.add_session_config_entry(key, value)
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        with open(path, "rb") as fh:
            out = fh.read()
        ort.InferenceSession(out, options_for_reading(), providers=["CPUExecutionProvider"])
        return out


def _segment_scores(g: _Graph, package: Package, int4_as_int8: bool) -> None:
    """``scores`` of a dense, blocks or ragged package: each segment's products, put back in
    item order (rows no segment covers score 0)."""
    n, dtype = package.n_items, package.manifest.value_dtype
    parts, covered = [], []
    for i, seg in enumerate(package.segments):
        parts.append(_segment(g, seg, f"s{i}", "int8" if int4_as_int8 and dtype in _ONNX_INT
                              else dtype))
        covered.append(np.arange(n) if seg.rows is None else seg.rows)
    rows = np.concatenate(covered) if covered else np.empty(0, np.int64)
    missing = np.setdiff1d(np.arange(n), rows)
    if missing.size:
        parts.append(g.const("zeros_uncovered", np.zeros(missing.size, np.float32)))
        rows = np.concatenate([rows, missing])
    if len(parts) == 1 and np.array_equal(rows, np.arange(n)):
        g.node("Identity", [parts[0]], ["scores"])
        return
    joined = g.node("Concat", parts, ["joined"], axis=0)
    inverse = np.empty(n, np.int64)
    inverse[rows] = np.arange(n)
    order = g.const("item_order", _narrow(inverse, signed=False))
    if inverse.max(initial=0) <= np.iinfo(np.uint16).max:  # 2 bytes a row, widened here
        order = g.node("Cast", [order], ["item_order_64"], to=TensorProto.INT64)
    g.node("Gather", [joined, order], ["scores"], axis=0)


def _pq_scores(g: _Graph, package: Package) -> None:
    """``scores`` of a pq package as the runtime takes them (``runtime.pq``): the user's
    lookup table ``LUT[j, c] = u_j . codebooks[j, c]`` (one batched MatMul), then per item
    the sum of the ``m`` entries its uint8 codes name (codes shipped as they are, offset by
    ``j * K`` at run time into the flattened table)."""
    codebooks = np.asarray(package.tensors["codebooks"])  # (m, K, w), float16 or float32
    m, k, width = codebooks.shape
    books_t = _float(g, "pq_codebooks_t", np.ascontiguousarray(codebooks.transpose(0, 2, 1)))
    u = g.node("Reshape", ["user", g.const("pq_user_shape", np.array([m, 1, width],
                                                                     np.int64))], ["pq_u"])
    lut = g.node("MatMul", [u, books_t], ["pq_lut3"])  # (m, 1, K)
    flat = g.node("Reshape", [lut, g.const("pq_flat", np.array([m * k], np.int64))],
                  ["pq_lut"])
    codes = g.node("Cast", [g.const("pq_codes", np.asarray(package.tensors["codes"]))],
                   ["pq_codes_64"], to=TensorProto.INT64)
    at = g.node("Add", [codes, g.const("pq_offsets", np.arange(m, dtype=np.int64) * k)],
                ["pq_at"])  # (n, m): row j * K + code of the flattened table
    picked = g.node("Gather", [flat, at], ["pq_picked"], axis=0)
    g.node("ReduceSum", [picked, g.const("pq_axis", np.array([1], np.int64))], ["scores"],
           keepdims=0)


def _qr_scores(g: _Graph, package: Package) -> None:
    """``scores`` of a qr package as the runtime takes them (``runtime.qr``): the
    ``ceil(n / m) x m`` matrix ``(Q * u) @ R.T`` read row by row, cut to the ``n`` items;
    the composed table is never a constant."""
    quotient = _float(g, "qr_quotient", np.asarray(package.tensors["quotient"]))
    remainder_t = _float(g, "qr_remainder_t",
                         np.ascontiguousarray(np.asarray(package.tensors["remainder"]).T))
    scaled = g.node("Mul", [quotient, "user"], ["qr_scaled"])  # (ceil(n / m), D)
    grid = g.node("MatMul", [scaled, remainder_t], ["qr_grid"])  # (ceil(n / m), m)
    flat = g.node("Reshape", [grid, g.const("qr_flat", np.array([-1], np.int64))],
                  ["qr_scores_all"])
    g.node("Slice", [flat, g.const("qr_start", np.array([0], np.int64)),
                     g.const("qr_stop", np.array([package.n_items], np.int64))], ["scores"])


def _float(g: _Graph, name: str, value: np.ndarray) -> str:
    """A float32 or float16 constant as float32 (float16 stays float16 in the file)."""
    out = g.const(name, value)
    if value.dtype == np.float16:
        out = g.node("Cast", [out], [f"{name}_f32"], to=TensorProto.FLOAT)
    return out


def options_for_reading():
    """onnxruntime session options that load an exported model as it is meant to run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    for key, value in ORT_SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    return options


def _segment(g: _Graph, seg: ScoreSegment, name: str, value_dtype: str) -> str:
    n_rows, width = seg.values.shape
    if width == 0:
        return g.const(f"{name}_zeros", np.zeros(n_rows, np.float32))
    u = g.node("Gather", ["user", g.const(f"{name}_cols", _narrow(seg.cols))],
               [f"{name}_u"], axis=0)
    values_t = _values_t(g, seg, name, value_dtype)
    # user [1, w] x values^T [w, n]: the constant is the right-hand side, which onnxruntime
    # pre-packs; [n, w] x [w] takes a path about 20 times slower.
    row = g.node("Unsqueeze", [u, g.const(f"{name}_ax0", np.array([0], np.int64))],
                 [f"{name}_urow"])
    dot = g.node("MatMul", [row, values_t], [f"{name}_dot2"])
    out = g.node("Squeeze", [dot, g.const(f"{name}_sq0", np.array([0], np.int64))],
                 [f"{name}_dot"])
    if seg.factor != 1.0:
        out = g.node("Mul", [out, g.const(f"{name}_factor", np.array(seg.factor, np.float32))],
                     [f"{name}_f"])
    return out


def _values_t(g: _Graph, seg: ScoreSegment, name: str, value_dtype: str) -> str:
    """The segment's decoded values, transposed ``[w, n]`` float32, from what is stored."""
    if value_dtype not in _ONNX_INT:
        return _float(g, f"{name}_values_t", np.ascontiguousarray(seg.values.T))
    n_rows = seg.values.shape[0]
    q = seg.values.rows(0, n_rows) if isinstance(seg.values, PackedRows) else np.asarray(
        seg.values)
    g.initializers.append(_int_tensor(f"{name}_q_t", np.ascontiguousarray(q.T), value_dtype))
    if seg.block_scale is not None:  # [k, n] scales, one per block of `block` positions
        scale = g.const(f"{name}_bscale_t", np.ascontiguousarray(seg.block_scale.T))
        return g.node("DequantizeLinear", [f"{name}_q_t", scale], [f"{name}_values_tf"],
                      axis=0, block_size=seg.block)
    if seg.col_scale is not None:  # [w] scales, one per stored column (a row of q_t)
        scale = g.const(f"{name}_cscale", np.asarray(seg.col_scale, np.float32))
        return g.node("DequantizeLinear", [f"{name}_q_t", scale], [f"{name}_values_tf"],
                      axis=0)
    scale = g.const(f"{name}_rscale", np.asarray(seg.row_scale, np.float32))
    return g.node("DequantizeLinear", [f"{name}_q_t", scale], [f"{name}_values_tf"], axis=1)


def _int_tensor(name: str, q: np.ndarray, value_dtype: str) -> onnx.TensorProto:
    """``q`` as an ONNX INT8 / INT4 / INT2 initializer (sub-byte types packed, lowest bits
    first, two's complement, as ONNX specifies)."""
    bits = _BITS[value_dtype]
    if bits == 8:
        return numpy_helper.from_array(q.astype(np.int8), name)
    per = 8 // bits
    codes = (q.astype(np.int16).reshape(-1) & ((1 << bits) - 1)).astype(np.uint8)
    padded = np.zeros(-(-codes.size // per) * per, np.uint8)
    padded[:codes.size] = codes
    planes = padded.reshape(-1, per)
    packed = np.zeros(len(planes), np.uint8)
    for j in range(per):
        packed |= planes[:, j] << np.uint8(j * bits)
    return helper.make_tensor(name, _ONNX_INT[value_dtype], list(q.shape), packed.tobytes(),
                              raw=True)


def _id_map(g: _Graph, package: Package) -> int | None:
    """Nodes computing ``top_ids`` from ``top_items``; its ONNX type (None: a catalogue)."""
    items = package.manifest.items
    if items.kind == "catalogue":
        return None
    if items.kind == "range":
        g.node("Add", ["top_items", g.const("id_start", np.array(items.start, np.int64))],
               ["top_ids"])
        return TensorProto.INT64
    labels = package.item_labels
    if items.kind in ("front", "labels"):
        table = np.array(labels, dtype=object)
        g.initializers.append(numpy_helper.from_array(table, "id_table"))
        g.node("Gather", ["id_table", "top_items"], ["top_ids"], axis=0)
        return TensorProto.STRING
    ids = np.array([int(x) for x in labels], dtype=np.int64)
    if items.kind in ("delta", "holes"):  # increasing: first id + running sum of the gaps
        gaps = np.concatenate([[0], np.diff(ids)])
        wide = g.node("Cast", [g.const("id_gaps", _narrow(gaps, signed=False))],
                      ["id_gaps_64"], to=TensorProto.INT64)
        running = g.node("CumSum", [wide, g.const("id_axis", np.array(0, np.int64))],
                         ["id_offsets"])
        table = g.node("Add", [running, g.const("id_first", np.array(ids[0], np.int64))],
                       ["id_table"])
    else:
        table = g.const("id_table", ids.astype(np.int32) if items.kind == "int32" else ids)
    picked = g.node("Gather", [table, "top_items"], ["top_ids_raw"], axis=0)
    g.node("Cast", [picked], ["top_ids"], to=TensorProto.INT64)
    return TensorProto.INT64


def _narrow(x: np.ndarray, *, signed: bool = True) -> np.ndarray:
    """Non-negative integers in the narrowest type: int32 / int64 (Gather indices), or with
    ``signed=False`` uint8 / uint16 for a Cast (int32 / int64 above that)."""
    x = np.asarray(x, dtype=np.int64)
    top = int(x.max(initial=0))
    if not signed:
        for t in (np.uint8, np.uint16):
            if top <= np.iinfo(t).max:
                return x.astype(t)
    return x.astype(np.int32) if top <= np.iinfo(np.int32).max else x


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))
        return outputs[0]
