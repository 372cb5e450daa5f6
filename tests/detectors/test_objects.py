"""The object detector: input checks, configuration, real detections, batching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError

from detectors.errors import ModelError
from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from detectors.yolo import candidates

GRAY = np.zeros((480, 640), np.uint8)
OK = np.zeros((48, 64, 3), np.uint8)

BAD_INPUT: list[tuple[str, list[Any], str]] = [
    ("grayscale", [GRAY], r"image 0: expected \(h, w, 3\) uint8 BGR, got \(480, 640\) uint8"),
    ("bgra", [np.zeros((4, 4, 4), np.uint8)], r"got \(4, 4, 4\) uint8 \(4 channels"),
    ("float", [np.zeros((4, 4, 3), np.float32)], r"image 0: .* got \(4, 4, 3\) float32"),
    ("uint16", [np.zeros((4, 4, 3), np.uint16)], r"got \(4, 4, 3\) uint16"),
    ("empty", [np.zeros((0, 640, 3), np.uint8)], r"h, w > 0, got \(0, 640, 3\) uint8"),
    ("empty width", [np.zeros((10, 0, 3), np.uint8)], r"an empty frame"),
    ("second bad", [OK, GRAY], r"image 1: expected"),
    ("4-d", [np.zeros((1, 4, 4, 3), np.uint8)], r"got \(1, 4, 4, 3\) uint8"),
    ("not array", [[[0, 0, 0]]], r"numpy array, got list"),
    ("none", [None], r"got NoneType"),
]


@pytest.mark.parametrize(("case", "images", "message"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_clear_value_error(
    detector: ObjectDetector, case: str, images: list[Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        detector.detect(images)


def test_a_bare_frame_must_be_wrapped(detector: ObjectDetector) -> None:
    with pytest.raises(ValueError, match="wrap a single frame in a list"):
        detector.detect(OK)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input_size": 400}, "multiple of 32"),
        ({"input_size": 16}, "greater than or equal to 32"),
        ({"conf_threshold": 0}, "greater than 0"),
        ({"iou_threshold": 1.5}, "less than or equal to 1"),
        ({"kind": "yolov5"}, "'auto', 'yolov4' or 'ultralytics'"),
        ({"provider": "rocm"}, "'cpu', 'cuda' or 'tensorrt'"),
        ({"max_batch": 0}, "greater than or equal to 1"),
        ({"treshold": 0.3}, "Extra inputs are not permitted"),
    ],
)
def test_config_rejects(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ObjectDetectorConfig(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"classes": ["person", "dragon"]}, r"classes: \['dragon'\] are not classes"),
        ({"model": "no-such-model"}, "neither a registered model"),
        ({"model": "/tmp/nowhere/x.onnx"}, "file not found"),
        ({"model": "coco.names"}, "not a detector"),
    ],
)
def test_load_rejects(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_object_detector(ObjectDetectorConfig(**fields))


def test_names_are_the_kept_coco_classes(detector: ObjectDetector) -> None:
    assert detector.names == {
        0: "person",
        1: "bicycle",
        2: "car",
        3: "motorcycle",
        5: "bus",
        7: "truck",
    }
    assert len(detector.model_names) == 80
    assert detector.input_size == (416, 416)


def test_bus_photo(detector: ObjectDetector, bus: NDArray[np.uint8]) -> None:
    (d,) = detector.detect([bus])
    h, w = bus.shape[:2]
    assert (d.class_id == 0).sum() >= 3
    assert (d.class_id == 5).sum() == 1
    assert set(d.class_id.tolist()) <= set(detector.names)
    assert (d.xyxy >= 0).all() and (d.xyxy[:, [0, 2]] <= w).all() and (d.xyxy[:, [1, 3]] <= h).all()
    assert (d.confidence >= detector.cfg.conf_threshold).all()
    # the bus spans most of the photo's width
    bus_box = d.xyxy[d.class_id == 5][0]
    assert bus_box[2] - bus_box[0] > 0.8 * w


class RecordingSession:
    """The real session, recording the batch size of every call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, names: list[str], feeds: dict[str, NDArray[np.float32]]) -> Any:
        self.batches.append(next(iter(feeds.values())).shape[0])
        return self.inner.run(names, feeds)


def test_true_batching_matches_one_by_one(
    detector: ObjectDetector, bus: NDArray[np.uint8], zidane: NDArray[np.uint8]
) -> None:
    cfg = detector.cfg.model_copy(update={"max_batch": 4})
    rec = RecordingSession(detector.session)
    batched = ObjectDetector(cfg, rec, detector.source)
    frames = [bus, zidane, bus[::2, ::2], zidane, bus]
    together = batched.detect(frames)
    assert rec.batches == [4, 1]
    alone = [detector.detect([f])[0] for f in frames]
    for a, b in zip(together, alone, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
        np.testing.assert_array_equal(a.class_id, b.class_id)
    assert detector.detect([]) == []


def test_class_filter(detector: ObjectDetector, bus: NDArray[np.uint8]) -> None:
    cfg = detector.cfg.model_copy(update={"classes": ["bus"]})
    only_bus = ObjectDetector(cfg, detector.session, detector.source)
    (d,) = only_bus.detect([bus])
    assert d.class_id.tolist() == [5]
    assert only_bus.names == {5: "bus"}
    # darknet's old spelling is accepted too
    cfg = detector.cfg.model_copy(update={"classes": ["motorbike"]})
    assert ObjectDetector(cfg, detector.session, detector.source).names == {3: "motorcycle"}


@pytest.mark.parametrize("size", [320, 608, 640])
def test_other_input_sizes(size: int, detector: ObjectDetector, bus: NDArray[np.uint8]) -> None:
    cfg = detector.cfg.model_copy(update={"input_size": size})
    other = ObjectDetector(cfg, detector.session, detector.source)
    assert other.input_size == (size, size)
    (d,) = other.detect([bus])
    assert (d.class_id == 0).sum() >= 3


@pytest.mark.parametrize(
    ("rows", "expected_scores", "expected_ids"),
    [
        # cx, cy, w, h (normalised), objectness, class probabilities (3 classes)
        ([[0.5, 0.5, 0.2, 0.2, 0.5, 0.8, 0.1, 0.0]], [0.4], [0]),
        ([[0.5, 0.5, 0.2, 0.2, 0.9, 0.1, 0.0, 0.5]], [0.45], [2]),
        ([[0.5, 0.5, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0]], [], []),  # objectness below threshold
        ([[0.5, 0.5, 0.2, 0.2, 0.9, 0.1, 0.9, 0.1]], [], []),  # best class filtered out
    ],
)
def test_yolov4_candidates(
    rows: list[list[float]], expected_scores: list[float], expected_ids: list[int]
) -> None:
    out = np.array(rows, np.float32)
    xyxy, scores, ids = candidates(out, "yolov4", np.array([0, 2]), 0.25, (100, 200))
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    assert ids.tolist() == expected_ids
    if len(xyxy):
        np.testing.assert_allclose(xyxy[0], [40, 80, 60, 120], rtol=1e-6)
