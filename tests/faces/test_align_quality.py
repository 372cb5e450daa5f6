"""Alignment transforms and the quality gate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.detections import Detections
from detectors.faces.align import ARCFACE_TEMPLATE, arcface_crop, dlib_box, umeyama
from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.detector import CenterFaceDetector
from detectors.faces.quality import QualityConfig, QualityGate, pose


@pytest.mark.parametrize(
    ("angle", "scale", "shift"),
    [(0.0, 1.0, (0, 0)), (30.0, 2.0, (5, -7)), (-75.0, 0.3, (100, 40))],
)
def test_umeyama_recovers_a_similarity(angle: float, scale: float, shift: tuple[int, int]) -> None:
    a = np.deg2rad(angle)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    src = ARCFACE_TEMPLATE.astype(np.float64)
    dst = src @ rot.T + np.array(shift)
    m = umeyama(src.astype(np.float32), dst.astype(np.float32))
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-6)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-4)


def test_arcface_crop_puts_landmarks_on_the_template() -> None:
    # Paint the five template points (scaled x3, rotated) as dots, warp back, find them.
    img = np.zeros((400, 400, 3), np.uint8)
    a = np.deg2rad(20)
    rot = 3 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = ARCFACE_TEMPLATE @ rot.T + 60
    for x, y in pts:
        cv2.circle(img, (round(x), round(y)), 4, (255, 255, 255), -1)
    crop = arcface_crop(img, pts.astype(np.float32))
    assert crop.shape == (112, 112, 3)
    for x, y in ARCFACE_TEMPLATE:
        assert crop[round(y), round(x)].max() > 200


def test_dlib_box_is_a_square_around_the_face() -> None:
    lm = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    left, top, right, bottom = dlib_box(lm)
    assert right - left == bottom - top
    assert left < 40 and right > 80 and top < 50 and bottom > 90


@pytest.mark.parametrize(
    ("nose", "yaw_sign", "frontal"),
    [((60, 72), 0, True), ((78, 72), 1, False), ((42, 72), -1, False)],
)
def test_pose_from_landmarks(nose: tuple[int, int], yaw_sign: int, frontal: bool) -> None:
    lm = np.array([[40, 50], [80, 50], nose, [45, 90], [75, 90]], np.float32)
    yaw, pitch = pose(lm)
    assert abs(pitch) < 0.2
    assert (abs(yaw) < 0.1) == frontal
    assert np.sign(round(yaw, 1)) == yaw_sign


def _only(faces: Detections) -> int:
    return int(np.argmax(faces.area))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("none", None),
        ("blur", "blurred"),
        ("shrink", "small"),
        ("cut", "edge"),
        ("mirror", None),
    ],
)
def test_quality_gate_reasons(
    detector: CenterFaceDetector, one_face: NDArray[np.uint8], change: str, reason: str | None
) -> None:
    img: NDArray[np.uint8] = one_face
    if change == "blur":
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), 8), dtype=np.uint8)
    elif change == "shrink":
        img = np.asarray(
            cv2.resize(img, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    elif change == "cut":
        img = np.ascontiguousarray(img[:, :250])  # through the middle of the face
    elif change == "mirror":
        img = np.ascontiguousarray(img[:, ::-1])
    faces = detector.detect(img)
    assert len(faces) >= 1
    i = _only(faces)
    gate = QualityGate(QualityConfig(min_confidence=0.3))
    q = gate.assess(img, faces.xyxy[i], faces.data["landmarks"][i], float(faces.confidence[i]))
    assert q.reason == reason
    assert 0 <= q.score <= 1


def test_analyzer_columns(analyzer: FaceAnalyzer, zidane: NDArray[np.uint8]) -> None:
    faces = analyzer.analyze(zidane)
    assert set(faces.data) == {"landmarks", "quality", "skip_reason", "embedding"}
    emb = faces.data["embedding"]
    ok = faces.data["skip_reason"] == ""
    assert ok.sum() >= 1
    np.testing.assert_allclose(np.linalg.norm(emb[ok], axis=1), 1, atol=1e-5)
    assert not emb[~ok].any()  # skipped faces carry no embedding, only the reason
    assert all(
        r in {"", "profile", "pitched", "small", "blurred", "edge"}
        for r in faces.data["skip_reason"]
    )


def test_turned_face_is_skipped_as_profile(
    detector: CenterFaceDetector, zidane: NDArray[np.uint8]
) -> None:
    faces = detector.detect(zidane)
    left = int(np.argmin(faces.xyxy[:, 0]))  # the man on the left looks down and aside
    q = QualityGate().assess(
        zidane, faces.xyxy[left], faces.data["landmarks"][left], float(faces.confidence[left])
    )
    assert q.reason == "profile"
    assert abs(q.yaw) > QualityGate().config.max_yaw
