"""Fall, abandoned object and vehicle-in-pedestrian-zone on tracks with known metric geometry.

The test camera looks down a 40 m wide, 60 m deep stretch of ground: the image row
y = 600 spans the 40 m in 800 px (20 px per metre), the row y = 100 in 200 px (5 px per
metre), so the same person is four times smaller far away. Boxes are drawn from sizes in
metres with that scale, which is what a real detector sees through perspective.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pipeline.anomaly import AnomalyEvent, RuleEngine
from shouwang.config import Camera
from shouwang.geo import LocalPlane
from tests.anomaly.tracks import LAT0, LON0, NOON, Path, frames

BICYCLE, CAR, BAG = 1, 2, 28
NEAR, FAR = 590.0, 110.0  # image rows of the ground points


def scale(y: float) -> float:
    """Pixels per metre along a row: the trapezoid's width at row y over its 40 m."""
    return (200 + (y - 100) * 600 / 500) / 40


def calibration() -> dict[str, Any]:
    plane = LocalPlane(LAT0, LON0)
    pairs = [((0, 600), (0, 0)), ((800, 600), (40, 0)), ((500, 100), (40, 60)),
             ((300, 100), (0, 60)), ((400, 350), (20, 0))]  # fmt: skip
    pairs = pairs[:4]
    out = []
    for (px, py), (east, north) in pairs:
        lat, lon = plane.to_latlon(east, north)
        out.append({"pixel": [px, py], "lat": float(lat), "lon": float(lon)})
    return {"points": out}


ZONES = [
    {"id": "all", "kind": "watch", "polygon": [[0, 600], [800, 600], [500, 100], [300, 100]]},
    {"id": "walk", "kind": "pedestrian", "polygon": [[300, 300], [500, 300], [560, 600], [240, 600]]},
]  # fmt: skip


def camera(rule: dict[str, Any], calibrated: bool) -> Camera:
    data: dict[str, Any] = {"id": "cam", "compound": "c", "url": "f.mp4", "lat": LAT0,
                            "lon": LON0, "zones": ZONES, "rules": [{"id": "r1", **rule}]}  # fmt: skip
    if calibrated:
        data["calibration"] = calibration()
    return Camera.model_validate(data)


def body(tid: int, x: float, y: float, keys: list[tuple[float, float, float]]) -> Path:
    """A person at ground point (x, y); keys (t, width_m, height_m) of the box in metres."""
    s = scale(y)
    return Path(tid, 0, [(t, x, y, w * s, h * s) for t, w, h in keys])


def obj(tid: int, cls: int, keys: list[tuple[float, float, float]], size_m: float = 0.5) -> Path:
    """An object through keyframes (t, x, y); its box is ``size_m`` at its ground point."""
    return Path(tid, cls, [(t, x, y, size_m * scale(y), size_m * scale(y)) for t, x, y in keys])


def run(rule: dict[str, Any], paths: list[Path], duration: float, calibrated: bool = True) -> list[AnomalyEvent]:  # fmt: skip
    engine = RuleEngine(camera(rule, calibrated))
    image = np.zeros((600, 800, 3), np.uint8)
    events: list[AnomalyEvent] = []
    for t, dets in frames(paths, duration, 5.0):
        events.extend(engine.update(dets, NOON + t, image))
    return events


STAND, LIE, SIT = (0.5, 1.7), (1.7, 0.4), (0.6, 1.0)
# A fall: standing 0-2 s, down within 0.4 s, then lying still.
FALL = [(0, *STAND), (2, *STAND), (2.4, *LIE), (10, *LIE)]
# The same body lying along the camera's view axis: its box narrows, it stays taller
# than wide, so the aspect-ratio fallback cannot see it; in metres it is 0.6 m high.
FALL_ALONG = [(0, *STAND), (2, *STAND), (2.4, 0.45, 0.6), (10, 0.45, 0.6)]

# (case, rule, paths, duration, calibrated, events, detail key, (lo, hi) of that value)
FALLS: list[tuple[str, dict[str, Any], list[Path], float, bool, int, str | None, Any]] = [
    ("near person falls", {}, [body(1, 400, NEAR, FALL)], 10, True, 1, "height_m", (0.35, 0.45)),
    ("far person falls: same metres, 4x fewer pixels", {}, [body(1, 400, FAR, FALL)], 10, True,
     1, "height_m", (0.35, 0.45)),
    ("falls along the view axis: metres see it", {}, [body(1, 400, NEAR, FALL_ALONG)], 10, True,
     1, "height_m", (0.55, 0.65)),
    ("falls along the view axis: aspect fallback misses it", {}, [body(1, 400, NEAR, FALL_ALONG)],
     10, False, 0, None, None),
    ("uncalibrated fallback still sees a sideways fall", {}, [body(1, 400, NEAR, FALL)], 10, False,
     1, "aspect", (3.0, 5.0)),
    ("sits down (1.0 m): not down", {}, [body(1, 400, NEAR, [(0, *STAND), (2, *STAND),
     (2.4, *SIT), (10, *SIT)])], 10, True, 0, None, None),
    ("lies down slowly over 12 s", {}, [body(1, 400, NEAR, [(0, *STAND), (2, *STAND),
     (14, *LIE), (22, *LIE)])], 22, True, 0, None, None),
    ("gets up after 1 s", {"still_seconds": 3}, [body(1, 400, NEAR, [(0, *STAND), (2, *STAND),
     (2.4, *LIE), (3.4, *LIE), (3.8, *STAND), (10, *STAND)])], 10, True, 0, None, None),
    ("down since first seen", {}, [body(1, 400, NEAR, [(0, *LIE), (10, *LIE)])], 10, True, 0,
     None, None),
    ("walks past, far and near", {}, [body(1, 400, FAR, [(0, *STAND), (10, *STAND)]),
     body(2, 300, NEAR, [(0, *STAND), (10, *STAND)])], 10, True, 0, None, None),
    ("falls, then crawls 2 m", {}, [Path(1, 0, [(0, 400, NEAR, 10, 34), (2, 400, NEAR, 10, 34),
     (2.4, 400, NEAR, 34, 8), (10, 440, NEAR, 34, 8)])], 10, True, 0, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "paths", "duration", "calibrated", "n", "key", "expected"),
    [pytest.param(*c[1:], id=c[0]) for c in FALLS],
)
def test_fall_in_metres(
    rule: dict[str, Any],
    paths: list[Path],
    duration: float,
    calibrated: bool,
    n: int,
    key: str | None,
    expected: Any,
) -> None:
    events = run({"type": "fall", "zone": "all", **rule}, paths, duration, calibrated)
    assert len(events) == n, [e.describe() for e in events]
    if key is not None:
        lo, hi = expected
        assert lo <= events[0].detail[key] <= hi, events[0].detail


def owner_leaves(y: float, to_x: float) -> list[Path]:
    """A bag put down at (400, y) at t = 0; its owner walks to (to_x, y) by t = 3 and stays."""
    s = scale(y)
    owner = Path(1, 0, [(0, 410, y, 0.5 * s, 1.7 * s), (3, to_x, y, 0.5 * s, 1.7 * s),
                        (30, to_x, y, 0.5 * s, 1.7 * s)])  # fmt: skip
    return [owner, obj(2, BAG, [(0, 400, y), (30, 400, y)])]


ABANDON = {"type": "abandoned_object", "zone": "all", "seconds": 10}
# (case, paths, calibrated, events, detail key, (lo, hi))
ABANDONED: list[tuple[str, list[Path], bool, int, str | None, Any]] = [
    ("near: owner 5 m away (100 px)", owner_leaves(NEAR, 400 + 5 * scale(NEAR)), True, 1,
     "nearest_person_m", (4.8, 5.2)),
    ("near: owner 2 m away stays with it", owner_leaves(NEAR, 400 + 2 * scale(NEAR)), True, 0,
     None, None),
    ("far: owner 10 m away (55 px) is gone", owner_leaves(FAR, 400 + 10 * scale(FAR)), True, 1,
     "nearest_person_m", (9.5, 10.5)),
    ("far: pixel fallback thinks 55 px is near", owner_leaves(FAR, 400 + 10 * scale(FAR)), False,
     0, None, None),
    ("near: pixel fallback, owner 200 px away", owner_leaves(NEAR, 600), False, 1,
     "nearest_person_px", (195, 205)),
    ("far: bag jitters 0.2 m", [obj(2, BAG, [(0, 400, FAR), (15, 401, FAR), (30, 400, FAR)])],
     True, 1, None, None),
    ("far: bag carried 1 m/s", [obj(2, BAG, [(0, 400, FAR), (30, 400 + 30 * scale(FAR), FAR)])],
     True, 0, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("paths", "calibrated", "n", "key", "expected"),
    [pytest.param(*c[1:], id=c[0]) for c in ABANDONED],
)
def test_abandoned_object_in_metres(
    paths: list[Path], calibrated: bool, n: int, key: str | None, expected: Any
) -> None:
    events = run(ABANDON, paths, 30, calibrated)
    assert len(events) == n, [e.describe() for e in events]
    if key is not None:
        lo, hi = expected
        assert lo <= events[0].detail[key] <= hi, events[0].detail


VEHICLE = {"type": "vehicle_in_zone", "zone": "walk"}
# (case, paths, duration, events)
VEHICLES: list[tuple[str, list[Path], float, int]] = [
    ("bicycle rides along the walkway", [obj(1, BICYCLE, [(0, 400, 590), (6, 400, 310)], 1.7)],
     6, 1),
    ("car drives past beyond the walkway", [obj(1, CAR, [(0, 100, 200), (6, 700, 200)], 4)], 6, 0),
    ("a person walks on it", [body(1, 400, 500, [(0, *STAND), (6, *STAND)])], 6, 0),
    ("a bicycle seen for 0.4 s (detector flicker)", [obj(1, BICYCLE, [(0, 400, 500),
     (0.4, 400, 500)], 1.7)], 6, 0),
    ("two motorbikes", [obj(1, 3, [(0, 380, 500), (4, 380, 400)], 2),
     obj(2, 3, [(0, 420, 500), (4, 420, 400)], 2)], 4, 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("paths", "duration", "n"), [pytest.param(*c[1:], id=c[0]) for c in VEHICLES]
)
def test_vehicle_in_pedestrian_zone(paths: list[Path], duration: float, n: int) -> None:
    events = run(VEHICLE, paths, duration)
    assert len(events) == n, [e.describe() for e in events]
    assert all(e.kind == "vehicle_in_zone" and e.zone == "walk" for e in events)


@pytest.mark.parametrize(
    ("y", "expected"), [(NEAR, scale(NEAR)), (FAR, scale(FAR)), (350.0, scale(350.0))]
)
def test_image_scale_from_the_calibration(y: float, expected: float) -> None:
    from pipeline.anomaly.geometry import GroundPlane
    from shouwang.config import Calibration

    plane = GroundPlane.from_calibration(Calibration.model_validate(calibration()))
    got = plane.pixels_per_metre(np.array([[400.0, y]]))
    assert got[0] == pytest.approx(expected, rel=0.01)


def test_a_bicycle_on_the_walkway_becomes_an_alert_finding() -> None:
    from pipeline.anomaly.scene import SceneScorer
    from pipeline.stages import AnomalyStage
    from streams.frame import Frame

    engine = RuleEngine(camera(VEHICLE, True))
    scene = SceneScorer()
    stage = AnomalyStage(engine, {0: "person", 1: "bicycle"}, scene=scene)
    assert scene.ground is engine.ground  # the scene score measures in m/s here too
    image = np.zeros((600, 800, 3), np.uint8)
    kinds = []
    bike = [obj(4, BICYCLE, [(0, 400, 590), (3, 400, 400)], 1.7)]
    for t, dets in frames(bike, 3, 5.0):
        found = stage.update(Frame("cam", round(t * 5), None, NOON + t, image), dets)
        kinds += [(f.kind, f.severity, f.zone, f.track_id) for f in found]
    assert kinds == [("vehicle.pedestrian_zone", "medium", "walk", 4)]
