"""Read TensorFlow graphs without TensorFlow: TF.js graph models and frozen GraphDefs.

Both formats describe the same thing, a list of ``NodeDef`` (name, op, inputs,
attributes) plus constant tensors; this module turns either into a :class:`TfGraph`
of plain Python values and NumPy arrays, which :mod:`detectors.faces.tf2onnx` exports.

- TF.js (``model.json`` + ``.bin`` shards): the topology is the GraphDef as JSON, the
  weights are concatenated little-endian arrays listed in ``weightsManifest``
  (optionally quantised to float16 or to uint8/uint16 with ``scale``/``min``).
- Frozen GraphDef (``.pb``): the protobuf wire format is decoded by hand — varints,
  length-delimited fields — for the handful of messages a frozen graph uses
  (GraphDef, NodeDef, AttrValue, TensorProto, TensorShapeProto), so neither TensorFlow
  nor generated protobuf classes are needed.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.errors import ModelError

# TensorFlow DataType enum values that appear in inference graphs.
_DTYPES: dict[int, Any] = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    19: np.float16,
}
_DTYPE_NAMES = {
    "DT_FLOAT": 1,
    "DT_DOUBLE": 2,
    "DT_INT32": 3,
    "DT_UINT8": 4,
    "DT_INT8": 6,
    "DT_INT64": 9,
    "DT_BOOL": 10,
    "DT_HALF": 19,
}


@dataclass(slots=True)
class TfNode:
    """One node: its op, its inputs (``name`` or ``name:k``; ``^name`` control inputs
    dropped) and its attributes as Python values (lists, ints, floats, str, dtype ints)."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TfGraph:
    """Nodes in file order and the value of every ``Const`` node."""

    nodes: list[TfNode]
    consts: dict[str, NDArray[Any]]

    def node(self, name: str) -> TfNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ModelError(f"graph has no node {name!r}")


# --- TF.js -------------------------------------------------------------------------


def _json_attr(value: dict[str, Any]) -> Any:  # noqa: C901 - one branch per AttrValue kind
    if "list" in value:
        lst = value["list"]
        if "i" in lst:
            return [int(x) for x in lst["i"]]
        if "f" in lst:
            return [float(x) for x in lst["f"]]
        if "s" in lst:
            return [base64.b64decode(x).decode() for x in lst["s"]]
        if "type" in lst:
            return [_DTYPE_NAMES.get(t, 0) for t in lst["type"]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return _DTYPE_NAMES.get(value["type"], 0)
    if "shape" in value:
        dims = value["shape"].get("dim", [])
        return [int(d.get("size", -1)) for d in dims]
    if "tensor" in value:
        return value["tensor"]
    return None


def load_tfjs(model_json: Path) -> TfGraph:
    """A TF.js graph model (``model.json`` and its weight shards beside it).

    Raises:
        ModelError: naming the file that is missing, unreadable or of the wrong size.
    """
    try:
        doc = json.loads(model_json.read_text())
        topo = doc["modelTopology"]
        manifest = doc["weightsManifest"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{model_json}: not a TF.js graph model ({exc})") from None
    nodes = [
        TfNode(
            n["name"],
            n["op"],
            [i for i in n.get("input", []) if not i.startswith("^")],
            {k: _json_attr(v) for k, v in n.get("attr", {}).items()},
        )
        for n in topo["node"]
    ]
    consts: dict[str, NDArray[Any]] = {}
    for group in manifest:
        blob = b"".join(_read(model_json.parent / p) for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            dtype = np.dtype(quant["dtype"] if quant else w["dtype"])
            nbytes = count * dtype.itemsize
            if offset + nbytes > len(blob):
                raise ModelError(
                    f"{model_json}: weight {w['name']!r} runs past the end of "
                    f"{', '.join(group['paths'])} (truncated shard?)"
                )
            raw = np.frombuffer(blob, dtype=dtype.newbyteorder("<"), count=count, offset=offset)
            offset += nbytes
            if quant and quant["dtype"] in {"uint8", "uint16"}:
                arr = raw.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
            else:
                arr = raw.astype(np.dtype(w["dtype"]))
            consts[w["name"]] = arr.reshape(shape)
        if offset != len(blob):
            raise ModelError(
                f"{model_json}: {', '.join(group['paths'])} holds {len(blob)} bytes, the "
                f"manifest describes {offset} (wrong or corrupt weight file)"
            )
    for n in nodes:
        if n.op == "Const" and n.name not in consts:
            consts[n.name] = _tensor_from_json(n.attrs.get("value"), n.name, model_json)
    return TfGraph(nodes, consts)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read weight shard ({exc.strerror})") from None


def _tensor_from_json(t: Any, name: str, where: Path) -> NDArray[Any]:
    if not isinstance(t, dict):
        raise ModelError(f"{where}: constant {name!r} has no value")
    dtype = _DTYPES[_DTYPE_NAMES.get(t.get("dtype", "DT_FLOAT"), 1)]
    dims = [int(d.get("size", 1)) for d in t.get("tensorShape", {}).get("dim", [])]
    for key in ("floatVal", "intVal", "int64Val", "boolVal"):
        if key in t:
            vals = np.asarray(t[key], dtype=dtype)
            return np.broadcast_to(vals, dims).copy() if dims else vals.reshape(())
    raise ModelError(f"{where}: constant {name!r} has no weights in the manifest")


# --- frozen GraphDef (protobuf wire format) ----------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    out: list[tuple[int, int, Any]] = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        val: int | bytes
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wt == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        if pos > end:
            raise ValueError("message truncated")
        out.append((num, wt, val))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _packed_varints(val: Any, wt: int) -> list[int]:
    if wt == 0:
        return [_signed(val)]
    vals, pos = [], 0
    while pos < len(val):
        v, pos = _varint(val, pos)
        vals.append(_signed(v))
    return vals


def _shape(buf: bytes) -> list[int]:
    dims = []
    for num, _, val in _fields(buf):
        if num == 2:
            size = next((_signed(v) for n, _, v in _fields(val) if n == 1), 0)
            dims.append(size)
    return dims


def _tensor(buf: bytes) -> NDArray[Any]:
    dtype_id, dims, content = 1, [], b""
    floats: list[float] = []
    ints: list[int] = []
    for num, wt, val in _fields(buf):
        if num == 1:
            dtype_id = val
        elif num == 2:
            dims = _shape(val)
        elif num == 4:
            content = val
        elif num == 5:
            floats.extend(
                struct.unpack(f"<{len(val) // 4}f", val) if wt == 2 else struct.unpack("<f", val)
            )
        elif num in (7, 10, 11):
            ints.extend(_packed_varints(val, wt))
    dtype = np.dtype(_DTYPES.get(dtype_id, np.float32))
    count = int(np.prod(dims)) if dims else 1
    if content:
        return np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)
    vals = np.asarray(floats if floats else ints, dtype=dtype)
    if vals.size == count:
        return vals.reshape(dims)
    return np.full(dims, vals[0] if vals.size else 0, dtype=dtype)


def _attr(buf: bytes) -> Any:  # noqa: C901 - one branch per AttrValue field
    for num, _wt, val in _fields(buf):
        if num == 1:  # ListValue
            ints: list[int] = []
            strs: list[str] = []
            floats: list[float] = []
            for n2, w2, v2 in _fields(val):
                if n2 == 2:
                    strs.append(v2.decode())
                elif n2 in (3, 6):
                    ints.extend(_packed_varints(v2, w2))
                elif n2 == 4:
                    floats.extend(
                        struct.unpack(f"<{len(v2) // 4}f", v2)
                        if w2 == 2
                        else struct.unpack("<f", v2)
                    )
            return strs or ints or floats
        if num == 2:
            return val.decode(errors="replace")
        if num == 3:
            return _signed(val)
        if num == 4:
            return struct.unpack("<f", val)[0]
        if num == 5:
            return bool(val)
        if num == 6:
            return int(val)
        if num == 7:
            return _shape(val)
        if num == 8:
            return _tensor(val)
    return None


def _node(buf: bytes) -> TfNode:
    name = op = ""
    inputs: list[str] = []
    attrs: dict[str, Any] = {}
    for num, _, val in _fields(buf):
        if num == 1:
            name = val.decode()
        elif num == 2:
            op = val.decode()
        elif num == 3:
            s = val.decode()
            if not s.startswith("^"):
                inputs.append(s)
        elif num == 5:
            key, value = "", None
            for n2, _, v2 in _fields(val):
                if n2 == 1:
                    key = v2.decode()
                elif n2 == 2:
                    value = _attr(v2)
            attrs[key] = value
    return TfNode(name, op, inputs, attrs)


def load_graphdef(pb: Path) -> TfGraph:
    """A frozen TensorFlow GraphDef (``.pb``): every variable already a ``Const``.

    Raises:
        ModelError: the file is missing or not a GraphDef, naming it.
    """
    try:
        data = pb.read_bytes()
    except OSError as exc:
        raise ModelError(f"{pb}: cannot read frozen graph ({exc.strerror})") from None
    try:
        nodes = [_node(val) for num, _, val in _fields(data) if num == 1]
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"{pb}: not a TensorFlow GraphDef ({exc})") from None
    if not nodes:
        raise ModelError(f"{pb}: not a TensorFlow GraphDef (no nodes)")
    consts = {}
    for n in nodes:
        if n.op == "Const":
            value = n.attrs.get("value")
            if not isinstance(value, np.ndarray):
                raise ModelError(f"{pb}: constant {n.name!r} has no tensor value")
            consts[n.name] = value
    return TfGraph(nodes, consts)


def unfuse_prelu_relu(graph: TfGraph) -> int:
    """Undo a TF.js-converter fusion that breaks decomposed PReLUs; returns the count.

    MobileFaceNet's PReLU is written ``relu(x) + alpha * (x - |x|) / 2``. When the
    converter fused that ``relu`` into the convolution producing ``x``, the ``|x|`` and
    ``x - |x|`` branches read the rectified value too, so the negative part vanishes and
    the layer is a plain ReLU. This restores the graph as trained: the convolution
    outputs ``x``; a separate ``Relu`` feeds only the branch that had it.
    """
    consumers: dict[str, list[TfNode]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            consumers.setdefault(i.split(":")[0], []).append(n)
    fixed = 0
    out: list[TfNode] = []
    for n in graph.nodes:
        out.append(n)
        ops = n.attrs.get("fused_ops") or []
        users = consumers.get(n.name, [])
        if ops != ["BiasAdd", "Relu"] or not any(u.op == "Abs" for u in users):
            continue
        n.attrs["fused_ops"] = ["BiasAdd"]
        relu = TfNode(n.name + "/unfused_relu", "Relu", [n.name])
        out.append(relu)
        for u in users:
            if u.op not in ("Abs", "Sub"):
                u.inputs = [relu.name if i.split(":")[0] == n.name else i for i in u.inputs]
        fixed += 1
    graph.nodes[:] = out
    return fixed
