"""The OpenCV Darknet reference detector: input checks and real detections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.darknet_cv import DarknetCvConfig, DarknetCvDetector
from pipeline.detector import Detector
from pipeline.eval_mot import video_frames


@pytest.fixture(scope="module")
def detector() -> DarknetCvDetector:
    return DarknetCvDetector(DarknetCvConfig(input_size=416, classes=[0]))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), "non-empty"),
        (np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        (np.zeros((10, 10), np.uint8), r"\(h, w, 3\)"),
        (np.zeros((10, 10, 4), np.uint8), r"\(h, w, 3\)"),
    ],
    ids=["empty", "float", "grey", "bgra"],
)
def test_bad_images_are_clear_errors(detector: DarknetCvDetector, image: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detector.detect([image])


@pytest.mark.parametrize(
    ("field", "value"), [("input_size", 400), ("conf_threshold", 1.5), ("iou_threshold", 0)]
)
def test_bad_config(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        DarknetCvConfig(**{field: value})


def test_blank_frame_has_nothing(detector: DarknetCvDetector) -> None:
    assert isinstance(detector, Detector)  # satisfies the pipeline's protocol
    assert detector.detect([]) == []
    (dets,) = detector.detect([np.full((240, 320, 3), 127, np.uint8)])
    assert len(dets) == 0


@pytest.mark.data
def test_people_in_pets_batched_like_single(detector: DarknetCvDetector, shared_data: Path) -> None:
    frames = list(video_frames(shared_data / "video/vtest_opencv_pets2009_s2l1_view001.avi", 3))
    batch = detector.detect(frames)
    single = [detector.detect([f])[0] for f in frames]
    assert detector.names[0] == "person"
    for b, s in zip(batch, single, strict=True):
        assert 2 <= len(b) <= 10 and set(b.class_id.tolist()) == {0}
        np.testing.assert_allclose(b.xyxy, s.xyxy, atol=1.0)
        assert (np.diff(b.confidence) <= 0).all()  # best first
