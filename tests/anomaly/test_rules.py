"""Each rule on constructed track sequences, including the cases that must not fire."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors.detections import Detections
from tests.anomaly.tracks import NIGHT, NOON, Path, person, run, thing

CAR, BAG = 2, 28  # COCO: car, suitcase

INSIDE, OUTSIDE = (200.0, 200.0), (500.0, 200.0)


def lie(tid: int, x: float, y: float, t_fall: float, t_end: float) -> Path:
    """A person standing at (x, y), falling at ``t_fall`` (box turns 100x40), lying still."""
    return Path(
        tid,
        0,
        [
            (0, x, y, 40, 100),
            (t_fall, x, y, 40, 100),
            (t_fall + 0.4, x, y, 100, 40),
            (t_end, x, y, 100, 40),
        ],
    )


# (case, rule, paths, duration s, run kwargs, events expected, (value lo, hi) or None)
CASES: list[tuple[str, dict[str, Any], list[Path], float, dict[str, Any], int, Any]] = [
    # --- intrusion
    ("intrusion: walks in", {"type": "intrusion", "zone": "yard"},
     [person(1, (0, 500, 200), (4, 200, 200))], 6, {}, 1, None),
    ("intrusion: stays outside", {"type": "intrusion", "zone": "yard"},
     [person(1, (0, 500, 50), (6, 50, 50))], 6, {}, 0, None),
    ("intrusion: wrong class", {"type": "intrusion", "zone": "yard", "classes": ["person"]},
     [thing(1, CAR, (0, *INSIDE), (6, *INSIDE))], 6, {}, 0, None),
    ("intrusion: outside schedule", {"type": "intrusion", "zone": "yard", "schedule": "22:00-06:00"},
     [person(1, (0, *INSIDE), (6, *INSIDE))], 6, {"start": NOON}, 0, None),
    ("intrusion: inside schedule", {"type": "intrusion", "zone": "yard", "schedule": "22:00-06:00"},
     [person(1, (0, *INSIDE), (6, *INSIDE))], 6, {"start": NIGHT}, 1, None),
    ("intrusion: too short for min_seconds", {"type": "intrusion", "zone": "yard", "min_seconds": 3},
     [person(1, (0, *INSIDE), (2, *INSIDE))], 2, {}, 0, None),
    ("intrusion: one incident is one event", {"type": "intrusion", "zone": "yard", "cooldown_s": 10},
     [person(1, (0, *INSIDE), (60, *INSIDE))], 60, {}, 1, None),
    ("intrusion: re-entry after cooldown", {"type": "intrusion", "zone": "yard", "cooldown_s": 5},
     [person(1, (0, *INSIDE), (2, *INSIDE), (3, *OUTSIDE), (9, *OUTSIDE), (10, *INSIDE))], 11, {}, 2, None),
    ("intrusion: re-entry within cooldown", {"type": "intrusion", "zone": "yard", "cooldown_s": 30},
     [person(1, (0, *INSIDE), (2, *INSIDE), (3, *OUTSIDE), (9, *OUTSIDE), (10, *INSIDE))], 11, {}, 1, None),
    ("intrusion: two intruders", {"type": "intrusion", "zone": "yard"},
     [person(1, (0, *INSIDE), (3, *INSIDE)), person(2, (0, 150, 150), (3, 150, 150))], 3, {}, 2, None),
    # --- loitering
    ("loitering: 15 s in zone", {"type": "loitering", "zone": "yard", "seconds": 10},
     [person(1, (0, 150, 150), (15, 250, 250))], 15, {}, 1, (10, 10.5)),
    ("loitering: too short", {"type": "loitering", "zone": "yard", "seconds": 10},
     [person(1, (0, 150, 150), (8, 250, 250))], 8, {}, 0, None),
    ("loitering: leaves and comes back resets", {"type": "loitering", "zone": "yard", "seconds": 10},
     [person(1, (0, *INSIDE), (6, *INSIDE), (7, *OUTSIDE), (8, *OUTSIDE), (9, *INSIDE), (16, *INSIDE))],
     16, {}, 0, None),
    ("loitering: a car is not a loiterer", {"type": "loitering", "zone": "yard", "seconds": 10},
     [thing(1, CAR, (0, *INSIDE), (15, *INSIDE))], 15, {}, 0, None),
    # --- crowding
    ("crowding: 3 for 3 s", {"type": "crowding", "zone": "yard", "count": 3, "seconds": 2},
     [person(k, (0, 120 + 40 * k, 200), (3, 120 + 40 * k, 200)) for k in range(3)], 3, {}, 1, (3, 3)),
    ("crowding: 2 is below count", {"type": "crowding", "zone": "yard", "count": 3, "seconds": 2},
     [person(k, (0, 120 + 40 * k, 200), (10, 120 + 40 * k, 200)) for k in range(2)], 10, {}, 0, None),
    ("crowding: 3 for too short", {"type": "crowding", "zone": "yard", "count": 3, "seconds": 2},
     [person(k, (0, 120 + 40 * k, 200), (1, 120 + 40 * k, 200)) for k in range(3)], 1, {}, 0, None),
    ("crowding: third one outside", {"type": "crowding", "zone": "yard", "count": 3, "seconds": 2},
     [person(0, (0, 150, 200), (5, 150, 200)), person(1, (0, 250, 200), (5, 250, 200)),
      person(2, (0, *OUTSIDE), (5, *OUTSIDE))], 5, {}, 0, None),
    # --- line crossing (gate: x = 200 from y 50 to 350; to_left = x rising)
    ("line: any direction", {"type": "line_crossing", "zone": "gate"},
     [person(1, (0, 100, 200), (4, 300, 200))], 4, {}, 1, (1, 1)),
    ("line: wrong way fires", {"type": "line_crossing", "zone": "gate", "direction": "to_left"},
     [person(1, (0, 100, 200), (4, 300, 200))], 4, {}, 1, None),
    ("line: right way does not", {"type": "line_crossing", "zone": "gate", "direction": "to_right"},
     [person(1, (0, 100, 200), (4, 300, 200))], 4, {}, 0, None),
    ("line: reverse right way fires", {"type": "line_crossing", "zone": "gate", "direction": "to_right"},
     [person(1, (0, 300, 200), (4, 100, 200))], 4, {}, 1, None),
    ("line: parallel walk", {"type": "line_crossing", "zone": "gate"},
     [person(1, (0, 150, 60), (4, 150, 340))], 4, {}, 0, None),
    ("line: passes beyond the segment's end", {"type": "line_crossing", "zone": "gate"},
     [person(1, (0, 100, 400), (4, 300, 400))], 4, {}, 0, None),
    ("line: wrong class", {"type": "line_crossing", "zone": "gate", "classes": ["car"]},
     [person(1, (0, 100, 200), (4, 300, 200))], 4, {}, 0, None),
    ("line: back and forth within cooldown", {"type": "line_crossing", "zone": "gate", "cooldown_s": 30},
     [person(1, (0, 100, 200), (2, 300, 200), (4, 100, 200))], 4, {}, 1, None),
    # --- running (10 px per metre: 6 m/s = 60 px/s)
    ("running: 6 m/s for 3 s", {"type": "running", "zone": "yard", "speed_mps": 4, "min_seconds": 1},
     [person(1, (0, 110, 150), (3, 290, 150))], 3, {"calibrated": True}, 1, (5.5, 6.5)),
    ("running: walking 1.5 m/s", {"type": "running", "zone": "yard", "speed_mps": 4},
     [person(1, (0, 110, 150), (6, 200, 150))], 6, {"calibrated": True}, 0, None),
    ("running: burst too short", {"type": "running", "zone": "yard", "speed_mps": 4, "min_seconds": 2},
     [person(1, (0, 110, 150), (1.5, 200, 150))], 1.5, {"calibrated": True}, 0, None),
    ("running: fast outside the zone", {"type": "running", "zone": "yard", "speed_mps": 4},
     [person(1, (0, 400, 150), (3, 580, 150))], 3, {"calibrated": True}, 0, None),
    ("running: a car is not running", {"type": "running", "zone": "yard", "speed_mps": 4},
     [thing(1, CAR, (0, 110, 150), (3, 290, 150))], 3, {"calibrated": True}, 0, None),
    # --- fall
    ("fall: upright, falls, lies still", {"type": "fall", "zone": "yard", "still_seconds": 3},
     [lie(1, 200, 200, 2, 8)], 8, {}, 1, (3, 3.5)),
    ("fall: lying from first sight", {"type": "fall", "zone": "yard", "still_seconds": 3},
     [Path(1, 0, [(0, 200, 200, 100, 40), (8, 200, 200, 100, 40)])], 8, {}, 0, None),
    ("fall: gets up too soon", {"type": "fall", "zone": "yard", "still_seconds": 3},
     [Path(1, 0, [(0, 200, 200, 40, 100), (2, 200, 200, 40, 100), (2.4, 200, 200, 100, 40),
                  (4, 200, 200, 100, 40), (4.4, 200, 200, 40, 100), (8, 200, 200, 40, 100)])],
     8, {}, 0, None),
    ("fall: lying but moving", {"type": "fall", "zone": "yard", "still_seconds": 3},
     [Path(1, 0, [(0, 120, 200, 40, 100), (1, 120, 200, 40, 100), (1.4, 120, 200, 100, 40),
                  (8, 290, 200, 100, 40)])], 8, {}, 0, None),
    ("fall: a suitcase on its side", {"type": "fall", "zone": "yard"},
     [Path(1, BAG, [(0, 200, 200, 40, 100), (2, 200, 200, 40, 100), (2.4, 200, 200, 100, 40),
                    (8, 200, 200, 100, 40)])], 8, {}, 0, None),
    # --- abandoned object (owner walks away at t=2)
    ("abandoned: owner leaves", {"type": "abandoned_object", "zone": "yard", "seconds": 10},
     [thing(1, BAG, (0, *INSIDE), (20, *INSIDE)), person(2, (0, 220, 200), (2, 220, 200), (6, 700, 200))],
     20, {}, 1, (10, 10.5)),
    ("abandoned: owner stays", {"type": "abandoned_object", "zone": "yard", "seconds": 10},
     [thing(1, BAG, (0, *INSIDE), (20, *INSIDE)), person(2, (0, 240, 200), (20, 240, 200))], 20, {}, 0, None),
    ("abandoned: carried along", {"type": "abandoned_object", "zone": "yard", "seconds": 10},
     [thing(1, BAG, (0, 110, 200), (20, 290, 210))], 20, {}, 0, None),
    ("abandoned: not long enough", {"type": "abandoned_object", "zone": "yard", "seconds": 10},
     [thing(1, BAG, (0, *INSIDE), (6, *INSIDE))], 6, {}, 0, None),
    ("abandoned: a parked car is no bag", {"type": "abandoned_object", "zone": "yard", "seconds": 10},
     [thing(1, CAR, (0, *INSIDE), (20, *INSIDE))], 20, {}, 0, None),
    # --- no parking
    ("no_parking: stopped 15 s", {"type": "no_parking", "zone": "yard", "seconds": 10},
     [thing(1, CAR, (0, 110, 200), (2, 200, 200), (17, 202, 200))], 17, {}, 1, (10, 10.5)),
    ("no_parking: drives through", {"type": "no_parking", "zone": "yard", "seconds": 10},
     [thing(1, CAR, (0, 110, 200), (20, 290, 200))], 20, {}, 0, None),
    ("no_parking: a person standing", {"type": "no_parking", "zone": "yard", "seconds": 10},
     [person(1, (0, *INSIDE), (20, *INSIDE))], 20, {}, 0, None),
    ("no_parking: short stop", {"type": "no_parking", "zone": "yard", "seconds": 10},
     [thing(1, CAR, (0, 110, 200), (2, 200, 200), (7, 200, 200), (9, 290, 200))], 9, {}, 0, None),
    ("no_parking: stopped outside the lane", {"type": "no_parking", "zone": "yard", "seconds": 10},
     [thing(1, CAR, (0, *OUTSIDE), (20, *OUTSIDE))], 20, {}, 0, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "paths", "duration", "kwargs", "n_events", "value"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_rule_on_tracks(
    rule: dict[str, Any],
    paths: list[Path],
    duration: float,
    kwargs: dict[str, Any],
    n_events: int,
    value: tuple[float, float] | None,
) -> None:
    events = run(rule, paths, duration, **kwargs)
    assert len(events) == n_events, [e.describe() for e in events]
    for e in events:
        assert e.kind == rule["type"]
        assert e.camera == "cam" and e.rule == "r1" and e.zone == rule["zone"]
        assert e.frame is not None and e.boxes.shape == (len(e.track_ids), 4)
    if value is not None:
        lo, hi = value
        assert lo <= events[0].value <= hi, events[0].describe()


def test_event_units_and_proof() -> None:
    events = run(
        {"type": "loitering", "zone": "yard", "seconds": 2},
        [person(7, (0, 200, 200), (3, 200, 200))],
        3,
    )
    (e,) = events
    assert (e.unit, e.track_ids, e.describe()) == (
        "seconds",
        (7,),
        "loitering yard track 7: 2.0 seconds",
    )
    np.testing.assert_allclose(e.boxes[0], [180, 100, 220, 200])
    assert e.jpeg()[:2] == b"\xff\xd8"


def test_crossing_direction_is_reported() -> None:
    (e,) = run(
        {"type": "line_crossing", "zone": "gate"}, [person(1, (0, 300, 200), (2, 100, 200))], 2
    )
    assert e.detail["direction"] == "to_right"


def test_untracked_boxes_are_ignored() -> None:
    from detectors.detections import Detections
    from pipeline.anomaly import RuleEngine
    from tests.anomaly.tracks import camera

    engine = RuleEngine(camera({"type": "intrusion", "zone": "yard"}))
    dets = Detections(
        xyxy=np.array([[180, 100, 220, 200]]), confidence=np.array([0.9]), class_id=np.array([0])
    )
    assert engine.update(dets, NOON, None) == []


def test_forgotten_track_rearms() -> None:
    # The same id comes back after the engine forgot it (5 s absent): a new incident.
    events = run(
        {"type": "intrusion", "zone": "yard", "cooldown_s": 0},
        [person(1, (0, *INSIDE), (1, *INSIDE)), person(1, (8, *INSIDE), (9, *INSIDE))],
        9,
    )
    assert [round(e.timestamp - NOON) for e in events] == [0, 8]


def test_ground_zone_is_placed_through_the_calibration() -> None:
    from pipeline.anomaly import RuleEngine
    from pipeline.anomaly.geometry import zone_pixels
    from shouwang.config import Camera
    from shouwang.geo import LocalPlane
    from tests.anomaly.tracks import LAT0, LON0, M_PER_PX, calibration

    plane = LocalPlane(LAT0, LON0)
    square = [(100, 100), (300, 100), (300, 300), (100, 300)]
    latlon = [plane.to_latlon(x * M_PER_PX, -y * M_PER_PX) for x, y in square]
    camera = Camera.model_validate(
        {"id": "cam", "compound": "c", "url": "x.mp4", "lat": LAT0, "lon": LON0,
         "calibration": calibration(),
         "zones": [{"id": "yard", "kind": "watch", "polygon_latlon": [[float(a), float(b)] for a, b in latlon]}],
         "rules": [{"id": "r1", "type": "intrusion", "zone": "yard"}]}
    )  # fmt: skip
    np.testing.assert_allclose(zone_pixels(camera.zones[0], camera.calibration), square, atol=0.01)
    engine = RuleEngine(camera)
    inside_box = Detections(
        xyxy=np.array([[180, 100, 220, 200]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([0]),
        tracker_id=np.array([3]),
    )
    assert [e.track_ids for e in engine.update(inside_box, NOON, None)] == [(3,)]


def test_engine_builds_for_every_demo_camera(repo_root: Any) -> None:
    from pipeline.anomaly import RuleEngine
    from shouwang.config import load_site

    site = load_site(repo_root / "configs" / "demo-site.yaml")
    engines = [RuleEngine(c, timezone=site.timezone) for c in site.cameras if c.rules]
    assert sum(len(e.checks) for e in engines) == sum(len(c.rules) for c in site.cameras)
    # A person standing on the b3 lawn at 23:00 Beijing time is a night intrusion.
    b3 = next(e for e in engines if e.camera.id == "b3-entrance")
    dets = Detections(
        xyxy=np.array([[300, 500, 340, 600]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([0]),
        tracker_id=np.array([1]),
    )
    assert [e.rule for e in b3.update(dets, NIGHT, None)] == ["lawn-night"]
    assert b3.update(dets, NOON + 86400, None) == []  # noon next day: schedule closed
