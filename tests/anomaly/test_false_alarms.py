"""The false-alarm run on real footage with no incident, and its bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detectors.detections import Detections
from pipeline.anomaly.false_alarms import CachedDetector, summarise
from shouwang.cli.main import app
from shouwang.config import load_site

PETS = "video/vtest_opencv_pets2009_s2l1_view001.avi"


@pytest.mark.parametrize("config", ["configs/eval/pets09.yaml", "configs/eval/demo.yaml"])
def test_false_alarm_configs_are_valid(repo_root: Path, config: str) -> None:
    site = load_site(repo_root / config)
    types = {r.type for c in site.cameras for r in c.rules}
    assert {"fall", "abandoned_object", "vehicle_in_zone"} <= types


def test_cached_detector_replays_what_it_saved(tmp_path: Path) -> None:
    frames = [
        Detections(np.array([[1, 2, 3, 4]]), np.array([0.9]), np.array([2])),
        Detections.empty(),
        Detections(np.array([[0, 0, 5, 5], [1, 1, 2, 2]]), np.array([0.5, 0.6]), np.array([0, 1])),
    ]
    feed = iter(frames)
    first = CachedDetector(lambda image: next(feed), tmp_path / "v.npz")
    image = np.zeros((4, 4, 3), np.uint8)
    assert [len(first(image)) for _ in frames] == [1, 0, 2]
    first.save()
    again = CachedDetector(None, tmp_path / "v.npz")
    got = [again(image) for _ in frames]
    assert [len(d) for d in got] == [1, 0, 2]
    assert got[2].class_id.tolist() == [0, 1] and got[0].xyxy.tolist() == [[1, 2, 3, 4]]


def test_summary_adds_up_per_rule_type() -> None:
    runs = [
        {
            "camera_hours": 0.5,
            "rules": [{"type": "fall", "events": 1}, {"type": "scene", "events": 2}],
        },
        {"camera_hours": 0.5, "rules": [{"type": "fall", "events": 0}]},
    ]
    got = {r["type"]: (r["events"], r["per_camera_hour"]) for r in summarise(runs)}
    assert got == {"fall": (1, 1.0), "scene": (2, 2.0)}


@pytest.mark.data
@pytest.mark.slow
def test_pets_footage_raises_no_fall_or_abandoned_object(
    shared_data: Path, repo_root: Path, tmp_path: Path
) -> None:
    """Real footage, nothing happens: 8 s of PETS09 with the calibrated camera's rules."""
    out = tmp_path / "fa.json"
    args = ["eval", "false-alarms", str(repo_root / "configs/eval/pets09.yaml"),
            "--footage", f"pets09={shared_data / PETS}", "--max-seconds", "8",
            "--no-scene", "--json", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = json.loads(out.read_text())["footage"]
    assert run["calibrated"] and run["analysed_frames"] == 80
    events = {r["type"]: r["events"] for r in run["rules"]}
    assert events["fall"] == 0 and events["abandoned_object"] == 0, run["events"]
    assert events["vehicle_in_zone"] == 0, run["events"]
