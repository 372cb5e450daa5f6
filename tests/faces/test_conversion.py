"""TF.js and frozen-TensorFlow face embedders converted to ONNX: parity, ops, bad files.

"The source format" is executed by an independent NumPy interpreter of the TF graph
(:mod:`tests.faces.tf_reference`): TensorFlow and TF.js do not run here (no TensorFlow
wheel is in requirements.lock for this machine). When TensorFlow *is* importable, the
frozen FaceNet graph is also checked against TensorFlow itself.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from detectors.errors import ModelError
from detectors.faces.align import arcface_crop
from detectors.faces.detector import CenterFaceDetector
from detectors.faces.embedder import EMBEDDERS, OnnxEmbedder, OnnxEmbedderConfig
from detectors.faces.tf2onnx import to_onnx
from detectors.faces.tfgraph import TfGraph, load_graphdef, load_tfjs, unfuse_prelu_relu
from detectors.registry import REGISTRY, ConvertedSource, ModelSpec, PathSource, model_path
from tests.faces.tf_reference import run_graph

CONVERTED = [
    n
    for n, s in REGISTRY.items()
    if isinstance(s.source, ConvertedSource) and s.task == "face_embedding"
]


def _source_graph(name: str) -> TfGraph:
    src = REGISTRY[name].source
    assert isinstance(src, ConvertedSource)
    path = model_path(src.inputs["graph"])
    return load_tfjs(path) if src.converter == "tfjs" else load_graphdef(path)


@pytest.fixture(scope="module")
def real_faces(
    one_face: NDArray[np.uint8], detector: CenterFaceDetector
) -> list[tuple[NDArray[np.uint8], NDArray[np.float32]]]:
    """Two real faces (a photo and its mirror image) with CenterFace landmarks."""
    out = []
    for img in (one_face, np.ascontiguousarray(one_face[:, ::-1])):
        det = detector.detect(img)
        out.append((img, det.data["landmarks"][0]))
    return out


def test_every_embedder_is_converted_and_registered() -> None:
    assert set(CONVERTED) == {
        "human-faceres",
        "human-faceres-deep",
        "human-mobilefacenet",
        "human-mobileface",
        "facenet-casia",
    }
    for name in CONVERTED:
        spec = REGISTRY[name]
        assert spec.research_only and spec.preprocessing and spec.input_size
        assert "training data" in spec.license


@pytest.mark.parametrize("name", CONVERTED)
def test_onnx_matches_the_source_graph_on_real_faces(
    name: str, real_faces: list[tuple[NDArray[np.uint8], NDArray[np.float32]]]
) -> None:
    config = EMBEDDERS[name]
    assert isinstance(config, OnnxEmbedderConfig)
    emb = OnnxEmbedder(config)
    batch = emb.preprocess([arcface_crop(img, lm, config.size) for img, lm in real_faces])
    src = REGISTRY[name].source
    assert isinstance(src, ConvertedSource)
    inp, out = src.graph_io
    got = emb._session.run(None, {inp: batch})[0].reshape(len(batch), -1)
    want = run_graph(_source_graph(name), {inp: batch}, out).reshape(len(batch), -1)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.999, cos


def test_frozen_facenet_matches_tensorflow(
    real_faces: list[tuple[NDArray[np.uint8], NDArray[np.float32]]],
) -> None:
    tf = pytest.importorskip(
        "tensorflow", reason="TensorFlow not installed: the NumPy reference is the check"
    )
    config = EMBEDDERS["facenet-casia"]
    assert isinstance(config, OnnxEmbedderConfig)
    emb = OnnxEmbedder(config)
    batch = emb.preprocess([arcface_crop(img, lm, 160) for img, lm in real_faces[:1]])
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(model_path("facenet-casia.pb").read_bytes())
    with tf.Graph().as_default() as g:
        tf.import_graph_def(gd, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            want = sess.run("embeddings:0", {"input:0": batch})
    got = emb._session.run(None, {"input": batch})[0]
    assert float((got * want).sum() / np.linalg.norm(got) / np.linalg.norm(want)) >= 0.999


# --- the converter on small graphs built here (every op, both file formats) ---------


def _tfjs(tmp: Path, nodes: list[dict[str, Any]], weights: dict[str, NDArray[Any]]) -> Path:
    blob = b"".join(np.ascontiguousarray(w, dtype="<f4").tobytes() for w in weights.values())
    (tmp / "m.bin").write_bytes(blob)
    manifest = [
        {
            "paths": ["m.bin"],
            "weights": [
                {"name": k, "shape": list(v.shape), "dtype": "float32"} for k, v in weights.items()
            ],
        }
    ]
    doc = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}
    (tmp / "m.json").write_text(json.dumps(doc))
    return tmp / "m.json"


def _s(text: str) -> dict[str, str]:
    import base64

    return {"s": base64.b64encode(text.encode()).decode()}


def _ints(*xs: int) -> dict[str, Any]:
    return {"list": {"i": [str(x) for x in xs]}}


def _const(name: str) -> dict[str, Any]:
    return {"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}}


_X = {
    "name": "x",
    "op": "Placeholder",
    "attr": {
        "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "9"}, {"size": "9"}, {"size": "3"}]}}
    },
}
_CONV = {"strides": _ints(1, 2, 2, 1), "padding": _s("SAME")}
OP_CASES: list[tuple[str, list[dict[str, Any]], dict[str, tuple[int, ...]]]] = [
    (
        "conv2d same stride 2",
        [{"name": "y", "op": "Conv2D", "input": ["x", "w"], "attr": _CONV}],
        {"w": (3, 3, 3, 4)},
    ),
    (
        "depthwise x2 valid",
        [
            {
                "name": "y",
                "op": "DepthwiseConv2dNative",
                "input": ["x", "w"],
                "attr": {"strides": _ints(1, 1, 1, 1), "padding": _s("VALID")},
            }
        ],
        {"w": (3, 3, 3, 2)},
    ),
    (
        "fused conv + prelu",
        [
            {
                "name": "y",
                "op": "_FusedConv2D",
                "input": ["x", "w", "b", "a"],
                "attr": {
                    **_CONV,
                    "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Prelu")["s"]]}},
                },
            }
        ],
        {"w": (3, 3, 3, 4), "b": (4,), "a": (4,)},
    ),
    (
        "fused depthwise + relu",
        [
            {
                "name": "y",
                "op": "FusedDepthwiseConv2dNative",
                "input": ["x", "w", "b"],
                "attr": {
                    **_CONV,
                    "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Relu")["s"]]}},
                },
            }
        ],
        {"w": (3, 3, 3, 1), "b": (3,)},
    ),
    (
        "max pool same",
        [
            {
                "name": "y",
                "op": "MaxPool",
                "input": ["x"],
                "attr": {
                    "ksize": _ints(1, 3, 3, 1),
                    "strides": _ints(1, 2, 2, 1),
                    "padding": _s("SAME"),
                },
            }
        ],
        {},
    ),
    (
        "avg pool same",
        [
            {
                "name": "y",
                "op": "AvgPool",
                "input": ["x"],
                "attr": {
                    "ksize": _ints(1, 3, 3, 1),
                    "strides": _ints(1, 2, 2, 1),
                    "padding": _s("SAME"),
                },
            }
        ],
        {},
    ),
    (
        "batch norm, min/max, abs, sub",
        [
            {
                "name": "bn",
                "op": "FusedBatchNorm",
                "input": ["x", "g", "b", "m", "v"],
                "attr": {"epsilon": {"f": 0.001}},
            },
            {"name": "mx", "op": "Maximum", "input": ["bn", "m"]},
            {"name": "mn", "op": "Minimum", "input": ["mx", "g"]},
            {"name": "y", "op": "Sub", "input": ["mn", {"name": "ab"}["name"]]},
            {"name": "ab", "op": "Abs", "input": ["bn"]},
        ],
        {"g": (3,), "b": (3,), "m": (3,), "v": (3,)},
    ),
]


@pytest.mark.parametrize(("case", "nodes", "shapes"), OP_CASES, ids=[c[0] for c in OP_CASES])
def test_each_op_matches_the_reference(
    tmp_path: Path, case: str, nodes: list[dict[str, Any]], shapes: dict[str, tuple[int, ...]]
) -> None:
    rng = np.random.default_rng(7)
    weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    if "v" in weights:
        weights["v"] = (np.abs(weights["v"]) + 0.1).astype(np.float32)
    path = _tfjs(tmp_path, [_X, *(_const(k) for k in weights), *nodes], weights)
    graph = load_tfjs(path)
    for k, v in weights.items():
        np.testing.assert_array_equal(graph.consts[k], v)
    model = to_onnx(graph, input_name="x", output_name="y", source=case)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, 9, 9, 3)).astype(np.float32)
    got = sess.run(None, {"x": x})[0]
    want = run_graph(graph, {"x": x}, "y")
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _field(num: int, wt: int, payload: bytes | int) -> bytes:
    def varint(v: int) -> bytes:
        out = b""
        while True:
            b = v & 0x7F
            v >>= 7
            out += bytes([b | (0x80 if v else 0)])
            if not v:
                return out

    key = varint(num << 3 | wt)
    if wt == 0:
        assert isinstance(payload, int)
        return key + varint(payload)
    assert isinstance(payload, bytes)
    return key + varint(len(payload)) + payload


def _node(name: str, op: str, inputs: list[str], attrs: dict[str, bytes]) -> bytes:
    body = _field(1, 2, name.encode()) + _field(2, 2, op.encode())
    body += b"".join(_field(3, 2, i.encode()) for i in inputs)
    for k, v in attrs.items():
        body += _field(5, 2, _field(1, 2, k.encode()) + _field(2, 2, v))
    return _field(1, 2, body)


def test_frozen_graphdef_wire_format_is_decoded(tmp_path: Path) -> None:
    w = np.arange(2 * 2 * 3 * 2, dtype=np.float32).reshape(2, 2, 3, 2) / 10
    shape = b"".join(_field(2, 2, _field(1, 0, d)) for d in w.shape)
    tensor = _field(1, 0, 1) + _field(2, 2, shape) + _field(4, 2, w.tobytes())
    in_shape = b"".join(_field(2, 2, _field(1, 0, d)) for d in (1, 5, 5, 3))
    strides = _field(1, 2, _field(3, 2, bytes([1, 1, 1, 1])))
    pb = (
        _node("x", "Placeholder", [], {"shape": _field(7, 2, in_shape), "dtype": _field(6, 0, 1)})
        + _node("w", "Const", [], {"value": _field(8, 2, tensor)})
        + _node(
            "y",
            "Conv2D",
            ["x:0", "w", "^w"],
            {"strides": strides, "padding": _field(2, 2, b"VALID")},
        )
        + _field(4, 2, b"")  # versions: ignored
    )
    (tmp_path / "g.pb").write_bytes(pb)
    graph = load_graphdef(tmp_path / "g.pb")
    np.testing.assert_array_equal(graph.consts["w"], w)
    conv = graph.node("y")
    assert conv.inputs == ["x:0", "w"] and conv.attrs["strides"] == [1, 1, 1, 1]
    assert graph.node("x").attrs["shape"] == [1, 5, 5, 3]
    model = to_onnx(graph, input_name="x", output_name="y", source="wire")
    x = np.random.default_rng(1).standard_normal((1, 5, 5, 3)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        sess.run(None, {"x": x})[0], run_graph(graph, {"x": x}, "y"), atol=1e-4
    )


# --- bad model files are named --------------------------------------------------------


def test_truncated_tfjs_shard_is_named(tmp_path: Path) -> None:
    path = _tfjs(tmp_path, [_X, _const("w")], {"w": np.ones((3, 3, 3, 4), np.float32)})
    (tmp_path / "m.bin").write_bytes((tmp_path / "m.bin").read_bytes()[:100])
    with pytest.raises(ModelError, match=r"m\.bin.*truncated"):
        load_tfjs(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "cannot read frozen graph"),
        (b"\xff\xff\xff\xff garbage", "not a TensorFlow GraphDef"),
    ],
    ids=["missing", "corrupt"],
)
def test_missing_or_corrupt_graphdef_is_named(
    tmp_path: Path, content: bytes | None, match: str
) -> None:
    path = tmp_path / "facenet.pb"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=match) as err:
        load_graphdef(path)
    assert str(path) in str(err.value)


def test_corrupt_carrier_file_is_named_by_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "faceres.json"
    bad.write_text("{}")
    spec = REGISTRY["human-faceres.json"]
    monkeypatch.setitem(
        REGISTRY,
        "human-faceres.json",
        ModelSpec(
            name=spec.name,
            task=spec.task,
            format=spec.format,
            source=PathSource(str(bad)),
            sha256=spec.sha256,
            license=spec.license,
        ),
    )
    with pytest.raises(ModelError, match=r"hash mismatch for .*faceres\.json"):
        model_path("human-faceres.json")


def test_wrong_input_shape_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an ONNX file that takes 112x112 faces, registered where a 160x160 model is expected
    path = tmp_path / "small.onnx"
    path.write_bytes(model_path("human-mobileface").read_bytes())
    odd = replace(REGISTRY["human-mobileface"], name="odd", source=PathSource(str(path)))
    monkeypatch.setitem(REGISTRY, "odd", replace(odd, sha256=None))
    with pytest.raises(ModelError, match=r"small\.onnx.*does not take 160x160"):
        OnnxEmbedder(OnnxEmbedderConfig(model="odd", size=160, layout="nhwc"))


def test_unfusing_the_prelu_relus_of_mobilefacenet_is_counted_and_idempotent() -> None:
    graph = _source_graph("human-mobilefacenet")
    assert unfuse_prelu_relu(graph) == 16  # the depthwise convolutions that feed a PReLU
    assert unfuse_prelu_relu(graph) == 0
    relus = [n for n in graph.nodes if n.name.endswith("/unfused_relu")]
    assert len(relus) == 16
    for r in relus:  # the |x| branch now reads the raw convolution again
        conv = graph.node(r.inputs[0])
        assert conv.attrs["fused_ops"] == ["BiasAdd"]
