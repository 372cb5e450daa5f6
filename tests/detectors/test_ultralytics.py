"""Ultralytics YOLOv8/YOLO11 ONNX drop-in: decoding checked on a graph with known output.

The test builds a real ONNX model whose output is a fixed ``(batch, 4 + 3, 5)`` tensor
(expanded to the input's batch), so every decoded box, class and score is known exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from detectors.errors import ModelError
from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from tests.detectors.test_objects import RecordingSession

# One column per candidate box: cx, cy, w, h in input pixels, then 3 class scores.
BOXES = np.array(
    [
        [32, 32, 20, 10, 0.9, 0.1, 0.0],  # person: kept
        [33, 32, 20, 10, 0.8, 0.0, 0.0],  # person, IoU 0.905 with the first: suppressed
        [33, 32, 20, 10, 0.0, 0.0, 0.7],  # car on the same spot: another class, kept
        [10, 10, 4, 4, 0.1, 0.05, 0.0],  # below the threshold
        [10, 50, 8, 8, 0.0, 0.6, 0.0],  # bicycle, partly outside the letterboxed frame
    ],
    np.float32,
).T[None]  # (1, 7, 5), ultralytics' layout


def build(path: Path, batch: int | str, hw: int | str, names: bool = True) -> Path:
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, hw, hw])
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 7, 5])
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "tail"], ["out_shape"], axis=0),
        helper.make_node("Expand", ["boxes", "out_shape"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(BOXES, "boxes"),
        numpy_helper.from_array(np.array([7, 5], np.int64), "tail"),
    ]
    graph = helper.make_graph(nodes, "fake-yolov8", [images], [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {"imgsz": "[64, 64]", "stride": "32", "task": "detect"}
    if names:
        props["names"] = "{0: 'person', 1: 'bicycle', 2: 'car'}"  # as ultralytics writes it
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


# A 128x64 frame letterboxes into 64x64 at scale 0.5 with 16 px of grey above and below.
FRAME = np.zeros((64, 128, 3), np.uint8)
EXPECTED_XYXY = [[44, 22, 84, 42], [46, 22, 86, 42], [12, 60, 28, 64]]
EXPECTED_IDS = [0, 2, 1]
EXPECTED_SCORES = [0.9, 0.7, 0.6]


@pytest.mark.parametrize(("batch", "hw"), [("batch", 64), ("batch", "height"), (1, 64)])
def test_decoding_is_exact(tmp_path: Path, batch: int | str, hw: int | str) -> None:
    path = build(tmp_path / "m.onnx", batch, hw)
    det = load_object_detector(
        ObjectDetectorConfig(model=str(path), classes=None, conf_threshold=0.25)
    )
    assert det.layout == "ultralytics"
    assert det.input_size == (64, 64)
    assert det.model_names == {0: "person", 1: "bicycle", 2: "car"}
    rec = RecordingSession(det.session)
    det.session = rec
    results = det.detect([FRAME, FRAME, FRAME])
    assert rec.batches == ([1, 1, 1] if batch == 1 else [3])
    for d in results:
        np.testing.assert_allclose(d.xyxy, EXPECTED_XYXY, atol=1e-4)
        assert d.class_id.tolist() == EXPECTED_IDS
        np.testing.assert_allclose(d.confidence, EXPECTED_SCORES, rtol=1e-6)


@pytest.mark.parametrize(
    ("fields", "xyxy", "ids"),
    [
        ({"classes": ["person", "car"]}, EXPECTED_XYXY[:2], [0, 2]),
        ({"classes": ["bicycle"]}, EXPECTED_XYXY[2:], [1]),
        ({"conf_threshold": 0.75}, EXPECTED_XYXY[:1], [0]),
        (
            {"iou_threshold": 0.95, "classes": ["person"]},
            [[44, 22, 84, 42], [46, 22, 86, 42]],
            [0, 0],
        ),
        ({"max_detections": 1}, EXPECTED_XYXY[:1], [0]),
    ],
)
def test_thresholds_and_filters(
    tmp_path: Path, fields: dict[str, Any], xyxy: list[list[float]], ids: list[int]
) -> None:
    path = build(tmp_path / "m.onnx", "batch", 64)
    cfg = ObjectDetectorConfig(model=str(path), **{"classes": None, **fields})
    (d,) = load_object_detector(cfg).detect([FRAME])
    np.testing.assert_allclose(d.xyxy, xyxy, atol=1e-4)
    assert d.class_id.tolist() == ids


def test_fixed_size_export_rejects_another_size(tmp_path: Path) -> None:
    path = build(tmp_path / "m.onnx", "batch", 64)
    with pytest.raises(ModelError, match="fixed 64x64 input, got 640"):
        load_object_detector(ObjectDetectorConfig(model=str(path), input_size=640, classes=None))


def test_without_names_ids_are_the_names(tmp_path: Path) -> None:
    path = build(tmp_path / "m.onnx", "batch", 64, names=False)
    det: ObjectDetector = load_object_detector(ObjectDetectorConfig(model=str(path), classes=None))
    assert det.model_names == {0: "0", 1: "1", 2: "2"}
    frames: list[NDArray[np.uint8]] = [FRAME]
    assert det.detect(frames)[0].class_id.tolist() == EXPECTED_IDS


def test_names_that_do_not_fit_the_output(tmp_path: Path) -> None:
    path = build(tmp_path / "m.onnx", "batch", 64)
    model = onnx.load(path)
    helper.set_model_props(model, {"names": "{0: 'person', 1: 'car'}"})
    onnx.save(model, path)
    with pytest.raises(ModelError, match=r"names 2 classes; expected ultralytics' \(batch, 4 \+ 2"):
        load_object_detector(ObjectDetectorConfig(model=str(path), classes=None))
