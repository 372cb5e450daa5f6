"""Builders for test cameras (with a calibration from a known homography) and alerts."""

from __future__ import annotations

import math
import os
from typing import Any, cast

import numpy as np
import redis
from numpy.typing import NDArray

from alerts import keys
from alerts.consumer import parse_entry
from alerts.location import Locator
from alerts.model import Alert, AlertType, Severity, TrackSubject, utcnow
from shouwang.config.site import Camera, Compound
from shouwang.geo import LocalPlane, apply_homography

TEST_REDIS_URL = os.environ.get("SHOUWANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# A compound in Yinchuan; the ground plane's origin is its reference point.
LAT0, LON0 = 38.4872, 106.2309
COMPOUND = Compound(id="lijing", name="丽景湾小区", lat=LAT0, lon=LON0)
PLANE = LocalPlane(LAT0, LON0)


def pinhole_ground_to_image(
    height_m: float = 6.0,
    tilt_deg: float = 20.0,
    focal_px: float = 1100.0,
    heading_deg: float = 20.0,
) -> NDArray[np.float64]:
    """Homography ground (east, north) metres → pixels of a 1920x1080 camera at the origin.

    The camera stands at (0, 0) ``height_m`` up, looks along ``heading_deg`` (0 = north)
    tilted ``tilt_deg`` below the horizon: a real perspective mapping, not an affine one.
    """
    k = np.array([[focal_px, 0, 960], [0, focal_px, 540], [0, 0, 1]], dtype=np.float64)
    h, t = math.radians(heading_deg), math.radians(tilt_deg)
    fwd = np.array([math.sin(h) * math.cos(t), math.cos(h) * math.cos(t), -math.sin(t)])
    right = np.array([math.cos(h), -math.sin(h), 0.0])
    down = np.cross(fwd, right)
    r = np.vstack([right, down, fwd])  # world → camera rows: x right, y down, z forward
    c = np.array([0.0, 0.0, height_m])
    tvec = -r @ c
    m = k @ np.column_stack([r[:, 0], r[:, 1], tvec])
    return np.asarray(m / m[2, 2], dtype=np.float64)


H_GROUND_TO_IMAGE = pinhole_ground_to_image()
H_IMAGE_TO_GROUND: NDArray[np.float64] = np.asarray(
    np.linalg.inv(H_GROUND_TO_IMAGE), dtype=np.float64
)

# Calibration marks on the ground (east, north metres), all in view.
GROUND_MARKS = np.array(
    [[0.0, 8.0], [4.0, 10.0], [-3.0, 12.0], [6.0, 18.0], [-5.0, 20.0], [1.0, 25.0], [8.0, 30.0]]
)


def truth_latlon(px: float, py: float) -> tuple[float, float]:
    """Where pixel (px, py) really is on the ground, through the true homography."""
    e, n = apply_homography(H_IMAGE_TO_GROUND, np.array([[px, py]]))[0]
    lat, lon = PLANE.to_latlon(e, n)
    return float(lat), float(lon)


def calibration_points(
    noise_m: float = 0.0, n: int = len(GROUND_MARKS), seed: int = 0
) -> list[dict[str, Any]]:
    """Calibration pairs from the true homography; ground positions jittered by ``noise_m``."""
    rng = np.random.default_rng(seed)
    marks: NDArray[np.float64] = np.asarray(GROUND_MARKS[:n], dtype=np.float64)
    pixels = apply_homography(H_GROUND_TO_IMAGE, marks)
    noisy = np.asarray(marks + rng.normal(0, noise_m, marks.shape), dtype=np.float64)
    lat, lon = PLANE.to_latlon(noisy[:, 0], noisy[:, 1])
    return [
        {"pixel": (float(p[0]), float(p[1])), "lat": float(a), "lon": float(o)}
        for p, a, o in zip(pixels, lat, lon, strict=True)
    ]


def camera(calibrated: bool = True, noise_m: float = 0.0, n: int = 7, **extra: Any) -> Camera:
    """The test camera ``gate-north`` with (by default) an exact 7-point calibration."""
    data: dict[str, Any] = {
        "id": "gate-north",
        "compound": "lijing",
        "url": "file:///dev/null",
        "lat": LAT0,
        "lon": LON0,
        "placement": {"building": "3号楼", "gate": "north gate", "floor": 1},
    }
    if calibrated:
        data["calibration"] = {"points": calibration_points(noise_m, n), "max_residual_m": 5.0}
    data.update(extra)
    return Camera.model_validate(data)


def make_alert(
    *,
    type: AlertType = "zone.intrusion",
    track_id: int = 7,
    severity: Severity | None = None,
    camera_id: str = "gate-north",
    box: tuple[float, float, float, float] = (900.0, 500.0, 980.0, 700.0),
) -> Alert:
    """A realistic alert from the test camera."""
    loc = Locator(camera(), COMPOUND).locate(box)
    return Alert.new(
        type=type,
        camera=camera_id,
        compound="lijing",
        subject=TrackSubject(track_id=track_id, class_name="person", rule="intrusion", zone="roof"),
        location=loc,
        captured=utcnow(),
        severity=severity,
    )


def stream_entries(
    client: redis.Redis, key: str = keys.ALERT_STREAM
) -> list[tuple[str, dict[str, str]]]:
    """Every entry of a stream (client made with ``decode_responses=True``)."""
    rows = cast("list[tuple[str, dict[str, str]]] | None", client.xrange(key))
    return list(rows or [])


def stream_alerts(client: redis.Redis) -> list[Alert]:
    """Every alert stored in the alert stream, oldest first."""
    return [parse_entry(fields) for _, fields in stream_entries(client)]
