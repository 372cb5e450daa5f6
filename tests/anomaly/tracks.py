"""Constructed track sequences for rule tests: piecewise-linear keyframed boxes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from detectors.detections import Detections
from pipeline.anomaly import AnomalyEvent, RuleEngine
from shouwang.config import Camera
from shouwang.geo import LocalPlane

TZ = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=TZ).timestamp()
NIGHT = datetime(2026, 6, 1, 23, 0, tzinfo=TZ).timestamp()
LAT0, LON0 = 38.4872, 106.2309
M_PER_PX = 0.1  # the test calibration: 10 px per metre, x east, y south


@dataclass(frozen=True)
class Path:
    """One track: keyframes (t, x, y, w, h) of its ground point (bottom centre) and size."""

    tid: int
    cls: int
    keys: Sequence[tuple[float, float, float, float, float]]

    def at(self, t: float) -> tuple[float, float, float, float] | None:
        ts = [k[0] for k in self.keys]
        if t < ts[0] - 1e-9 or t > ts[-1] + 1e-9:
            return None
        vals = [float(np.interp(t, ts, [k[j] for k in self.keys])) for j in range(1, 5)]
        return vals[0], vals[1], vals[2], vals[3]


def person(tid: int, *keys: tuple[float, float, float]) -> Path:
    """A standing person (40 x 100 px) through keyframes (t, x, y)."""
    return Path(tid, 0, [(t, x, y, 40.0, 100.0) for t, x, y in keys])


def thing(
    tid: int, cls: int, *keys: tuple[float, float, float], w: float = 40, h: float = 40
) -> Path:
    """An object of class ``cls`` through keyframes (t, x, y)."""
    return Path(tid, cls, [(t, x, y, w, h) for t, x, y in keys])


def frames(
    paths: Sequence[Path], duration: float, fps: float = 5.0
) -> list[tuple[float, Detections]]:
    """Detections at ``fps`` from 0 to ``duration`` seconds (times relative)."""
    out = []
    for k in range(round(duration * fps) + 1):
        t = k / fps
        rows = []
        for p in paths:
            s = p.at(t)
            if s is not None:
                x, y, w, h = s
                rows.append((p.tid, p.cls, x - w / 2, y - h, x + w / 2, y))
        if rows:
            arr = np.array(rows, dtype=np.float64)
            dets = Detections(
                xyxy=arr[:, 2:6].astype(np.float32),
                confidence=np.full(len(rows), 0.9),
                class_id=arr[:, 1].astype(np.int64),
                tracker_id=arr[:, 0].astype(np.int64),
            )
        else:
            dets = Detections.empty()
        out.append((t, dets))
    return out


def calibration() -> dict[str, Any]:
    """A calibration where x is east and y south, ``M_PER_PX`` metres per pixel."""
    plane = LocalPlane(LAT0, LON0)
    pts = []
    for px, py in ((0, 0), (800, 0), (800, 600), (0, 600)):
        lat, lon = plane.to_latlon(px * M_PER_PX, -py * M_PER_PX)
        pts.append({"pixel": [px, py], "lat": float(lat), "lon": float(lon)})
    return {"points": pts}


ZONES: list[dict[str, Any]] = [
    {"id": "yard", "kind": "watch", "polygon": [[100, 100], [300, 100], [300, 300], [100, 300]]},
    # A vertical line drawn downwards: its right-hand side is x < 200 on the screen.
    {"id": "gate", "kind": "line", "polygon": [[200, 50], [200, 350]]},
]


def camera(rule: dict[str, Any], *, calibrated: bool = False) -> Camera:
    """A camera with the test zones and one rule (``id`` defaults to ``r1``)."""
    data: dict[str, Any] = {
        "id": "cam",
        "compound": "c",
        "url": "file.mp4",
        "lat": LAT0,
        "lon": LON0,
        "zones": ZONES,
        "rules": [{"id": "r1", **rule}],
    }
    if calibrated:
        data["calibration"] = calibration()
    return Camera.model_validate(data)


def run(
    rule: dict[str, Any],
    paths: Sequence[Path],
    duration: float,
    *,
    start: float = NOON,
    calibrated: bool = False,
    fps: float = 5.0,
) -> list[AnomalyEvent]:
    """Every event the rule raises on the constructed sequence."""
    engine = RuleEngine(camera(rule, calibrated=calibrated))
    image = np.zeros((400, 800, 3), np.uint8)
    events: list[AnomalyEvent] = []
    for t, dets in frames(paths, duration, fps):
        events.extend(engine.update(dets, start + t, image))
    return events
