"""An independent NumPy interpreter of TensorFlow graphs, for the conversion parity tests.

TensorFlow cannot be installed for this Python here, so the "source format" is executed
by this interpreter: it walks the TF graph node by node in NHWC, float64, with its own
convolution (explicit TF padding + sliding windows + tensordot), pooling and batch-norm
arithmetic — a code path that shares nothing with the ONNX export
(:mod:`detectors.faces.tf2onnx`) or with ONNX Runtime beyond the parsed graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from detectors.faces.tfgraph import TfGraph, TfNode

Array = NDArray[Any]


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _pad_hw(
    x: Array, node: TfNode, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, value: float = 0.0
) -> Array:
    mode = node.attrs.get("padding", "VALID")
    if mode == "SAME":
        ph = _same_pads(x.shape[1], kh, sh, dh)
        pw = _same_pads(x.shape[2], kw, sw, dw)
    elif mode == "EXPLICIT":
        p = node.attrs["explicit_paddings"]
        ph, pw = (p[2], p[3]), (p[4], p[5])
    else:
        return x
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def _windows(x: Array, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int) -> Array:
    """(n, oh, ow, c, kh, kw) patches."""
    v = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
    return v[:, ::sh, ::sw, :, ::dh, ::dw]


def _conv(x: Array, w: Array, node: TfNode, depthwise: bool) -> Array:
    kh, kw, cin, cm = w.shape
    s = node.attrs.get("strides", [1, 1, 1, 1])
    d = node.attrs.get("dilations", [1, 1, 1, 1])
    x = _pad_hw(x, node, kh, kw, s[1], s[2], d[1], d[2])
    p = _windows(x, kh, kw, s[1], s[2], d[1], d[2])  # n, oh, ow, c, kh, kw
    if depthwise:
        out = np.asarray(np.einsum("nhwcij,ijcm->nhwcm", p, w))
        return out.reshape(*out.shape[:3], cin * cm)
    return np.asarray(np.tensordot(p, w, axes=([3, 4, 5], [2, 0, 1])))


def _pool(x: Array, node: TfNode, kind: str) -> Array:
    k, s = node.attrs["ksize"], node.attrs["strides"]
    if kind == "max":
        xp = _pad_hw(x, node, k[1], k[2], s[1], s[2], 1, 1, value=-np.inf)
        return np.asarray(_windows(xp, k[1], k[2], s[1], s[2], 1, 1).max(axis=(4, 5)))
    ones = np.ones_like(x[..., :1])
    xp = _pad_hw(x, node, k[1], k[2], s[1], s[2], 1, 1)
    cnt = _pad_hw(ones, node, k[1], k[2], s[1], s[2], 1, 1)
    tot = _windows(xp, k[1], k[2], s[1], s[2], 1, 1).sum(axis=(4, 5))
    n = _windows(cnt, k[1], k[2], s[1], s[2], 1, 1).sum(axis=(4, 5))
    return np.asarray(tot / n)


def _act(y: Array, act: str, extra: list[Array]) -> Array:
    if act == "Relu":
        return np.maximum(y, 0)
    if act == "Relu6":
        return np.clip(y, 0, 6)
    if act == "Prelu":
        return np.where(y >= 0, y, y * extra[0])
    raise NotImplementedError(act)


def run_graph(graph: TfGraph, inputs: dict[str, Array], output: str) -> Array:
    """Evaluate ``output`` for the given placeholder values (float64 throughout)."""
    by_name = {n.name: n for n in graph.nodes}
    memo: dict[str, Array] = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}

    def val(ref: str) -> Array:
        name = ref[:-2] if ref.endswith(":0") else ref
        if name in memo:
            return memo[name]
        if name in graph.consts:
            c = graph.consts[name]
            memo[name] = c.astype(np.float64) if c.dtype.kind == "f" else c
            return memo[name]
        node = by_name[name]
        memo[name] = _eval(node, [val(i) for i in node.inputs])
        return memo[name]

    return val(output)


def _eval(node: TfNode, a: list[Array]) -> Array:  # noqa: C901 - one branch per op
    op = node.op
    if op in ("Conv2D", "DepthwiseConv2dNative"):
        return _conv(a[0], a[1], node, op.startswith("Depthwise"))
    if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
        ops = node.attrs["fused_ops"]
        y = _conv(a[0], a[1], node, "Depthwise" in op) + a[2]
        return _act(y, ops[1], a[3:]) if len(ops) > 1 else y
    if op in ("MatMul", "_FusedMatMul"):
        x = a[0].T if node.attrs.get("transpose_a") else a[0]
        w = a[1].T if node.attrs.get("transpose_b") else a[1]
        y = x @ w
        if op == "_FusedMatMul":
            ops = node.attrs["fused_ops"]
            y = y + a[2]
            y = _act(y, ops[1], a[3:]) if len(ops) > 1 else y
        return y
    simple: dict[str, Callable[[], Any]] = {
        "BiasAdd": lambda: a[0] + a[1],
        "Add": lambda: a[0] + a[1],
        "AddV2": lambda: a[0] + a[1],
        "Sub": lambda: a[0] - a[1],
        "Mul": lambda: a[0] * a[1],
        "Maximum": lambda: np.maximum(a[0], a[1]),
        "Minimum": lambda: np.minimum(a[0], a[1]),
        "Abs": lambda: np.abs(a[0]),
        "Relu": lambda: np.maximum(a[0], 0),
        "Sigmoid": lambda: 1 / (1 + np.exp(-a[0])),
        "Square": lambda: a[0] ** 2,
        "Rsqrt": lambda: 1 / np.sqrt(a[0]),
        "Identity": lambda: a[0],
    }
    if op in simple:
        return np.asarray(simple[op]())
    if op in ("Sum", "Mean"):
        axes = tuple(int(i) for i in np.atleast_1d(a[1]))
        keep = bool(node.attrs.get("keep_dims", False))
        f = np.sum if op == "Sum" else np.mean
        return np.asarray(f(a[0], axis=axes, keepdims=keep))
    if op == "Softmax":
        e = np.exp(a[0] - a[0].max(axis=-1, keepdims=True))
        return np.asarray(e / e.sum(axis=-1, keepdims=True))
    if op == "Reshape":
        shape = [int(s) for s in a[1]]
        shape[0] = a[0].shape[0]
        return a[0].reshape(shape)
    if op == "Squeeze":
        return np.squeeze(a[0], axis=tuple(node.attrs["squeeze_dims"]))
    if op == "Pad":
        return np.pad(a[0], [(int(p[0]), int(p[1])) for p in a[1]])
    if op == "ConcatV2":
        return np.concatenate(a[:-1], axis=int(a[-1]))
    if op == "MaxPool":
        return _pool(a[0], node, "max")
    if op == "AvgPool":
        return _pool(a[0], node, "avg")
    if op.startswith("FusedBatchNorm"):
        eps = float(node.attrs.get("epsilon", 1e-3))
        return np.asarray((a[0] - a[3]) / np.sqrt(a[4] + eps) * a[1] + a[2])
    raise NotImplementedError(f"reference interpreter: op {op} (node {node.name})")
