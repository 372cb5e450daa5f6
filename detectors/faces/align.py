"""Face alignment from five landmarks.

Two conventions, one per embedder family:

- dlib's ResNet expects the chip that ``dlib.get_face_chip(img, shape, 150, 0.25)`` cuts
  from a ``full_object_detection`` of its own 5-point shape predictor (eye corners and the
  base of the nose, *not* CenterFace's eye centres). We therefore run dlib's predictor
  inside a dlib-style box built from CenterFace's landmarks — the canonical dlib
  pipeline, and the one its reported accuracy was measured with.
- ArcFace/SFace-style ONNX models expect a 112x112 crop warped by a similarity transform
  onto the fixed five-point template below (insightface's ``arcface_dst``).
"""

from __future__ import annotations

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from detectors.registry import model_path

ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
# dlib's frontal detector box, measured against eye-to-mouth distance on frontal faces:
# a square about 2.3 times that distance, centred between the eyes' and mouth's midpoints.
_DLIB_BOX_SIDE = 2.3


def umeyama(src: NDArray[np.float32], dst: NDArray[np.float32]) -> NDArray[np.float64]:
    """Least-squares similarity transform (rotation, uniform scale, shift) src -> dst.

    Returns:
        The 2x3 affine matrix for ``cv2.warpAffine``.
    """
    src64 = np.asarray(src, dtype=np.float64)
    dst64 = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src64.mean(0), dst64.mean(0)
    s_c, d_c = src64 - mu_s, dst64 - mu_d
    cov = d_c.T @ s_c / len(src64)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (s_c**2).sum() / len(src64)
    scale = float((sig * d).sum() / var_s) if var_s > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def arcface_crop(
    image: NDArray[np.uint8], landmarks: NDArray[np.float32], size: int = 112
) -> NDArray[np.uint8]:
    """The face warped onto the ArcFace five-point template (``size`` x ``size``, BGR kept)."""
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    m = umeyama(landmarks, dst)
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return np.asarray(out, dtype=np.uint8)


def dlib_box(landmarks: NDArray[np.float32]) -> tuple[int, int, int, int]:
    """A dlib-frontal-detector-like square (left, top, right, bottom) from five landmarks."""
    eye = (landmarks[0] + landmarks[1]) / 2
    mouth = (landmarks[3] + landmarks[4]) / 2
    side = _DLIB_BOX_SIDE * max(
        float(np.linalg.norm(mouth - eye)), float(np.linalg.norm(landmarks[1] - landmarks[0]))
    )
    cx, cy = (eye + mouth) / 2
    half = side / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


class DlibAligner:
    """dlib 150x150 chips: dlib's 5-point predictor in a box built from our landmarks."""

    def __init__(self, model: str = "dlib-landmarks-5") -> None:
        self._predictor = dlib.shape_predictor(str(model_path(model)))

    def chips(
        self, image_rgb: NDArray[np.uint8], landmarks: NDArray[np.float32]
    ) -> list[NDArray[np.uint8]]:
        """One RGB chip per face; ``landmarks`` is (n, 5, 2) in ``image_rgb`` pixels."""
        if not len(landmarks):
            return []
        shapes = dlib.full_object_detections()
        for lm in landmarks:
            shapes.append(self._predictor(image_rgb, dlib.rectangle(*dlib_box(lm))))
        chips = dlib.get_face_chips(
            image_rgb, shapes, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING
        )
        return [np.asarray(c, dtype=np.uint8) for c in chips]
