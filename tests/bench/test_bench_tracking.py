"""Cost of one ``Tracker.update`` with ~10 and ~50 people in the frame.

Run for figures: ``.venv/bin/python -m pytest tests/bench/test_bench_tracking.py
--benchmark-enable``; in the normal suite each body runs once as a smoke test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors.detections import Detections
from pipeline.tracking import Tracker, TrackerConfig


def _walkers(n: int, frames: int, seed: int = 0) -> list[Detections]:
    """n people on a grid walking in random directions, with detector-like jitter."""
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(n)))
    start = np.array([[80 + 150 * (k % cols), 60 + 180 * (k // cols)] for k in range(n)], float)
    vel = rng.uniform(-3, 3, size=(n, 2))
    out = []
    for f in range(frames):
        xy = start + vel * f + rng.normal(0, 1.0, size=(n, 2))
        boxes = np.column_stack([xy, xy + np.array([40.0, 100.0])])
        conf = rng.uniform(0.3, 0.95, n)
        out.append(
            Detections(
                xyxy=boxes.astype(np.float32),
                confidence=conf.astype(np.float32),
                class_id=np.zeros(n, np.int64),
            )
        )
    return out


@pytest.mark.bench
@pytest.mark.parametrize("people", [10, 50])
def test_bench_tracker_update(benchmark: Any, people: int) -> None:
    frames = _walkers(people, 200)
    tracker = Tracker(TrackerConfig(frame_rate=25))
    for i, d in enumerate(frames[:100]):  # warm: tracks exist and are confirmed
        tracker.update(d, (i + 1) / 25)
    clock = {"i": 100}

    def step() -> Detections:
        i = clock["i"]
        clock["i"] += 1
        return tracker.update(frames[100 + i % 100], (i + 1) / 25)

    if people == 10:
        benchmark.extra_info.update(stage="track", impl="shouwang")
    out = benchmark(step)
    assert len(out) > people // 2
