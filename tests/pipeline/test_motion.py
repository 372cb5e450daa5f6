"""Motion detection and the detect-only-when-something-moves gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.eval_mot import video_frames
from pipeline.motion import MotionConfig, MotionDetector, MotionGate

PETS = "video/vtest_opencv_pets2009_s2l1_view001.avi"


def _scene(x: int | None, noise: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[150:, :] = 140  # a floor
    if noise:
        frame = np.clip(frame + rng.integers(-noise, noise + 1, frame.shape), 0, 255).astype(
            np.uint8
        )
    if x is not None:
        frame[100:160, x : x + 20] = 230  # a bright walker
    return frame


def test_still_scene_with_sensor_noise_has_no_motion() -> None:
    md = MotionDetector()
    results = [md.detect(_scene(None, noise=6, seed=s)) for s in range(10)]
    assert not any(r.moving for r in results)


def test_moving_object_is_boxed_where_it_is() -> None:
    md = MotionDetector()
    md.detect(_scene(50))
    motion = md.detect(_scene(90))
    assert motion.moving and 0 < motion.fraction < 0.1
    x2, y2 = motion.boxes[:, 2].max(), motion.boxes[:, 3].max()
    assert motion.boxes[:, 0].min() <= 90 and x2 >= 110  # covers the walker's new place
    assert motion.boxes[:, 1].min() <= 100 and y2 >= 160
    assert 0 < motion.box_fraction < 0.2


def test_gate_runs_on_motion_and_keyframes_only() -> None:
    gate = MotionGate(MotionConfig(keyframe_seconds=1.0))
    reasons = []
    for f in range(30):
        x = 40 + 8 * (f - 20) if f >= 20 else None  # still for 2 s, then someone walks in
        reasons.append(gate.check(_scene(x), f / 10).reason)
    assert reasons[0] == "keyframe"
    assert reasons[1:10] == ["still"] * 9
    assert reasons[10] == "keyframe"
    assert set(reasons[21:]) == {"motion"}


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 3, 1), np.uint8),
    ],
    ids=["empty", "float", "4-d"],
)
def test_bad_frame_is_a_clear_error(frame: Any) -> None:
    with pytest.raises(ValueError, match="expected a non-empty uint8 image"):
        MotionDetector().detect(frame)


def test_grey_frames_are_accepted() -> None:
    md = MotionDetector()
    md.detect(_scene(None)[:, :, 0])
    assert md.detect(_scene(60)[:, :, 0]).moving


@pytest.mark.data
def test_people_walking_in_pets_are_motion(shared_data: Path) -> None:
    gate = MotionGate()
    decisions = [gate.check(f, i / 10) for i, f in enumerate(video_frames(shared_data / PETS, 30))]
    assert all(d.run for d in decisions)
    assert sum(d.reason == "motion" for d in decisions) >= 28
    mean_area = np.mean([d.motion.box_fraction for d in decisions[1:]])
    assert 0.01 < mean_area < 0.5  # a few walkers, not the whole frame
