"""Cost of the anomaly stage per frame: rules and scene cues with 50 active tracks.

Run for figures with:
    .venv/bin/python -m pytest tests/bench/test_bench_anomaly.py --benchmark-enable
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import cycle
from typing import Any

import cv2
import numpy as np
import pytest

from detectors.detections import Detections
from pipeline.anomaly import RuleEngine
from pipeline.anomaly.scene import SceneScorer
from pipeline.anomaly.scene_cues import flow_magnitude, measure
from pipeline.anomaly.tamper import TamperDetector
from shouwang.config import Camera
from tests.anomaly.test_scene import walkway
from tests.anomaly.tracks import NIGHT, ZONES, calibration

pytestmark = pytest.mark.bench

N_TRACKS, N_FRAMES, FPS = 50, 300, 10.0

ALL_RULES: list[dict[str, Any]] = [
    {"id": "intr", "type": "intrusion", "zone": "yard"},
    {"id": "line", "type": "line_crossing", "zone": "gate", "direction": "to_left"},
    {"id": "loit", "type": "loitering", "zone": "yard", "seconds": 20},
    {"id": "crowd", "type": "crowding", "zone": "yard", "count": 10, "seconds": 3},
    {"id": "run", "type": "running", "zone": "yard", "speed_mps": 4},
    {"id": "fall", "type": "fall", "zone": "yard"},
    {"id": "bag", "type": "abandoned_object", "zone": "yard", "seconds": 20},
    {"id": "park", "type": "no_parking", "zone": "yard", "seconds": 20},
    {"id": "bike", "type": "vehicle_in_zone", "zone": "walk"},
]
BENCH_ZONES = [*ZONES, {"id": "walk", "kind": "pedestrian",
                        "polygon": [[0, 300], [800, 300], [800, 600], [0, 600]]}]  # fmt: skip


def busy_scene() -> list[Detections]:
    """50 tracks (people, cars, bags) random-walking over an 800x600 view."""
    rng = np.random.default_rng(0)
    pos = rng.uniform([20, 60], [780, 590], size=(N_TRACKS, 2))
    vel = rng.normal(0, 15, size=(N_TRACKS, 2))
    cls = rng.choice([0, 0, 0, 2, 28], size=N_TRACKS)
    size = np.where(cls[:, None] == 0, [30, 80], [60, 40]).astype(float)
    out = []
    for _ in range(N_FRAMES):
        pos = np.clip(pos + vel / FPS, [20, 60], [780, 590])
        xyxy = np.column_stack(
            [
                pos[:, 0] - size[:, 0] / 2,
                pos[:, 1] - size[:, 1],
                pos[:, 0] + size[:, 0] / 2,
                pos[:, 1],
            ]
        )
        out.append(
            Detections(
                xyxy=xyxy.astype(np.float32),
                confidence=np.full(N_TRACKS, 0.8, np.float32),
                class_id=cls.astype(np.int64),
                tracker_id=np.arange(N_TRACKS, dtype=np.int64),
            )
        )
    return out


def test_bench_rule_engine_50_tracks(benchmark: Any) -> None:
    camera = Camera.model_validate(
        {"id": "cam", "compound": "c", "url": "x.mp4", "lat": 38.4872, "lon": 106.2309,
         "calibration": calibration(), "zones": BENCH_ZONES, "rules": ALL_RULES}
    )  # fmt: skip
    engine = RuleEngine(camera)
    image = np.zeros((600, 800, 3), np.uint8)
    frames: Iterator[tuple[int, Detections]] = cycle(enumerate(busy_scene()))
    for k, dets in list(enumerate(busy_scene()))[:30]:  # warm: tracks have history
        engine.update(dets, NIGHT + k / FPS, image)
    clock = [30]

    def step() -> int:
        _, dets = next(frames)
        clock[0] += 1
        return len(engine.update(dets, NIGHT + clock[0] / FPS, image))

    benchmark.extra_info.update(stage="anomaly", impl="shouwang", part="rules", tracks=N_TRACKS)
    benchmark.pedantic(step, rounds=600, warmup_rounds=20)
    assert len(engine.tracks) == N_TRACKS


def test_bench_scene_cues_50_tracks(benchmark: Any) -> None:
    """The scene score's new cues given the frame's flow: moving regions, 50 objects'
    speeds (in m/s through the calibration), odd classes, per-cell typical speeds and the
    combination. The optical flow itself is measured by test_bench_scene_score."""
    a, b = walkway(2, 0, 2)
    grey = [np.asarray(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), np.uint8) for f in (a, b)]
    flow = flow_magnitude(grey[0], grey[1])
    scene = busy_scene()
    half = np.array([0.45, 0.4, 0.45, 0.4], np.float32)  # the 800x600 scene onto 360x240
    dets = [Detections(d.xyxy * half, d.confidence, d.class_id, d.tracker_id) for d in scene]
    ground = RuleEngine(Camera.model_validate(
        {"id": "cam", "compound": "c", "url": "x.mp4", "lat": 38.4872, "lon": 106.2309,
         "calibration": calibration()})).ground  # fmt: skip
    scorer = SceneScorer(ground=ground)
    frames = cycle(dets)

    def step() -> float:
        d = next(frames)
        cues = measure(flow, [scorer.config.grid], moving_px=0.5, min_moving=50, dets=d,
                       ground=ground, dt=0.1)  # fmt: skip
        return scorer.score(cues)[0]

    benchmark.extra_info.update(
        stage="anomaly", impl="shouwang", part="scene_cues", tracks=N_TRACKS
    )
    benchmark.pedantic(step, rounds=300, warmup_rounds=10)
    assert scorer.typical_person is not None


@pytest.mark.parametrize("size", [(240, 360), (576, 768)])
def test_bench_scene_score(benchmark: Any, size: tuple[int, int]) -> None:
    # Real texture moving: the walkway test scene (flow on pure noise is not typical).
    frames = cycle(walkway(40, 10, 30, size))
    scorer = SceneScorer()
    clock = [0.0]

    def step() -> float:
        clock[0] += 0.1
        return scorer.update(next(frames), clock[0]).score

    benchmark.pedantic(step, rounds=40, warmup_rounds=2)


def test_bench_tamper_576p(benchmark: Any) -> None:
    rng = np.random.default_rng(0)
    frames = cycle([rng.integers(0, 255, (576, 768, 3), dtype=np.uint8) for _ in range(4)])
    tamper = TamperDetector()
    clock = [0.0]

    def step() -> int:
        clock[0] += 0.1
        return len(tamper.update(next(frames), clock[0]))

    benchmark.pedantic(step, rounds=100, warmup_rounds=2)
