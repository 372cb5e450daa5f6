"""Pre- and post-processing shared by the YOLO-family detectors.

Kept free of any session so each step can be tested on known arrays: input checks,
letterboxing, the two output layouts Shouwang reads, and per-class NMS.

Layouts:

- ``yolov4``: our darknet converter's ``detections`` output, ``(B, rows, 5 + C)``:
  ``cx, cy, w, h`` normalised to the network input, objectness, class probabilities;
  score = objectness × class probability (darknet's rule).
- ``ultralytics``: YOLOv8/YOLO11 exports, ``(B, 4 + C, N)``: ``cx, cy, w, h`` in input
  pixels, then per-class scores already through a sigmoid; there is no objectness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections

Layout = Literal["yolov4", "ultralytics"]
#: Darknet's coco.names spells eight COCO classes the old (VOC) way; Shouwang uses the
#: names of the COCO API and ultralytics everywhere so configs work with every model.
COCO_ALIASES = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}
PAD_VALUE = 114  # letterbox grey, as ultralytics and most YOLO exports expect


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one frame was fitted into the network input, to map boxes back."""

    scale: float
    left: int
    top: int
    width: int  # original frame size
    height: int


def check_images(images: Sequence[Any] | NDArray[Any]) -> None:
    """Raise a ``ValueError`` naming the first image that is not an (h, w, 3) uint8 frame.

    Runs before anything reaches onnxruntime, so a bad frame never crashes inside it.
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError(
            f"images: expected a sequence of (h, w, 3) uint8 BGR frames, got one array of "
            f"shape {images.shape}; wrap a single frame in a list"
        )
    for i, img in enumerate(images):
        want = f"image {i}: expected (h, w, 3) uint8 BGR"
        if not isinstance(img, np.ndarray):
            raise ValueError(f"{want} numpy array, got {type(img).__name__}")
        got = f"got {tuple(img.shape)} {img.dtype}"
        if img.ndim != 3 or img.shape[2] != 3:
            hint = ""
            if img.ndim == 2:
                hint = " (grayscale: convert with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))"
            elif img.ndim == 3 and img.shape[2] == 4:
                hint = " (4 channels: convert with cv2.cvtColor(img, cv2.COLOR_BGRA2BGR))"
            raise ValueError(f"{want}, {got}{hint}")
        if img.dtype != np.uint8:
            raise ValueError(f"{want}, {got}")
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"{want} with h, w > 0, {got} (an empty frame)")


def letterbox(
    images: Sequence[NDArray[np.uint8]], size: tuple[int, int], batch: int | None = None
) -> tuple[NDArray[np.float32], list[Letterbox]]:
    """Fit frames into ``size`` (width, height) keeping aspect ratio, centred on grey.

    Returns the NCHW float32 RGB blob in 0..1 and how each frame was placed. With
    ``batch`` larger than ``len(images)`` the blob is padded with grey frames (for
    models exported with a fixed batch).
    """
    tw, th = size
    n = max(len(images), batch or 0)
    blob = np.empty((n, 3, th, tw), np.float32)
    metas: list[Letterbox] = []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        r = min(tw / w, th / h)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        left, top = (tw - nw) // 2, (th - nh) // 2
        if (nw, nh) == (tw, th):
            canvas = np.ascontiguousarray(img)
        else:
            canvas = np.full((th, tw, 3), PAD_VALUE, np.uint8)
            canvas[top : top + nh, left : left + nw] = cv2.resize(
                np.ascontiguousarray(img), (nw, nh), interpolation=cv2.INTER_LINEAR
            )
        # One image at a time: cv2's multi-image blobFromImages is several times slower.
        blob[i] = cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True, crop=False)[0]
        metas.append(Letterbox(r, left, top, w, h))
    if n > len(images):  # padding frames for fixed-batch exports
        blob[len(images) :] = PAD_VALUE / 255.0
    return blob, metas


def candidates(
    out: NDArray[np.float32],
    layout: Layout,
    class_ids: NDArray[np.int64],
    conf_threshold: float,
    size: tuple[int, int],
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """Boxes above the threshold from one image's raw output, before NMS.

    Args:
        out: ``(rows, 5 + C)`` for ``yolov4``; ``(4 + C, N)`` for ``ultralytics``.
        layout: which of the two.
        class_ids: the model class ids to keep (the class filter).
        conf_threshold: minimum score.
        size: network input (width, height), to turn normalised boxes into pixels.

    Returns:
        ``xyxy`` in network-input pixels, scores, and model class ids. Each box keeps its
        best class among ``class_ids``.
    """
    if layout == "yolov4":
        rows = out[out[:, 4] >= conf_threshold]  # score <= objectness, so this is safe
        boxes = rows[:, :4] * np.array([size[0], size[1], size[0], size[1]], np.float32)
        scores = rows[:, 4:5] * rows[:, 5 + class_ids]
    else:
        rows = out.T
        boxes = rows[:, :4]
        scores = rows[:, 4 + class_ids]
    if not len(rows) or not len(class_ids):
        return np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64)
    best = scores.argmax(axis=1)
    conf = scores[np.arange(len(scores)), best]
    keep = conf >= conf_threshold
    boxes, conf, best = boxes[keep], conf[keep], best[keep]
    xyxy = np.empty_like(boxes)
    xyxy[:, :2] = boxes[:, :2] - boxes[:, 2:] / 2
    xyxy[:, 2:] = boxes[:, :2] + boxes[:, 2:] / 2
    return xyxy.astype(np.float32), conf.astype(np.float32), class_ids[best]


def nms_per_class(
    xyxy: NDArray[np.float32],
    scores: NDArray[np.float32],
    class_id: NDArray[np.int64],
    iou_threshold: float,
    max_detections: int,
) -> NDArray[np.int64]:
    """Indices kept by greedy NMS run separately per class, best score first."""
    if not len(xyxy):
        return np.empty(0, np.int64)
    xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]).astype(np.float64)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), scores.astype(float).tolist(), class_id.tolist(), 0.0, iou_threshold
    )
    idx = np.asarray(keep, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx[:max_detections]


def to_detections(
    xyxy: NDArray[np.float32],
    scores: NDArray[np.float32],
    class_id: NDArray[np.int64],
    meta: Letterbox,
) -> Detections:
    """Map network-input boxes back to the original frame's pixels, clipped to it."""
    out = (xyxy - np.array([meta.left, meta.top, meta.left, meta.top], np.float32)) / meta.scale
    np.clip(out[:, 0::2], 0, meta.width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, meta.height, out=out[:, 1::2])
    return Detections(xyxy=out, confidence=scores, class_id=class_id)
