"""The detector contract the pipeline is written against, and the backend choice.

Any object with ``names`` and a batched ``detect`` is a :class:`Detector`: the OpenCV
Darknet reference (:mod:`detectors.darknet_cv`, used for the parity check) or the ONNX
Runtime detector (:mod:`detectors.objects`, the production path and the default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from detectors.darknet_cv import DarknetCvConfig, DarknetCvDetector
from detectors.detections import Detections
from detectors.errors import ModelError
from shouwang.config.rules import COCO_CLASSES

Backend = Literal["opencv", "onnx"]
BACKENDS: tuple[str, ...] = ("opencv", "onnx")


@runtime_checkable
class Detector(Protocol):
    """Turns BGR uint8 frames into one :class:`Detections` each."""

    @property
    def names(self) -> Mapping[int, str]:
        """Class id → name of the classes it reports."""
        ...

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
        from detectors.objects import ObjectDetectorConfig, load_object_detector

        names = None if keep is None else [COCO_CLASSES[c] for c in keep]
        return load_object_detector(
            ObjectDetectorConfig(
                model="yolov4-tiny",
                input_size=input_size,
                conf_threshold=conf_threshold,
                iou_threshold=iou_threshold,
                classes=names,
            )
        )
    raise ModelError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
