"""The quality gate: which faces are worth embedding, and how good each one is.

Faces that would give unreliable embeddings are skipped with the reason recorded:

- ``small``: inter-ocular distance below ``min_eye_distance`` pixels;
- ``blurred``: variance of the Laplacian of the aligned 112x112 grey crop below
  ``min_sharpness`` (measured after alignment, so it does not depend on face size);
- ``profile`` / ``pitched``: head turned or tilted too far, from landmark geometry —
  yaw from where the nose sits between the eyes, pitch from where it sits between the
  eyes' and the mouth's heights;
- ``edge``: the face is cut by the frame border (box or landmarks within ``edge_margin``
  of it), so part of it is missing;
- ``low_confidence``: detector score below ``min_confidence``.

Each accepted face also gets a score in [0, 1] used to pick a track's best faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from detectors.faces.align import arcface_crop


class QualityConfig(BaseModel):
    """Thresholds of the quality gate."""

    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(default=0.5, ge=0, le=1, description="detector score")
    min_eye_distance: float = Field(
        default=16.0, ge=0, description="inter-ocular distance in pixels"
    )
    min_sharpness: float = Field(
        default=30.0, ge=0, description="variance of Laplacian on the aligned 112x112 crop"
    )
    max_yaw: float = Field(
        default=1.0,
        gt=0,
        le=2,
        description="|nose offset| / half eye distance; 0 is frontal, 1 is the nose over an "
        "eye (a profile: the far eye is hidden)",
    )
    max_pitch: float = Field(
        default=0.6, gt=0, le=1, description="|nose height offset| from mid-face, as a fraction"
    )
    edge_margin: float = Field(default=2.0, ge=0, description="pixels from the frame border")


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """One face's measurements, its score and why it was skipped (``None``: accepted)."""

    eye_distance: float
    sharpness: float
    yaw: float
    pitch: float
    score: float
    reason: str | None


def pose(landmarks: NDArray[np.float32]) -> tuple[float, float]:
    """(yaw, pitch) proxies in about [-1, 1] from five landmarks; (0, 0) is frontal.

    Yaw: the nose's offset from the eyes' midpoint along the eye line, divided by half
    the eye distance (±1 when the nose is over an eye). Pitch: where the nose sits
    between the eye line and the mouth line, mapped so that the frontal ratio
    (about 0.55 of the way down) is 0.
    """
    le, re, nose, lm, rm = (landmarks[i].astype(np.float64) for i in range(5))
    eye_mid, mouth_mid = (le + re) / 2, (lm + rm) / 2
    axis = re - le
    iod = float(np.linalg.norm(axis)) or 1e-6
    ux = axis / iod
    yaw = float(np.dot(nose - eye_mid, ux) / (iod / 2))
    down = mouth_mid - eye_mid
    span = float(np.linalg.norm(down)) or 1e-6
    t = float(np.dot(nose - eye_mid, down) / span**2)
    pitch = (t - 0.55) / 0.45
    return yaw, pitch


def sharpness(crop_bgr: NDArray[np.uint8]) -> float:
    """Variance of the Laplacian of a grey crop: low means blurred."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


class QualityGate:
    """Scores faces and says which to skip.

    Example:
        >>> q = QualityGate().assess(frame, faces.xyxy[0], faces.data["landmarks"][0], 0.9)
        >>> q.reason  # None, or "small", "blurred", "profile", "pitched", "edge"
    """

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()

    def assess(
        self,
        image: NDArray[np.uint8],
        box: NDArray[np.float32],
        landmarks: NDArray[np.float32],
        confidence: float,
    ) -> FaceQuality:
        """Measure one face of ``image`` (BGR)."""
        c = self.config
        h, w = image.shape[:2]
        iod = float(np.linalg.norm(landmarks[1] - landmarks[0]))
        yaw, pitch = pose(landmarks)
        sharp = sharpness(arcface_crop(image, landmarks, 112))
        m = c.edge_margin
        pts = np.vstack([box.reshape(2, 2), landmarks])
        at_edge = bool(
            (pts[:, 0] <= m).any()
            or (pts[:, 1] <= m).any()
            or (pts[:, 0] >= w - m).any()
            or (pts[:, 1] >= h - m).any()
        )
        reason: str | None = None
        if confidence < c.min_confidence:
            reason = "low_confidence"
        elif at_edge:
            reason = "edge"
        elif iod < c.min_eye_distance:
            reason = "small"
        elif abs(yaw) > c.max_yaw:
            reason = "profile"
        elif abs(pitch) > c.max_pitch:
            reason = "pitched"
        elif sharp < c.min_sharpness:
            reason = "blurred"
        size_term = min(1.0, iod / 60.0)
        sharp_term = min(1.0, sharp / 200.0) ** 0.5
        pose_term = max(0.0, 1.0 - abs(yaw)) * max(0.0, 1.0 - abs(pitch))
        score = float(confidence * size_term * sharp_term * pose_term)
        return FaceQuality(iod, sharp, yaw, pitch, score, reason)
