"""Embedders: dlib's ResNet on real faces, and the ONNX path with a graph built here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper

from detectors.errors import ModelError
from detectors.faces.align import ARCFACE_TEMPLATE
from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.detector import CenterFaceDetector
from detectors.faces.embedder import OnnxEmbedder, OnnxEmbedderConfig
from detectors.faces.watchlist import DEFAULT_THRESHOLDS
from detectors.registry import REGISTRY, ModelSpec, PathSource, register


def test_dlib_same_face_mirrored_matches_other_face_does_not(
    dlib_analyzer: FaceAnalyzer, one_face: NDArray[np.uint8], zidane: NDArray[np.uint8]
) -> None:
    analyzer = dlib_analyzer
    a = analyzer.analyze(one_face)
    b = analyzer.analyze(np.ascontiguousarray(one_face[:, ::-1]))
    va, vb = a.data["embedding"][0], b.data["embedding"][0]
    assert va.shape == (128,)
    assert float(va @ vb) > 0.93  # the same person, mirrored
    # the other face in the frame, embedded without the gate, is another person
    det = analyzer.detector.detect(zidane)
    other = int(np.argmin(det.xyxy[:, 0]))
    vo = analyzer.embedder.embed(zidane, det.data["landmarks"][other : other + 1])[0]
    assert float(va @ vo) < DEFAULT_THRESHOLDS["dlib-resnet-128"]


def _channel_mean_model(path: Path, size: int = 112) -> None:
    """An 'embedder' whose output is the per-channel mean of its NCHW input.

    With a uniformly coloured face the expected output is known exactly, which checks
    the crop size, channel order, normalisation and layout of the preprocessing.
    """
    inp = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, size, size])
    out = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", 3])
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    node = helper.make_node("ReduceMean", ["data", "axes"], ["fc1"], keepdims=0)
    graph = helper.make_graph([node], "mean", [inp], [out], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture
def mean_embedder(tmp_path: Path) -> Iterator[OnnxEmbedder]:
    path = tmp_path / "mean.onnx"
    _channel_mean_model(path)
    register(
        ModelSpec(
            name="test-mean-embedder",
            task="face_embedding",
            format="onnx",
            source=PathSource(str(path)),
            sha256=None,
            license="test",
        )
    )
    try:
        yield OnnxEmbedder(OnnxEmbedderConfig(model="test-mean-embedder"))
    finally:
        REGISTRY.pop("test-mean-embedder", None)


@pytest.mark.parametrize(
    ("bgr", "rgb", "mean", "std"),
    [
        ((10, 100, 200), True, 127.5, 127.5),
        ((10, 100, 200), False, 127.5, 127.5),
        ((255, 0, 60), True, 0.0, 1.0),
    ],
)
def test_onnx_embedder_preprocessing(
    mean_embedder: OnnxEmbedder,
    bgr: tuple[int, int, int],
    rgb: bool,
    mean: float,
    std: float,
) -> None:
    mean_embedder.config = mean_embedder.config.model_copy(
        update={"rgb": rgb, "mean": mean, "std": std}
    )
    image = np.full((300, 300, 3), bgr, np.uint8)
    lms = (ARCFACE_TEMPLATE * 1.5 + 60)[None].astype(np.float32)  # face well inside
    out = mean_embedder.embed(image, np.concatenate([lms, lms]))
    px = np.array(bgr[::-1] if rgb else bgr, dtype=np.float64)
    expected = (px - mean) / std
    expected /= np.linalg.norm(expected)
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)


def test_onnx_embedder_in_the_analyzer(
    mean_embedder: OnnxEmbedder, one_face: NDArray[np.uint8]
) -> None:
    faces = FaceAnalyzer(embedder=mean_embedder).analyze(one_face)
    assert faces.data["embedding"].shape == (1, 3)


def test_onnx_preprocess_layout(mean_embedder: OnnxEmbedder) -> None:
    crop = np.zeros((112, 112, 3), np.uint8)
    crop[:, :, 2] = 255  # red in BGR
    x = mean_embedder.preprocess([crop])
    assert x.shape == (1, 3, 112, 112) and x.flags["C_CONTIGUOUS"]
    assert x[0, 0].min() == 1.0  # channel 0 is red after BGR->RGB, (255-127.5)/127.5
    assert x[0, 2].max() == -1.0


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            ModelSpec(
                "t-bad", "face_detection", "onnx", PathSource("/nonexistent.onnx"), None, "x"
            ),
            "expected an ONNX face_embedding model",
        ),
        (
            ModelSpec(
                "t-bad", "face_embedding", "onnx", PathSource("/nonexistent.onnx"), None, "x"
            ),
            "file not found",
        ),
    ],
)
def test_onnx_embedder_errors(spec: ModelSpec, error: str) -> None:
    register(spec)
    try:
        with pytest.raises(ModelError, match=error):
            OnnxEmbedder(OnnxEmbedderConfig(model="t-bad"))
    finally:
        REGISTRY.pop("t-bad", None)


def test_onnx_embedder_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"not a model")
    register(ModelSpec("t-junk", "face_embedding", "onnx", PathSource(str(path)), None, "x"))
    try:
        with pytest.raises(ModelError, match="onnxruntime could not load"):
            OnnxEmbedder(OnnxEmbedderConfig(model="t-junk"))
    finally:
        REGISTRY.pop("t-junk", None)


def test_detector_and_embedder_share_nothing_mutable(detector: CenterFaceDetector) -> None:
    assert detector.config.max_side == 640
