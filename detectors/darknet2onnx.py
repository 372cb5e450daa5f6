"""Shouwang's own Darknet → ONNX converter (yolov4-tiny and its relatives).

Darknet ``.cfg`` + ``.weights`` become one ONNX graph with a dynamic batch dimension and
dynamic spatial size (any multiple of 32). Batch normalisation is folded into the
convolution weights. The graph ends in darknet's own yolo decoding, so the main output is

``detections``: ``(batch, rows, 5 + classes)`` float32, one row per anchor per cell, in
OpenCV's order (cell-major, then anchor): ``cx, cy, w, h`` normalised to the network input
(0..1), then objectness, then per-class probabilities (sigmoid, *not* multiplied by the
objectness). Decoding follows darknet's ``yolo_layer.c`` exactly::

    cx = (col + sigmoid(tx) * scale_x_y - (scale_x_y - 1) / 2) / grid_w
    w  = exp(tw) * anchor_w / net_w

The raw head maps are kept as extra outputs ``head_0``, ``head_1``, ... for parity checks.

Supported sections: ``[net]``, ``[convolutional]`` (batch_normalize, groups, activations
leaky/linear/relu/logistic/mish), ``[route]`` (several layers, ``groups``/``group_id``),
``[maxpool]`` (darknet's asymmetric padding, e.g. size 2 stride 1), ``[upsample]``,
``[shortcut]`` (linear) and ``[yolo]``. Anything else raises :class:`ModelError` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from detectors.errors import ModelError

#: Bumped whenever the graph this module builds changes, so cached files are rebuilt.
CONVERTER_VERSION = 1
OPSET = 17
BN_EPS = 1e-5  # AlexeyAB darknet: (x - mean) / sqrt(var + .00001f)

Progress = Callable[[int, int], None]


@dataclass
class Section:
    """One ``[name]`` block of a darknet cfg, with its line number for error messages."""

    kind: str
    line: int
    options: dict[str, str] = field(default_factory=dict)

    def get_int(self, key: str, default: int | None = None) -> int:
        return int(self._get(key, default))

    def get_float(self, key: str, default: float | None = None) -> float:
        return float(self._get(key, default))

    def get_str(self, key: str, default: str | None = None) -> str:
        return str(self._get(key, default))

    def get_ints(self, key: str) -> list[int]:
        return [int(v) for v in self._get(key, None).split(",") if v.strip()]

    def _get(self, key: str, default: Any) -> Any:
        if key in self.options:
            return self.options[key]
        if default is None:
            raise ModelError(f"cfg line {self.line}: [{self.kind}] needs '{key}='")
        return default


def parse_cfg(text: str) -> list[Section]:
    """Sections of a darknet cfg, ``[net]`` first."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ModelError(f"cfg line {number}: malformed section header {raw!r}")
            sections.append(Section(line[1:-1].strip().lower(), number))
        elif "=" in line:
            if not sections:
                raise ModelError(f"cfg line {number}: option before the first section")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise ModelError(f"cfg line {number}: expected key=value, got {raw!r}")
    if not sections or sections[0].kind not in ("net", "network"):
        raise ModelError("cfg: the first section must be [net]")
    return sections


class _Weights:
    """Sequential reader over a darknet .weights file."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        header = np.frombuffer(data, dtype=np.int32, count=3)
        major, minor = int(header[0]), int(header[1])
        seen_bytes = 8 if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000 else 4
        self.values = np.frombuffer(data, dtype=np.float32, offset=12 + seen_bytes)
        self.pos = 0

    def take(self, n: int, what: str) -> NDArray[np.float32]:
        if self.pos + n > len(self.values):
            raise ModelError(
                f"{self.name}: weights file too short while reading {what} "
                f"(needs {n} floats at {self.pos}, has {len(self.values)}); cfg and weights "
                "do not belong together"
            )
        out = self.values[self.pos : self.pos + n].copy()
        self.pos += n
        return out


@dataclass
class _Yolo:
    tensor: str
    anchors: NDArray[np.float32]  # (A, 2) in network-input pixels
    classes: int
    scale_x_y: float


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: NDArray[Any], hint: str) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _activation(g: _Graph, x: str, act: str, where: str) -> str:
    if act == "linear":
        return x
    if act == "leaky":
        return g.op("LeakyRelu", [x], "leaky", alpha=0.1)
    if act == "relu":
        return g.op("Relu", [x], "relu")
    if act == "logistic":
        return g.op("Sigmoid", [x], "logistic")
    if act == "mish":  # x * tanh(softplus(x)); opset 17 has no Mish op
        return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])], "mish")
    raise ModelError(f"{where}: activation {act!r} is not supported")


def _conv(g: _Graph, s: Section, x: str, c_in: int, w: _Weights, idx: int) -> tuple[str, int]:
    where = f"cfg line {s.line} (layer {idx}, convolutional)"
    filters, size = s.get_int("filters"), s.get_int("size", 1)
    stride, groups = s.get_int("stride", 1), s.get_int("groups", 1)
    pad = size // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
    bn = s.get_int("batch_normalize", 0)
    if c_in % groups:
        raise ModelError(f"{where}: {c_in} input channels not divisible by groups={groups}")
    bias = w.take(filters, f"layer {idx} biases")
    if bn:
        scales = w.take(filters, f"layer {idx} bn scales")
        mean = w.take(filters, f"layer {idx} bn mean")
        var = w.take(filters, f"layer {idx} bn variance")
    kernel = w.take(filters * (c_in // groups) * size * size, f"layer {idx} weights")
    kernel = kernel.reshape(filters, c_in // groups, size, size)
    if bn:
        k = scales / np.sqrt(var + np.float32(BN_EPS))
        kernel = (kernel * k[:, None, None, None]).astype(np.float32)
        bias = (bias - mean * k).astype(np.float32)
    y = g.op(
        "Conv",
        [x, g.const(kernel, f"conv{idx}_w"), g.const(bias, f"conv{idx}_b")],
        f"conv{idx}",
        kernel_shape=[size, size],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
        group=groups,
    )
    return _activation(g, y, s.get_str("activation", "logistic"), where), filters


def _yolo_decode(g: _Graph, image: str, y: _Yolo) -> str:
    """Darknet's yolo_layer decoding as ONNX ops, for any grid size."""
    a, cells = len(y.anchors), 5 + y.classes
    shape = g.op("Shape", [y.tensor])
    h = g.op("Gather", [shape, g.const(np.array([2], np.int64), "i2")], axis=0)  # (1,)
    w = g.op("Gather", [shape, g.const(np.array([3], np.int64), "i3")], axis=0)
    hw = g.op("Squeeze", [g.op("Mul", [h, w])])  # a scalar, as Range wants
    zero, one = g.const(np.array(0, np.int64), "zero"), g.const(np.array(1, np.int64), "one")
    idx = g.op("Range", [zero, hw, one])
    gx = g.op("Cast", [g.op("Mod", [idx, w])], to=TensorProto.FLOAT)
    gy = g.op("Cast", [g.op("Div", [idx, w])], to=TensorProto.FLOAT)
    axis1 = g.const(np.array([1], np.int64), "ax1")
    grid = g.op("Concat", [g.op("Unsqueeze", [gx, axis1]), g.op("Unsqueeze", [gy, axis1])], axis=1)
    grid = g.op("Reshape", [grid, g.const(np.array([1, -1, 1, 2], np.int64), "gshape")])
    grid_wh = g.op("Cast", [g.op("Concat", [w, h], axis=0)], to=TensorProto.FLOAT)
    in_shape = g.op("Shape", [image])
    net_wh = g.op(
        "Cast",
        [g.op("Gather", [in_shape, g.const(np.array([3, 2], np.int64), "iwh")], axis=0)],
        to=TensorProto.FLOAT,
    )
    # (N, A*cells, H, W) -> (N, A, cells, H*W) -> (N, H*W, A, cells): OpenCV's row order.
    t = g.op("Reshape", [y.tensor, g.const(np.array([0, a, cells, -1], np.int64), "hshape")])
    t = g.op("Transpose", [t], perm=[0, 3, 1, 2])

    def part(start: int, end: int) -> str:
        return g.op(
            "Slice",
            [
                t,
                g.const(np.array([start], np.int64), "s"),
                g.const(np.array([end], np.int64), "e"),
                g.const(np.array([3], np.int64), "ax"),
            ],
        )

    s = np.float32(y.scale_x_y)
    xy = g.op("Mul", [g.op("Sigmoid", [part(0, 2)]), g.const(np.array(s, np.float32), "sxy")])
    xy = g.op("Add", [xy, g.const(np.array(-0.5 * (s - 1), np.float32), "oxy")])
    xy = g.op("Div", [g.op("Add", [xy, grid]), grid_wh])
    anchors = g.const(y.anchors.reshape(1, 1, a, 2).astype(np.float32), "anchors")
    wh = g.op("Div", [g.op("Mul", [g.op("Exp", [part(2, 4)]), anchors]), net_wh])
    rest = g.op("Sigmoid", [part(4, cells)])
    out = g.op("Concat", [xy, wh, rest], axis=3)
    return g.op("Reshape", [out, g.const(np.array([0, -1, cells], np.int64), "oshape")])


def _layer(
    g: _Graph,
    s: Section,
    idx: int,
    previous: tuple[str, int],
    outputs: list[tuple[str, int]],
    w: _Weights,
) -> tuple[str, int]:
    """Build one cfg section; returns its output tensor and channel count."""
    x, c = previous
    where = f"cfg line {s.line} (layer {idx}, {s.kind})"
    if s.kind in ("convolutional", "conv"):
        return _conv(g, s, x, c, w, idx)
    if s.kind == "route":
        layers = [i if i >= 0 else idx + i for i in s.get_ints("layers")]
        if any(not 0 <= i < idx for i in layers):
            raise ModelError(f"{where}: layers={s.options['layers']} points outside 0..{idx - 1}")
        groups, gid = s.get_int("groups", 1), s.get_int("group_id", 0)
        parts, total = [], 0
        for i in layers:
            t, ci = outputs[i]
            if groups > 1:
                step = ci // groups
                t = g.op(
                    "Slice",
                    [
                        t,
                        g.const(np.array([step * gid], np.int64), "s"),
                        g.const(np.array([step * (gid + 1)], np.int64), "e"),
                        g.const(np.array([1], np.int64), "ax"),
                    ],
                    "route_slice",
                )
                ci = step
            parts.append(t)
            total += ci
        return (parts[0] if len(parts) == 1 else g.op("Concat", parts, "route", axis=1)), total
    if s.kind in ("maxpool", "max"):
        size = s.get_int("size", 1)
        stride = s.get_int("stride", size)
        padding = s.get_int("padding", size - 1)
        begin = padding // 2  # darknet: w_offset = -pad / 2; the rest pads right/bottom
        end = padding - begin
        return g.op(
            "MaxPool",
            [x],
            "maxpool",
            kernel_shape=[size, size],
            strides=[stride, stride],
            pads=[begin, begin, end, end],
        ), c
    if s.kind == "upsample":
        stride = s.get_int("stride", 2)
        scales = g.const(np.array([1, 1, stride, stride], np.float32), "scales")
        y = g.op(
            "Resize",
            [x, "", scales],
            "upsample",
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        scale = s.get_float("scale", 1.0)
        if scale != 1.0:
            y = g.op("Mul", [y, g.const(np.array(scale, np.float32), "upscale")])
        return y, c
    if s.kind == "shortcut":
        frm = s.get_ints("from")
        if len(frm) != 1:
            raise ModelError(f"{where}: only one 'from' layer is supported")
        j = frm[0] if frm[0] >= 0 else idx + frm[0]
        other, co = outputs[j]
        if co != c:
            raise ModelError(f"{where}: channel counts differ ({c} vs {co})")
        y = g.op("Add", [x, other], "shortcut")
        return _activation(g, y, s.get_str("activation", "linear"), where), c
    raise ModelError(f"{where}: section [{s.kind}] is not supported by the converter")


def _yolo_head(s: Section, idx: int, x: str, c: int) -> _Yolo:
    where = f"cfg line {s.line} (layer {idx}, yolo)"
    if s.get_int("new_coords", 0):
        raise ModelError(f"{where}: new_coords=1 (scaled-YOLOv4 decoding) is not supported")
    anchors = np.array(s.get_ints("anchors"), np.float32).reshape(-1, 2)
    mask = s.get_ints("mask") if "mask" in s.options else list(range(len(anchors)))
    classes = s.get_int("classes", 20)
    if c != len(mask) * (5 + classes):
        raise ModelError(
            f"{where}: the previous layer has {c} channels, expected "
            f"{len(mask)} anchors x (5 + {classes} classes) = {len(mask) * (5 + classes)}"
        )
    return _Yolo(x, anchors[mask], classes, s.get_float("scale_x_y", 1.0))


def convert(
    cfg_text: str,
    weights: bytes,
    *,
    names: list[str] | None = None,
    source: str = "darknet",
    progress: Progress | None = None,
) -> onnx.ModelProto:
    """Build the ONNX model for a darknet cfg and its weights.

    Args:
        cfg_text: the ``.cfg`` file's text.
        weights: the ``.weights`` file's bytes.
        names: class names, stored in the model's metadata (``names``, JSON id → name).
        source: where it came from, stored in the metadata.
        progress: called as ``progress(done, total)`` after each layer.

    Raises:
        ModelError: an unsupported section or option, or weights that do not fit the cfg.
    """
    sections = parse_cfg(cfg_text)
    net, layers = sections[0], sections[1:]
    channels = net.get_int("channels", 3)
    g = _Graph()
    reader = _Weights(weights, source)
    image = "images"
    outputs: list[tuple[str, int]] = []
    heads: list[_Yolo] = []
    previous = (image, channels)
    for idx, s in enumerate(layers):
        if s.kind in ("yolo", "region", "detection"):
            if s.kind != "yolo":
                raise ModelError(f"cfg line {s.line}: [{s.kind}] heads are not supported")
            heads.append(_yolo_head(s, idx, *previous))
            out = previous
        else:
            out = _layer(g, s, idx, previous, outputs, reader)
        outputs.append(out)
        previous = out
        if progress:
            progress(idx + 1, len(layers))
    if reader.pos != len(reader.values):
        raise ModelError(
            f"{source}: {len(reader.values) - reader.pos} weights left over after the last "
            "layer; cfg and weights do not belong together"
        )
    if not heads:
        raise ModelError("cfg: no [yolo] layer found")
    decoded = [_yolo_decode(g, image, h) for h in heads]
    det = g.op("Concat", decoded, "detections", axis=1) if len(decoded) > 1 else decoded[0]
    g.nodes.append(helper.make_node("Identity", [det], ["detections"], name="detections"))
    cells = 5 + heads[0].classes
    outs = [
        helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["batch", "rows", cells])
    ]
    for i, h in enumerate(heads):
        g.nodes.append(helper.make_node("Identity", [h.tensor], [f"head_{i}"], name=f"head_{i}"))
        outs.append(
            helper.make_tensor_value_info(
                f"head_{i}", TensorProto.FLOAT, ["batch", cells * len(h.anchors), None, None]
            )
        )
    inp = helper.make_tensor_value_info(
        image, TensorProto.FLOAT, ["batch", channels, "height", "width"]
    )
    graph = helper.make_graph(g.nodes, "darknet", [inp], outs, initializer=g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="shouwang.darknet2onnx",
        producer_version=str(CONVERTER_VERSION),
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.14 and TensorRT 8.6
    meta = {
        "shouwang.kind": "yolov4",
        "shouwang.source": source,
        "shouwang.input_size": json.dumps([net.get_int("width", 416), net.get_int("height", 416)]),
        "names": json.dumps(dict(enumerate(names or [str(i) for i in range(heads[0].classes)]))),
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model
