"""Cost of the anomaly stage per frame: the rule engine with 50 active tracks.

Run for figures with:
    .venv/bin/python -m pytest tests/bench/test_bench_anomaly.py --benchmark-enable
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import cycle
from typing import Any

import numpy as np
import pytest

from detectors.detections import Detections
from pipeline.anomaly import RuleEngine
from pipeline.anomaly.scene import SceneScorer
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
]


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
         "calibration": calibration(), "zones": ZONES, "rules": ALL_RULES}
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

    benchmark.extra_info.update(stage="anomaly", impl="shouwang", tracks=N_TRACKS)
    benchmark.pedantic(step, rounds=600, warmup_rounds=20)
    assert len(engine.tracks) == N_TRACKS


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
