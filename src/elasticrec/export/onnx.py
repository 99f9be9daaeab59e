"""A package's scoring as an ONNX model, for mobile runtimes (values as initializers).

Inputs: ``user`` float32 ``[D]`` and ``exclude`` int64 ``[M]`` (item rows to leave out; may be
empty). ``k`` is fixed at export (default 20). Outputs: ``scores`` float32 ``[n_items]``
(before exclusion), ``top_scores`` float32 ``[k]`` and ``top_items`` int64 ``[k]``; excluded
items score ``-inf``, so they come last when fewer than ``k`` items remain. A package's own
user vector (when it holds one user) is in the model metadata as ``user_vector``, a JSON
list of its float32 values written exactly, beside ``user`` (its label), ``dataset``,
``model``, ``method`` and ``dataset_fingerprint``.

Each segment of the runtime (``elasticrec.runtime.kernels``) becomes Gather(user, cols) ->
MatMul with its stored values (transposed, cast to float32) -> scales -> factor; the
segments' scores are concatenated and put back in item order by one Gather. Values keep
their stored dtype in the file; onnxruntime's constant folding may widen float16 and int8
initializers to float32 when it loads the model.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from elasticrec.errors import ElasticrecError
from elasticrec.runtime.kernels import ScoreSegment
from elasticrec.runtime.package import Package

OPSET = 17
DEFAULT_K = 20


def package_to_onnx(package: Package, *, k: int = DEFAULT_K) -> onnx.ModelProto:
    if not 1 <= k <= package.n_items:
        raise ElasticrecError(f"k={k} is not allowed: an int in [1, n_items={package.n_items}]")
    g = _Graph()
    n, dim = package.n_items, package.dim
    parts, covered = [], []
    for i, seg in enumerate(package.segments):
        parts.append(_segment(g, seg, f"s{i}", n))
        covered.append(np.arange(n) if seg.rows is None else seg.rows)
    rows = np.concatenate(covered) if covered else np.empty(0, np.int64)
    missing = np.setdiff1d(np.arange(n), rows)
    if missing.size:
        parts.append(g.const("zeros_uncovered", np.zeros(missing.size, np.float32)))
        rows = np.concatenate([rows, missing])
    if len(parts) == 1 and np.array_equal(rows, np.arange(n)):
        g.node("Identity", [parts[0]], ["scores"])
    else:
        joined = g.node("Concat", parts, ["joined"], axis=0)
        inverse = np.empty(n, np.int64)
        inverse[rows] = np.arange(n)
        g.node("Gather", [joined, g.const("item_order", inverse)], ["scores"], axis=0)
    minus_inf = g.node("Expand", [g.const("minus_inf", np.array([-np.inf], np.float32)),
                                  g.node("Shape", ["exclude"], ["exclude_shape"])],
                       ["exclude_fill"])
    masked = g.node("ScatterElements", ["scores", "exclude", minus_inf], ["masked"], axis=0)
    k_const = g.const("k", np.array([k], np.int64))
    g.node("TopK", [masked, k_const], ["top_scores", "top_items"], axis=0, largest=1, sorted=1)
    graph = helper.make_graph(
        g.nodes, "elasticrec_package",
        inputs=[helper.make_tensor_value_info("user", TensorProto.FLOAT, [dim]),
                helper.make_tensor_value_info("exclude", TensorProto.INT64, ["M"])],
        outputs=[helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n]),
                 helper.make_tensor_value_info("top_scores", TensorProto.FLOAT, [k]),
                 helper.make_tensor_value_info("top_items", TensorProto.INT64, [k])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="elasticrec")
    model.ir_version = 8
    m = package.manifest
    props = {"dataset": m.dataset, "model": m.model, "method": m.method,
             "dataset_fingerprint": m.dataset_fingerprint}
    if len(m.users) == 1:
        props["user"] = m.users[0]
        props["user_vector"] = json.dumps([float(x) for x in package.user_vector()])
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def _segment(g: _Graph, seg: ScoreSegment, name: str, n_items: int) -> str:
    n_rows, width = seg.values.shape
    if width == 0:
        return g.const(f"{name}_zeros", np.zeros(n_rows, np.float32))
    u = g.node("Gather", ["user", g.const(f"{name}_cols", seg.cols.astype(np.int64))],
               [f"{name}_u"], axis=0)
    if seg.block_scale is not None:
        values = g.const(f"{name}_values", np.ascontiguousarray(seg.values))
        if seg.values.dtype != np.float32:
            values = g.node("Cast", [values], [f"{name}_values_f"], to=TensorProto.FLOAT)
        k = width // seg.block
        v3 = g.node("Reshape", [values, g.const(f"{name}_shape3",
                                               np.array([n_rows, k, seg.block], np.int64))],
                    [f"{name}_v3"])
        u3 = g.node("Reshape", [u, g.const(f"{name}_ushape", np.array([1, k, seg.block],
                                                                       np.int64))], [f"{name}_u3"])
        prod = g.node("Mul", [v3, u3], [f"{name}_prod"])
        per_block = g.node("ReduceSum", [prod, g.const(f"{name}_ax2", np.array([2], np.int64))],
                           [f"{name}_blocks"], keepdims=0)
        scaled = g.node("Mul", [per_block, g.const(f"{name}_bscale", seg.block_scale)],
                        [f"{name}_bscaled"])
        out = g.node("ReduceSum", [scaled, g.const(f"{name}_ax1", np.array([1], np.int64))],
                     [f"{name}_dot"], keepdims=0)
    else:
        # user [1, w] x values^T [w, n]: the constant is the right-hand side, which onnxruntime
        # pre-packs; [n, w] x [w] takes a path about 20 times slower.
        values_t = g.const(f"{name}_values_t", np.ascontiguousarray(seg.values.T))
        if seg.values.dtype != np.float32:
            values_t = g.node("Cast", [values_t], [f"{name}_values_tf"], to=TensorProto.FLOAT)
        row = g.node("Unsqueeze", [u, g.const(f"{name}_ax0", np.array([0], np.int64))],
                     [f"{name}_urow"])
        dot = g.node("MatMul", [row, values_t], [f"{name}_dot2"])
        out = g.node("Squeeze", [dot, g.const(f"{name}_sq0", np.array([0], np.int64))],
                     [f"{name}_dot"])
    if seg.row_scale is not None:
        out = g.node("Mul", [out, g.const(f"{name}_rscale", seg.row_scale)], [f"{name}_rs"])
    if seg.factor != 1.0:
        out = g.node("Mul", [out, g.const(f"{name}_factor", np.array(seg.factor, np.float32))],
                     [f"{name}_f"])
    return out


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
