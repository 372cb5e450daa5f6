"""The camera stages with their real engines: rules → findings → the alert subjects."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from alerts.model import PlateSubject, TrackSubject
from detectors.detections import Detections
from pipeline.anomaly import RuleEngine
from pipeline.stages import AnomalyStage, PlateStage
from shouwang.config import load_site
from shouwang.config.site import Camera
from streams.frame import Frame
from tests.e2e.conftest import write_site

NAMES = {0: "person", 2: "car"}
IMAGE = np.zeros((720, 1280, 3), np.uint8)


def camera(tmp_path: Path, direction: str) -> Camera:
    cam = {
        "id": "gate", "compound": "lijing", "url": "gate.mp4", "lat": 38.4871, "lon": 106.231,
        "zones": [
            {"id": "line", "kind": "line", "polygon": [[0, 400], [1279, 400]]},
            {"id": "roof", "kind": "intrusion", "polygon": [[0, 0], [400, 0], [400, 300], [0, 300]]},
        ],
        "rules": [
            {"id": "exit", "type": "line_crossing", "zone": "line", "direction": direction},
            {"id": "roof", "type": "intrusion", "zone": "roof", "classes": ["person"]},
        ],
    }  # fmt: skip
    return load_site(write_site(tmp_path, [cam])).cameras[0]


def one(box: list[float], cls: int = 2, tid: int = 7) -> Detections:
    return Detections(
        xyxy=np.array([box], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([cls]),
        tracker_id=np.array([tid]),
    )


def frame(t: float) -> Frame:
    return Frame("gate", int(t * 10), None, t, IMAGE)


@pytest.mark.parametrize(
    ("direction", "path", "expected"),
    [
        ("any", [350, 450], []),  # a counting line is not an alert
        ("to_right", [350, 450], ["line.wrong_way"]),  # downwards across a left→right line
        ("to_right", [450, 350], []),  # the allowed way
        ("to_left", [450, 350], ["line.wrong_way"]),
    ],
)
def test_line_crossings_alert_only_in_the_forbidden_direction(
    tmp_path: Path, direction: str, path: list[float], expected: list[str]
) -> None:
    stage = AnomalyStage(RuleEngine(camera(tmp_path, direction)), NAMES)
    kinds: list[str] = []
    for k, y in enumerate(path):
        kinds += [f.kind for f in stage.update(frame(100.0 + k), one([600, y - 50, 700, y]))]
    assert kinds == expected


def test_an_intrusion_becomes_a_finding_with_a_valid_track_subject(tmp_path: Path) -> None:
    stage = AnomalyStage(RuleEngine(camera(tmp_path, "any")), NAMES)
    (f,) = stage.update(frame(100.0), one([100, 100, 150, 250], cls=0, tid=3))
    assert (f.kind, f.severity, f.zone, f.track_id) == ("zone.intrusion", "high", "roof", 3)
    subject = TrackSubject.model_validate(f.subject)
    assert (subject.class_name, subject.rule) == ("person", "roof")
    assert f.box == (100.0, 100.0, 150.0, 250.0)


@pytest.mark.data
def test_a_blacklisted_plate_read_at_a_gate_is_one_finding_per_pass(
    tmp_path: Path, shared_data: Path
) -> None:
    from detectors.plates.lists import PlateList, PlateLists
    from detectors.plates.reader import PlateReader
    from detectors.plates.voting import PlateVoter

    with (shared_data / "plates" / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    row: dict[str, Any] = next(r for r in rows if r["subset"] == "special_types")
    image = cv2.imread(str(shared_data / "plates" / row["file"]))
    assert image is not None
    listed = tmp_path / "black.txt"
    listed.write_text(f"{row['plate_text']},test entry\n", encoding="utf-8")
    lists = PlateLists([PlateList.load(listed, id="blacklist", kind="blacklist")])
    stage = PlateStage(PlateReader(), PlateVoter, lists, ["blacklist"], gate=True, every_s=0)
    findings = []
    for k in range(3):
        f = Frame("gate", k, None, 100.0 + k * 0.2, np.asarray(image, dtype=np.uint8))
        findings += stage.update(f, Detections.empty())
    assert [f.kind for f in findings] == ["plate.blacklist"]
    subject = PlateSubject.model_validate(findings[0].subject)
    assert subject.plate == row["plate_text"] and subject.list_entry == row["plate_text"]
    assert subject.distance == 0 and subject.confidence > 0.5


def test_every_pass_at_a_gate_goes_to_the_access_log_even_without_a_list_hit(
    tmp_path: Path, shared_data: Path
) -> None:
    from detectors.plates.lists import PlateList, PlateLists
    from detectors.plates.reader import PlateReader
    from detectors.plates.voting import PlateVoter
    from pipeline.stages.plates import PassRead

    with (shared_data / "plates" / "labels.csv").open(encoding="utf-8") as fh:
        row: dict[str, Any] = next(r for r in csv.DictReader(fh) if r["subset"] == "special_types")
    image = cv2.imread(str(shared_data / "plates" / row["file"]))
    assert image is not None
    other = tmp_path / "black.txt"
    other.write_text("京Z99999\n", encoding="utf-8")
    lists = PlateLists([PlateList.load(other, id="blacklist", kind="blacklist")])
    reads: list[PassRead] = []
    stage = PlateStage(
        PlateReader(),
        PlateVoter,
        lists,
        ["blacklist"],
        gate=True,
        every_s=0,
        on_read=lambda _frame, read: reads.append(read),
    )
    findings = []
    for k in range(3):
        f = Frame("gate", k, None, 100.0 + k * 0.2, np.asarray(image, dtype=np.uint8))
        findings += stage.update(f, Detections.empty())
    assert findings == []
    assert [(r.text, r.camera_id, r.list_id) for r in reads] == [(row["plate_text"], "gate", None)]
    assert reads[0].box is not None and reads[0].captured_at == 100.4


def test_the_main_stream_gives_the_larger_picture_and_its_scale(tmp_path: Path) -> None:
    from pipeline.stages import MainStream
    from streams import SourceOptions, open_source
    from tests.streams.conftest import make_clip

    clip = make_clip(tmp_path / "main.mp4", 2, 640, 360)
    src = open_source("gate-main", str(clip), SourceOptions(realtime=True, loop=True))
    with src:
        main = MainStream(src, max_skew_s=5.0)
        for _ in range(50):
            if main.newest() is not None:
                break
            time.sleep(0.05)
        small = Frame("gate", 1, None, time.time(), np.zeros((180, 320, 3), np.uint8))
        image, scale = main.image_for(small)
        assert image.shape == (360, 640, 3) and scale == 2.0 and main.used == 1
        # a main frame too far in time from the detection frame is not used
        old = Frame("gate", 2, None, time.time() - 60, np.zeros((180, 320, 3), np.uint8))
        image, scale = main.image_for(old)
        assert image is old.image and scale == 1.0
