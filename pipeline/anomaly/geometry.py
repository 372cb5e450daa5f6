"""Zones in image pixels, point-in-polygon, line crossings and the ground-plane mapping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.anomaly.events import AnomalyError
from shouwang.config import Calibration, Zone
from shouwang.geo import LocalPlane, apply_homography, fit_homography

Points = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GroundPlane:
    """Maps image pixels to metres east/north on the ground (the camera's calibration)."""

    pixel_to_metres: NDArray[np.float64]

    @classmethod
    def from_calibration(cls, cal: Calibration) -> GroundPlane:
        """Fit the homography of a validated calibration."""
        px = np.array([p.pixel for p in cal.points], dtype=np.float64)
        plane = LocalPlane(cal.points[0].lat, cal.points[0].lon)
        east, north = plane.to_metres(
            np.array([p.lat for p in cal.points]), np.array([p.lon for p in cal.points])
        )
        return cls(fit_homography(px, np.column_stack([east, north])))

    def to_metres(self, pixels: Points) -> Points:
        """(n, 2) pixels → (n, 2) metres; points beyond the horizon become NaN."""
        return apply_homography(self.pixel_to_metres, pixels)

    def pixels_per_metre(self, pixels: Points, step: float = 4.0) -> NDArray[np.float64]:
        """(n,) image scale at ground points: pixels per metre along the image's x axis.

        An upright object standing at the point spans about ``height_m * scale`` pixels
        (exact for a level camera, an approximation that worsens as the camera looks more
        steeply down). NaN beyond the horizon.
        """
        p = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        dx = np.array([step, 0.0])
        a, b = self.to_metres(p - dx), self.to_metres(p + dx)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(2 * step / np.hypot(*(b - a).T), dtype=np.float64)


def zone_pixels(zone: Zone, cal: Calibration | None) -> Points:
    """The zone's vertices in image pixels (ground polygons go through the calibration).

    Raises:
        AnomalyError: a lat/lon zone on a camera without calibration.
    """
    if zone.polygon is not None:
        return np.asarray(zone.polygon, dtype=np.float64)
    if cal is None or zone.polygon_latlon is None:
        raise AnomalyError(f"zone {zone.id!r} is given in lat/lon but there is no calibration")
    plane = LocalPlane(cal.points[0].lat, cal.points[0].lon)
    latlon = np.asarray(zone.polygon_latlon, dtype=np.float64)
    east, north = plane.to_metres(latlon[:, 0], latlon[:, 1])
    h = GroundPlane.from_calibration(cal).pixel_to_metres
    inv = np.asarray(np.linalg.inv(h), dtype=np.float64)
    return apply_homography(inv, np.column_stack([east, north]))


def inside(points: Points, polygon: Points) -> NDArray[np.bool_]:
    """Which of the (n, 2) points lie inside the polygon (even-odd rule, vectorised)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not len(pts):
        return np.zeros(0, dtype=bool)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = polygon[:, 0], polygon[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddle = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xcross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    hits = straddle & (x < xcross)
    return np.asarray(hits.sum(axis=1) % 2 == 1)


def side(a: Points, b: Points, p: Points) -> NDArray[np.float64]:
    """Signed side of points ``p`` to the line a→b as seen in the image (y down).

    Positive is the right-hand side of someone walking from ``a`` to ``b`` on the screen.
    """
    d = b - a
    q = np.asarray(p, dtype=np.float64).reshape(-1, 2) - a
    return np.asarray(d[0] * q[:, 1] - d[1] * q[:, 0])


def crossing(a: Points, b: Points, p0: Points, p1: Points) -> str | None:
    """``"to_left"``/``"to_right"`` if the step p0→p1 crosses segment a-b, else None."""
    s0, s1 = float(side(a, b, p0)[0]), float(side(a, b, p1)[0])
    if s0 == 0 or s1 == 0 or (s0 > 0) == (s1 > 0):
        return None
    # The step's endpoints straddle the infinite line; it crosses the segment only if a
    # and b also straddle the step's line.
    t0, t1 = float(side(p0, p1, a)[0]), float(side(p0, p1, b)[0])
    if (t0 > 0) == (t1 > 0) and t0 != 0 and t1 != 0:
        return None
    return "to_left" if s0 > 0 else "to_right"
