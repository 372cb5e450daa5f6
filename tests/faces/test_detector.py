"""CenterFace detection: boxes, landmarks, batching, NMS."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.detector import CenterFaceConfig, CenterFaceDetector, nms


@pytest.mark.parametrize(
    ("boxes", "scores", "iou", "expected"),
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.9, 0.8], 0.3, [0]),
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.7, 0.8], 0.3, [1]),
        ([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], 0.3, [0, 1]),
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.5, [0, 1]),  # IoU 1/3 < 0.5
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.3, [0]),  # IoU 1/3 >= 0.3
    ],
)
def test_nms(boxes: list[list[int]], scores: list[float], iou: float, expected: list[int]) -> None:
    keep = nms(np.array(boxes, np.float32), np.array(scores, np.float32), iou)
    assert keep.tolist() == expected


def test_finds_both_faces_with_landmarks_inside(
    detector: CenterFaceDetector, zidane: NDArray[np.uint8]
) -> None:
    faces = detector.detect(zidane)
    assert len(faces) == 2
    lms = faces.data["landmarks"]
    assert lms.shape == (2, 5, 2)
    for box, lm in zip(faces.xyxy, lms, strict=True):
        assert (lm[:, 0] >= box[0]).all() and (lm[:, 0] <= box[2]).all()
        assert (lm[:, 1] >= box[1]).all() and (lm[:, 1] <= box[3]).all()
        assert lm[0, 0] < lm[1, 0]  # left eye left of right eye
        assert lm[3, 1] > lm[2, 1]  # mouth below nose
    # Zidane's face is in the right part of the frame.
    assert any(b[0] > 760 for b in faces.xyxy)


def test_batch_matches_single_images(
    detector: CenterFaceDetector, zidane: NDArray[np.uint8], one_face: NDArray[np.uint8]
) -> None:
    batch = detector.detect_batch([zidane, one_face])
    for img, got in zip([zidane, one_face], batch, strict=True):
        alone = detector.detect(img)
        assert len(got) == len(alone)
        np.testing.assert_allclose(got.xyxy, alone.xyxy, atol=2.0)


@pytest.mark.parametrize(
    "image",
    [np.zeros((480, 640, 3), np.uint8), np.full((100, 37, 3), 200, np.uint8)],
    ids=["black", "odd-size-grey"],
)
def test_no_face_gives_empty_with_landmark_column(
    detector: CenterFaceDetector, image: NDArray[np.uint8]
) -> None:
    faces = detector.detect(image)
    assert len(faces) == 0
    assert faces.data["landmarks"].shape == (0, 5, 2)


def test_scaled_input_maps_back_to_original_pixels(zidane: NDArray[np.uint8]) -> None:
    small = CenterFaceDetector(CenterFaceConfig(max_side=640)).detect(zidane)
    large = CenterFaceDetector(CenterFaceConfig(max_side=1280)).detect(zidane)
    assert len(small) == len(large) == 2
    order_s, order_l = np.argsort(small.xyxy[:, 0]), np.argsort(large.xyxy[:, 0])
    np.testing.assert_allclose(small.xyxy[order_s], large.xyxy[order_l], atol=25)


@pytest.mark.parametrize(
    ("image", "error"),
    [(np.zeros((10, 10), np.uint8), "expected \\(h, w, 3\\)")],
)
def test_bad_image_shape(
    detector: CenterFaceDetector, image: NDArray[np.uint8], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        detector.detect(image)


def test_photo_second_look_finds_a_small_face_in_a_large_photo(
    analyzer: FaceAnalyzer, one_face: NDArray[np.uint8]
) -> None:
    # the face shrunk to ~25 px wide on a 3000 px wide canvas: too small at 640 px
    small = cv2.resize(one_face, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    canvas = np.full((2000, 3000, 3), 90, np.uint8)
    canvas[900 : 900 + small.shape[0], 1400 : 1400 + small.shape[1]] = small
    assert len(analyzer.detector.detect(canvas)) == 0
    faces = analyzer.detect_photo(canvas)
    assert len(faces) == 1
    assert 1400 <= faces.xyxy[0, 0] <= 1400 + small.shape[1]
