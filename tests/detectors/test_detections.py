"""The per-frame result type: validated once, filtered by masks, merged, and box IoU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors.detections import NO_TRACK, Detections, box_iou


def make(n: int, **extra: Any) -> Detections:
    xyxy = np.array([[i, i, i + 10, i + 20] for i in range(n)], dtype=np.float32)
    return Detections(
        xyxy=xyxy,
        confidence=np.linspace(0.1, 0.9, n, dtype=np.float32),
        class_id=np.arange(n, dtype=np.int64),
        **extra,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((2, 5))}, r"xyxy: expected \(n, 4\), got \(2, 5\)"),
        ({"confidence": np.zeros(3)}, r"confidence: expected \(2,\), got \(3,\)"),
        ({"class_id": np.zeros((2, 1))}, r"class_id: expected \(2,\), got \(2, 1\)"),
        ({"tracker_id": np.zeros(1)}, r"tracker_id: expected \(2,\), got \(1,\)"),
        ({"xyxy": np.array([[5, 0, 1, 1], [0, 0, 1, 1]])}, "x1 <= x2"),
        ({"xyxy": np.array([[0, 0, np.nan, 1], [0, 0, 1, 1]])}, "finite"),
        ({"data": {"text": np.array(["a"])}}, r"data\['text'\]: expected 2 rows"),
    ],
)
def test_invalid_detections_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "xyxy": np.array([[0, 0, 1, 1], [2, 2, 3, 3]]),
        "confidence": np.array([0.5, 0.6]),
        "class_id": np.array([0, 2]),
    }
    with pytest.raises(ValueError, match=message):
        Detections(**{**base, **kwargs})


def test_defaults_and_dtypes() -> None:
    d = make(3)
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int64
    assert d.tracker_id.tolist() == [NO_TRACK] * 3
    assert len(Detections.empty()) == 0 and Detections.empty().xyxy.shape == (0, 4)


def test_mask_index_and_data_stay_aligned() -> None:
    d = make(4, data={"text": np.array(["a", "b", "c", "d"])})
    kept = d[d.confidence > 0.5]
    assert kept.data["text"].tolist() == ["c", "d"]
    assert kept.class_id.tolist() == [2, 3]
    assert d[1].data["text"].tolist() == ["b"]
    with pytest.raises(ValueError, match="mask: expected 4 booleans, got 2"):
        d[np.array([True, False])]


def test_merge_and_with_data() -> None:
    a, b = make(2), make(3)
    assert len(Detections.merge([a, Detections.empty(), b])) == 5
    with pytest.raises(ValueError, match="data keys differ"):
        Detections.merge([a.with_data(x=np.zeros(2)), b])
    assert make(2).with_data(score=np.array([1.0, 2.0])).data["score"].tolist() == [1.0, 2.0]


def test_geometry_helpers() -> None:
    d = make(1)
    assert d.area.tolist() == [200.0]
    assert d.bottom_center.tolist() == [[5.0, 20.0]]
    assert make(2).summary({0: "person", 1: "bicycle"}) == "1 person, 1 bicycle"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([[0, 0, 10, 10]], [[0, 0, 10, 10]], [[1.0]]),
        ([[0, 0, 10, 10]], [[5, 0, 15, 10]], [[1 / 3]]),
        ([[0, 0, 10, 10]], [[20, 20, 30, 30]], [[0.0]]),
        ([[0, 0, 0, 0]], [[0, 0, 0, 0]], [[0.0]]),  # degenerate boxes: no division by zero
        ([[0, 0, 10, 10], [0, 0, 5, 5]], [[0, 0, 5, 5]], [[0.25], [1.0]]),
    ],
)
def test_box_iou(a: list[list[float]], b: list[list[float]], expected: list[list[float]]) -> None:
    assert np.allclose(box_iou(np.array(a, float), np.array(b, float)), expected)
