"""Geodesy shared by configuration checks and alert locations.

Compounds are a few hundred metres across, so positions are handled in a local
east/north plane in metres around a reference point (an equirectangular projection on
the WGS-84 ellipsoid's local radii). Over 2 km the projection error stays below 1 cm,
far under what a camera homography can resolve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_A = 6378137.0  # WGS-84 semi-major axis, metres
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)


@dataclass(frozen=True, slots=True)
class LocalPlane:
    """A local east/north metric plane tangent to the ellipsoid at ``(lat0, lon0)``.

    Example:
        >>> plane = LocalPlane(38.4872, 106.2309)
        >>> east, north = plane.to_metres(38.4881, 106.2309)
        >>> round(float(north))
        100
    """

    lat0: float
    lon0: float

    @property
    def _radii(self) -> tuple[float, float]:
        phi = math.radians(self.lat0)
        s = math.sin(phi)
        w = math.sqrt(1 - _E2 * s * s)
        meridional = _A * (1 - _E2) / w**3  # metres per radian of latitude
        normal = _A / w * math.cos(phi)  # metres per radian of longitude
        return meridional, normal

    def to_metres(
        self, lat: float | NDArray[np.float64], lon: float | NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Project latitude/longitude (degrees) to (east, north) metres."""
        m, n = self._radii
        north = np.radians(np.asarray(lat, dtype=np.float64) - self.lat0) * m
        east = np.radians(np.asarray(lon, dtype=np.float64) - self.lon0) * n
        return east, north

    def to_latlon(
        self, east: float | NDArray[np.float64], north: float | NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Inverse of :meth:`to_metres`, returning (lat, lon) in degrees."""
        m, n = self._radii
        lat = self.lat0 + np.degrees(np.asarray(north, dtype=np.float64) / m)
        lon = self.lon0 + np.degrees(np.asarray(east, dtype=np.float64) / n)
        return lat, lon


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (mean Earth radius); good to ~0.5% anywhere."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def fit_homography(src: NDArray[np.float64], dst: NDArray[np.float64]) -> NDArray[np.float64]:
    """Direct linear transform from ``src`` (n, 2) to ``dst`` (n, 2), n >= 4, normalised.

    Raises:
        ValueError: when the points do not determine a unique homography.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"expected two (n, 2) point arrays, got {src.shape} and {dst.shape}")
    if len(src) < 4:
        raise ValueError(f"need at least 4 point pairs, got {len(src)}")
    ts, tsrc = _normalise(src)
    td, tdst = _normalise(dst)
    rows = []
    for (x, y), (u, v) in zip(tsrc, tdst, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    a = np.asarray(rows)
    _, s, vt = np.linalg.svd(a)
    # A unique solution needs a one-dimensional null space: the second-smallest singular
    # value must stand clear of zero.
    if s[-2] < 1e-6 * s[0]:
        raise ValueError("points are degenerate (collinear or repeated): homography not unique")
    h = vt[-1].reshape(3, 3)
    h = np.linalg.inv(td) @ h @ ts
    if abs(h[2, 2]) < 1e-12:
        raise ValueError("homography maps the image origin to infinity")
    return np.asarray(h / h[2, 2], dtype=np.float64)


def apply_homography(h: NDArray[np.float64], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map (n, 2) points through homography ``h``; points mapped to infinity become NaN."""
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    hom = np.hstack([pts, np.ones((len(pts), 1))]) @ h.T
    w = hom[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(w) > 1e-12, hom[:, :2] / w, np.nan)
    return np.asarray(out, dtype=np.float64)


def _normalise(pts: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    centre = pts.mean(axis=0)
    spread = np.sqrt(((pts - centre) ** 2).sum(axis=1)).mean()
    scale = math.sqrt(2) / spread if spread > 0 else 1.0
    t = np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])
    return t, apply_homography(t, pts)
