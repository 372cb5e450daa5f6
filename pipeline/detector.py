"""The detector contract the pipeline is written against, and the backend choice.

Any object with ``names`` and a batched ``detect`` is a :class:`Detector`: the OpenCV
Darknet reference (:mod:`detectors.darknet_cv`) or the ONNX Runtime detector
(``detectors.objects``), which is imported only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from detectors.darknet_cv import DarknetCvConfig, DarknetCvDetector
from detectors.detections import Detections
from detectors.errors import ModelError

Backend = Literal["opencv", "onnx"]
BACKENDS: tuple[str, ...] = ("opencv", "onnx")


@runtime_checkable
class Detector(Protocol):
    """Turns BGR uint8 frames into one :class:`Detections` each."""

    names: Mapping[int, str]

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect objects in a batch of frames."""
        ...


def make_detector(
    backend: str,
    *,
    input_size: int = 416,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    classes: Sequence[int] | None = (0,),
) -> Detector:
    """Build the yolov4-tiny detector on the chosen backend.

    Raises:
        ModelError: unknown backend, or the ONNX backend's module is not installed.
    """
    keep = None if classes is None else list(classes)
    if backend == "opencv":
        return DarknetCvDetector(
            DarknetCvConfig(
                input_size=input_size,
                conf_threshold=conf_threshold,
                iou_threshold=iou_threshold,
                classes=keep,
            )
        )
    if backend == "onnx":
        try:
            objects: Any = importlib.import_module("detectors.objects")
        except ModuleNotFoundError as exc:
            if exc.name != "detectors.objects":
                raise
            raise ModelError(
                "backend 'onnx': the ONNX Runtime detector (detectors.objects) is not in this "
                "build yet; use --backend opencv"
            ) from exc
        cfg = objects.ObjectDetectorConfig(
            model="yolov4-tiny",
            input_size=input_size,
            conf_threshold=conf_threshold,
            iou_threshold=iou_threshold,
            classes=keep,
        )
        detector: Detector = objects.load_object_detector(cfg)
        return detector
    raise ModelError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
