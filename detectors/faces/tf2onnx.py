"""Export a TensorFlow inference graph (:class:`~detectors.faces.tfgraph.TfGraph`) to ONNX.

Only the ops face-embedding graphs use are supported (convolutions, depthwise
convolutions and their fused TF.js forms, pooling, batch norm, element-wise
arithmetic, reductions, reshapes, matmuls); any other op is an error that names it.
Activations stay NHWC, as in TensorFlow: each convolution or pooling is wrapped in a
pair of transposes, which ONNX Runtime's optimiser folds away, so element-wise ops
broadcast exactly as they did in the source graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from detectors.errors import ModelError
from detectors.faces.tfgraph import TfGraph, TfNode, load_graphdef, load_tfjs
from detectors.registry import ConvertedSource, ModelSpec, model_path

OPSET = 13
CONVERTER_VERSION = 1
_TO_NCHW = [0, 3, 1, 2]
_TO_NHWC = [0, 2, 3, 1]


def _ref(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


class _Builder:
    def __init__(self, graph: TfGraph) -> None:
        self.graph = graph
        self.by_name = {n.name: n for n in graph.nodes}
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.done: set[str] = set()
        self._uid = 0

    def uid(self, base: str) -> str:
        self._uid += 1
        return f"{base}__{self._uid}"

    def const(self, name: str) -> NDArray[Any]:
        name = _ref(name)
        if name in self.graph.consts:
            return self.graph.consts[name]
        node = self.by_name.get(name)
        if node is not None and node.op == "Identity":
            return self.const(node.inputs[0])
        raise ModelError(f"node {name!r} must be a constant for this conversion")

    def init(self, value: NDArray[Any], base: str) -> str:
        name = self.uid(base)
        arr = np.asarray(value)
        if arr.dtype == np.float64 or arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        self.inits[name] = numpy_helper.from_array(arr, name)
        return name

    def add(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def value(self, name: str) -> str:
        """ONNX name of a TF tensor, emitting its producer (and inputs) first."""
        name = _ref(name)
        if name in self.done:
            return name
        if name in self.graph.consts:
            self.inits[name] = numpy_helper.from_array(
                np.asarray(self.graph.consts[name]).astype(
                    np.float32
                    if self.graph.consts[name].dtype.kind == "f"
                    else self.graph.consts[name].dtype
                ),
                name,
            )
            self.done.add(name)
            return name
        node = self.by_name.get(name)
        if node is None:
            raise ModelError(f"graph refers to a missing tensor {name!r}")
        handler = _OPS.get(node.op)
        if handler is None:
            raise ModelError(f"unsupported TensorFlow op {node.op!r} (node {node.name!r})")
        handler(self, node)
        self.done.add(name)
        return name

    # --- shared emitters ----------------------------------------------------------

    def nchw(self, fn: Callable[[str, str], None], x: str, out: str) -> None:
        """Run ``fn(nchw_in, nchw_out)`` between transposes, giving NHWC ``out``."""
        t_in = self.add("Transpose", [x], self.uid(out + "_nchw"), perm=_TO_NCHW)
        t_out = self.uid(out + "_conv")
        fn(t_in, t_out)
        self.add("Transpose", [t_out], out, perm=_TO_NHWC)

    def conv(self, node: TfNode, out: str, *, depthwise: bool, bias: str | None) -> None:
        x = self.value(node.inputs[0])
        w = self.const(node.inputs[1]).astype(np.float32)
        kh, kw, cin, cm = w.shape
        if depthwise:
            wt = w.transpose(2, 3, 0, 1).reshape(cin * cm, 1, kh, kw)
            group = cin
        else:
            wt = w.transpose(3, 2, 0, 1)
            group = 1
        strides = node.attrs.get("strides", [1, 1, 1, 1])
        dil = node.attrs.get("dilations", [1, 1, 1, 1])
        attrs: dict[str, Any] = {
            "kernel_shape": [kh, kw],
            "strides": [strides[1], strides[2]],
            "dilations": [dil[1], dil[2]],
            "group": group,
        }
        pad = node.attrs.get("padding", "VALID")
        if pad == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"
        elif pad == "EXPLICIT":
            p = node.attrs.get("explicit_paddings", [0] * 8)
            attrs["pads"] = [p[2], p[4], p[3], p[5]]
        if node.attrs.get("data_format", "NHWC") != "NHWC":
            raise ModelError(f"node {node.name!r}: only NHWC convolutions are supported")
        ins = [self.init(wt, node.name + "_W")]
        if bias is not None:
            ins.append(self.init(self.const(bias).astype(np.float32), node.name + "_B"))

        def emit(i: str, o: str) -> None:
            self.add("Conv", [i, *ins], o, **attrs)

        self.nchw(emit, x, out)


def _elementwise(onnx_op: str) -> Callable[[_Builder, TfNode], None]:
    def handler(b: _Builder, node: TfNode) -> None:
        b.add(onnx_op, [b.value(i) for i in node.inputs], node.name)

    return handler


def _conv2d(b: _Builder, node: TfNode) -> None:
    b.conv(node, node.name, depthwise=node.op.startswith("Depthwise"), bias=None)


def _fused_conv(b: _Builder, node: TfNode) -> None:
    ops = node.attrs.get("fused_ops", [])
    depthwise = "Depthwise" in node.op
    if not ops or ops[0] != "BiasAdd":
        raise ModelError(f"node {node.name!r}: fused ops {ops} not supported")
    tail = ops[1:]
    out = node.name if not tail else b.uid(node.name + "_biased")
    b.conv(node, out, depthwise=depthwise, bias=node.inputs[2])
    _activation(b, node, tail, out, node.inputs[3:])


def _activation(b: _Builder, node: TfNode, tail: list[str], x: str, extra: list[str]) -> None:
    if not tail:
        return
    (act,) = tail
    if act == "Relu":
        b.add("Relu", [x], node.name)
    elif act == "Relu6":
        b.add(
            "Clip",
            [x, b.init(np.array(0, np.float32), "zero"), b.init(np.array(6, np.float32), "six")],
            node.name,
        )
    elif act == "Prelu":
        b.add("PRelu", [x, b.value(extra[0])], node.name)
    else:
        raise ModelError(f"node {node.name!r}: fused activation {act!r} not supported")


def _fused_matmul(b: _Builder, node: TfNode) -> None:
    ops = node.attrs.get("fused_ops", [])
    if not ops or ops[0] != "BiasAdd":
        raise ModelError(f"node {node.name!r}: fused ops {ops} not supported")
    mm = b.uid(node.name + "_mm")
    _matmul_into(b, node, mm)
    out = node.name if len(ops) == 1 else b.uid(node.name + "_biased")
    b.add("Add", [mm, b.value(node.inputs[2])], out)
    _activation(b, node, ops[1:], out, node.inputs[3:])


def _matmul_into(b: _Builder, node: TfNode, out: str) -> None:
    a, w = b.value(node.inputs[0]), b.value(node.inputs[1])
    if node.attrs.get("transpose_a"):
        a = b.add("Transpose", [a], b.uid(node.name + "_ta"), perm=[1, 0])
    if node.attrs.get("transpose_b"):
        w = b.add("Transpose", [w], b.uid(node.name + "_tb"), perm=[1, 0])
    b.add("MatMul", [a, w], out)


def _matmul(b: _Builder, node: TfNode) -> None:
    _matmul_into(b, node, node.name)


def _reduce(onnx_op: str) -> Callable[[_Builder, TfNode], None]:
    def handler(b: _Builder, node: TfNode) -> None:
        axes = np.atleast_1d(b.const(node.inputs[1])).astype(np.int64)
        keep = int(bool(node.attrs.get("keep_dims", False)))
        x = b.value(node.inputs[0])
        if onnx_op == "ReduceSum":  # axes is an input from opset 13
            b.add(onnx_op, [x, b.init(axes, node.name + "_axes")], node.name, keepdims=keep)
        else:
            b.add(onnx_op, [x], node.name, axes=[int(a) for a in axes], keepdims=keep)

    return handler


def _reshape(b: _Builder, node: TfNode) -> None:
    shape = np.asarray(b.const(node.inputs[1])).astype(np.int64).copy()
    shape[0] = 0  # keep the batch dimension: the source graphs were frozen at batch 1
    b.add("Reshape", [b.value(node.inputs[0]), b.init(shape, node.name + "_shape")], node.name)


def _squeeze(b: _Builder, node: TfNode) -> None:
    dims = node.attrs.get("squeeze_dims") or []
    if not dims:
        raise ModelError(f"node {node.name!r}: Squeeze without squeeze_dims")
    axes = b.init(np.asarray(dims, dtype=np.int64), node.name + "_axes")
    b.add("Squeeze", [b.value(node.inputs[0]), axes], node.name)


def _pad(b: _Builder, node: TfNode) -> None:
    p = np.asarray(b.const(node.inputs[1])).astype(np.int64)  # (rank, 2)
    pads = np.concatenate([p[:, 0], p[:, 1]])
    b.add("Pad", [b.value(node.inputs[0]), b.init(pads, node.name + "_pads")], node.name)


def _concat(b: _Builder, node: TfNode) -> None:
    axis = int(b.const(node.inputs[-1]))
    b.add("Concat", [b.value(i) for i in node.inputs[:-1]], node.name, axis=axis)


def _pool(onnx_op: str) -> Callable[[_Builder, TfNode], None]:
    def handler(b: _Builder, node: TfNode) -> None:
        k, s = node.attrs["ksize"], node.attrs["strides"]
        attrs: dict[str, Any] = {"kernel_shape": [k[1], k[2]], "strides": [s[1], s[2]]}
        if node.attrs.get("padding") == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"

        def emit(i: str, o: str) -> None:
            b.add(onnx_op, [i], o, **attrs)

        b.nchw(emit, b.value(node.inputs[0]), node.name)

    return handler


def _batchnorm(b: _Builder, node: TfNode) -> None:
    scale, offset, mean, var = (b.const(i).astype(np.float64) for i in node.inputs[1:5])
    eps = float(node.attrs.get("epsilon", 1e-3))
    a = scale / np.sqrt(var + eps)
    mul = b.add(
        "Mul",
        [b.value(node.inputs[0]), b.init(a.astype(np.float32), node.name + "_a")],
        b.uid(node.name + "_mul"),
    )
    b.add("Add", [mul, b.init((offset - mean * a).astype(np.float32), node.name + "_b")], node.name)


def _bias_add(b: _Builder, node: TfNode) -> None:
    b.add("Add", [b.value(node.inputs[0]), b.value(node.inputs[1])], node.name)


def _identity(b: _Builder, node: TfNode) -> None:
    b.add("Identity", [b.value(node.inputs[0])], node.name)


def _softmax(b: _Builder, node: TfNode) -> None:
    b.add("Softmax", [b.value(node.inputs[0])], node.name, axis=-1)


def _square(b: _Builder, node: TfNode) -> None:
    b.add("Mul", [b.value(node.inputs[0])] * 2, node.name)


def _rsqrt(b: _Builder, node: TfNode) -> None:
    root = b.add("Sqrt", [b.value(node.inputs[0])], b.uid(node.name + "_sqrt"))
    b.add("Reciprocal", [root], node.name)


_OPS: dict[str, Callable[[_Builder, TfNode], None]] = {
    "Conv2D": _conv2d,
    "DepthwiseConv2dNative": _conv2d,
    "_FusedConv2D": _fused_conv,
    "FusedDepthwiseConv2dNative": _fused_conv,
    "BiasAdd": _bias_add,
    "Add": _elementwise("Add"),
    "AddV2": _elementwise("Add"),
    "Sub": _elementwise("Sub"),
    "Mul": _elementwise("Mul"),
    "Maximum": _elementwise("Max"),
    "Minimum": _elementwise("Min"),
    "Abs": _elementwise("Abs"),
    "Relu": _elementwise("Relu"),
    "Sigmoid": _elementwise("Sigmoid"),
    "Softmax": _softmax,
    "Square": _square,
    "Rsqrt": _rsqrt,
    "Sum": _reduce("ReduceSum"),
    "Mean": _reduce("ReduceMean"),
    "MatMul": _matmul,
    "_FusedMatMul": _fused_matmul,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Pad": _pad,
    "ConcatV2": _concat,
    "MaxPool": _pool("MaxPool"),
    "AvgPool": _pool("AveragePool"),
    "FusedBatchNorm": _batchnorm,
    "FusedBatchNormV3": _batchnorm,
    "Identity": _identity,
}


def to_onnx(graph: TfGraph, *, input_name: str, output_name: str, source: str) -> onnx.ModelProto:
    """An ONNX model from ``input_name`` (NHWC float, any batch) to ``output_name``.

    Raises:
        ModelError: an unsupported op or a malformed graph, naming the node.
    """
    b = _Builder(graph)
    inp = graph.node(input_name)
    shape = list(inp.attrs.get("shape") or [])
    if len(shape) != 4:
        raise ModelError(f"{source}: input {input_name!r} is not an NHWC image ({shape})")
    b.done.add(input_name)
    out = b.value(output_name)
    model = helper.make_model(
        helper.make_graph(
            b.nodes,
            source,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["n", *shape[1:]])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", "dim"])],
            list(b.inits.values()),
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="shouwang.tf2onnx",
        producer_version=str(CONVERTER_VERSION),
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert_registered(spec: ModelSpec, src: ConvertedSource) -> onnx.ModelProto:
    """Build the ONNX model of a registry entry converted from TF.js or a frozen graph.

    The source files are resolved (and their SHA-256 checked) through the registry, so
    a missing or corrupt carrier file is an error naming it.
    """
    graph_file = model_path(src.inputs["graph"])
    if src.converter == "tfjs":
        weights = model_path(src.inputs["weights"])
        if weights.parent != graph_file.parent:
            raise ModelError(f"model {spec.name!r}: {weights} must sit beside {graph_file}")
        graph = load_tfjs(graph_file)
    else:
        graph = load_graphdef(graph_file)
    inp, out = src.graph_io
    return to_onnx(graph, input_name=inp, output_name=out, source=spec.name)
