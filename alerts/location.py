"""Precise location: where on the ground an object in the image stands.

The ground point of a box is its bottom-centre pixel (feet, tyres). The camera's
calibration homography maps it into a local east/north plane in metres, and from there
to WGS-84 latitude/longitude; GCJ-02 is added for Chinese map providers (AMap, Tencent,
Google China), which all expect it.

The error estimate combines two terms in quadrature:

* the calibration's own error: the leave-one-out RMS (refit without each point and
  measure the miss) with six or more points; the degree-of-freedom corrected residual
  RMS with five; the calibration's stated tolerance (``max_residual_m``) with four,
  where the fit is exact and says nothing about its error;
* the box's imprecision: ``pixel_sigma`` pixels at the point, times the ground size of
  one pixel there (the homography's Jacobian), which grows with distance.

A camera without calibration (or a point on or above the horizon, or implausibly far
away) falls back to the camera's own position with ``uncalibrated_error_m`` error and a
``note`` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from alerts.errors import LocationError
from alerts.model import Location, Place
from shouwang.config.site import Camera, Compound, Site, Zone
from shouwang.geo import LocalPlane, apply_homography, fit_homography, haversine_m

# --- WGS-84 -> GCJ-02 -------------------------------------------------------------
# The published GCJ-02 obfuscation (Krasovsky 1940 ellipsoid constants and the
# well-known polynomial-plus-sine offset), as used by every open implementation.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def out_of_china(lat: float, lon: float) -> bool:
    """GCJ-02 is only defined inside China's bounding box; outside it equals WGS-84."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(lat: float, lon: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += common
    dlat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += common
    dlon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad = math.radians(lat)
    magic = 1 - _GCJ_EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = dlat * 180.0 / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrt_magic) * pi)
    dlon = dlon * 180.0 / (_GCJ_A / sqrt_magic * math.cos(rad) * pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (degrees); identity outside China."""
    if out_of_china(lat, lon):
        return lat, lon
    dlat, dlon = _offset(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float, *, tol_deg: float = 1e-9) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by fixed-point iteration (converges to < 1 mm in a few steps)."""
    if out_of_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(30):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        dlat, dlon = glat - lat, glon - lon
        wlat, wlon = wlat - dlat, wlon - dlon
        if abs(dlat) < tol_deg and abs(dlon) < tol_deg:
            break
    return wlat, wlon


# --- the camera's ground plane -------------------------------------------------------


def ground_point(xyxy: Sequence[float] | NDArray[np.floating]) -> tuple[float, float]:
    """Bottom-centre of a box ``(x1, y1, x2, y2)``: where the object touches the ground."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all() or b[2] < b[0] or b[3] < b[1]:
        raise LocationError(f"expected one finite box (x1, y1, x2, y2), got {b.tolist()}")
    return float((b[0] + b[2]) / 2), float(b[3])


def _inside(poly: NDArray[np.float64], x: float, y: float) -> bool:
    """Even-odd rule point-in-polygon."""
    xs, ys = poly[:, 0], poly[:, 1]
    xj, yj = np.roll(xs, 1), np.roll(ys, 1)
    crosses = (ys > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = (xj - xs) * (y - ys) / (yj - ys) + xs
    return bool(np.count_nonzero(crosses & (x < xint)) % 2)


class Locator:
    """Locates objects seen by one camera; build once per camera, call per alert.

    Example:
        >>> loc = Locator(site.camera("gate-north"), site.compound("lijing"))  # doctest: +SKIP
        >>> loc.locate([410, 220, 470, 380]).lat  # doctest: +SKIP
        38.48731
    """

    def __init__(
        self,
        camera: Camera,
        compound: Compound | None = None,
        *,
        pixel_sigma: float = 2.0,
        uncalibrated_error_m: float = 50.0,
        max_range_m: float = 1000.0,
    ) -> None:
        self.camera = camera
        self.compound = compound
        self.pixel_sigma = pixel_sigma
        self.uncalibrated_error_m = uncalibrated_error_m
        self.max_range_m = max_range_m
        self.calibration_error_m: float | None = None
        self._h: NDArray[np.float64] | None = None
        self._w_sign = 1.0
        cal = camera.calibration
        self._plane = LocalPlane(cal.points[0].lat, cal.points[0].lon) if cal else None
        if cal is not None and self._plane is not None:
            px = np.array([p.pixel for p in cal.points], dtype=np.float64)
            east, north = self._plane.to_metres(
                np.array([p.lat for p in cal.points]), np.array([p.lon for p in cal.points])
            )
            ground = np.column_stack([east, north])
            self._h = fit_homography(px, ground)
            w = np.hstack([px, np.ones((len(px), 1))]) @ self._h[2]
            self._w_sign = 1.0 if np.median(w) > 0 else -1.0
            self.calibration_error_m = _calibration_error(px, ground, cal.max_residual_m)
        self._zones_px, self._zones_m = self._prepare_zones(camera.zones)

    def _prepare_zones(
        self, zones: list[Zone]
    ) -> tuple[list[tuple[str, NDArray[np.float64]]], list[tuple[str, NDArray[np.float64]]]]:
        px: list[tuple[str, NDArray[np.float64]]] = []
        metres: list[tuple[str, NDArray[np.float64]]] = []
        for z in zones:
            if z.kind == "line":
                continue
            if z.polygon is not None:
                px.append((z.id, np.asarray(z.polygon, dtype=np.float64)))
            elif z.polygon_latlon is not None and self._plane is not None:
                ll = np.asarray(z.polygon_latlon, dtype=np.float64)
                e, n = self._plane.to_metres(ll[:, 0], ll[:, 1])
                metres.append((z.id, np.column_stack([e, n])))
        return px, metres

    def place(self, x: float, y: float, ground: tuple[float, float] | None) -> Place:
        """The named place of pixel ``(x, y)`` (ground metres when known, for lat/lon zones)."""
        zones = [zid for zid, poly in self._zones_px if _inside(poly, x, y)]
        if ground is not None:
            zones += [zid for zid, poly in self._zones_m if _inside(poly, *ground)]
        p = self.camera.placement
        return Place(
            compound=self.camera.compound,
            compound_name=self.compound.name if self.compound else "",
            building=p.building,
            gate=p.gate,
            floor=p.floor,
            zones=zones,
            description=p.description,
        )

    def locate(self, xyxy: Sequence[float] | NDArray[np.floating]) -> Location:
        """Location of the object in box ``xyxy`` (pixels of the detection stream)."""
        return self.locate_point(*ground_point(xyxy))

    def locate_point(self, x: float, y: float) -> Location:
        """Location of ground pixel ``(x, y)``."""
        if self._h is None or self._plane is None or self.calibration_error_m is None:
            return self.fallback(x, y, f"camera {self.camera.id!r} has no calibration")
        w = float(self._h[2] @ np.array([x, y, 1.0]))
        if w * self._w_sign <= 1e-12:
            return self.fallback(x, y, f"pixel ({x:.0f}, {y:.0f}) is on or above the horizon")
        east, north = apply_homography(self._h, np.array([[x, y]]))[0]
        lat_a, lon_a = self._plane.to_latlon(east, north)
        lat, lon = float(lat_a), float(lon_a)
        rng = haversine_m(self.camera.lat, self.camera.lon, lat, lon)
        if not math.isfinite(rng) or rng > self.max_range_m:
            return self.fallback(
                x, y, f"projected point is {rng:.0f} m from the camera (limit {self.max_range_m})"
            )
        per_px = self._metres_per_pixel(x, y)
        error = math.hypot(self.calibration_error_m, self.pixel_sigma * per_px)
        glat, glon = wgs84_to_gcj02(lat, lon)
        return Location(
            lat=lat,
            lon=lon,
            gcj_lat=glat,
            gcj_lon=glon,
            error_m=round(error, 3),
            source="calibration",
            pixel=(x, y),
            place=self.place(x, y, (float(east), float(north))),
        )

    def _metres_per_pixel(self, x: float, y: float) -> float:
        """Ground size of one pixel at (x, y): the larger singular value of the Jacobian."""
        if self._h is None:
            return 0.0
        pts = np.array([[x, y], [x + 1, y], [x, y + 1]], dtype=np.float64)
        g = apply_homography(self._h, pts)
        jac = np.column_stack([g[1] - g[0], g[2] - g[0]])
        if not np.isfinite(jac).all():
            return 0.0
        return float(np.linalg.svd(jac, compute_uv=False)[0])

    def fallback(self, x: float, y: float, why: str) -> Location:
        """The camera's own position with the large uncalibrated error, saying ``why``."""
        cam = self.camera
        glat, glon = wgs84_to_gcj02(cam.lat, cam.lon)
        return Location(
            lat=cam.lat,
            lon=cam.lon,
            gcj_lat=glat,
            gcj_lon=glon,
            error_m=self.uncalibrated_error_m,
            source="camera",
            pixel=(x, y),
            note=f"{why}; using the camera's own position",
            place=self.place(x, y, None),
        )


def _calibration_error(px: NDArray[np.float64], ground: NDArray[np.float64], tol: float) -> float:
    """1-sigma ground error of a calibration fit (see the module docstring)."""
    n = len(px)
    if n <= 4:
        return float(tol)
    h = fit_homography(px, ground)
    res = np.linalg.norm(apply_homography(h, px) - ground, axis=1)
    rms_dof = float(math.sqrt(float((res**2).sum()) / (n - 4)))
    if n == 5:
        return rms_dof
    loo = []
    for i in range(n):
        keep = np.arange(n) != i
        try:
            hi = fit_homography(px[keep], ground[keep])
        except ValueError:
            continue
        loo.append(float(np.linalg.norm(apply_homography(hi, px[i : i + 1])[0] - ground[i])))
    if not loo or not np.isfinite(loo).all():
        return rms_dof
    return max(rms_dof, float(math.sqrt(np.mean(np.square(loo)))))


class SiteLocator:
    """One :class:`Locator` per camera of a site, built up front (fits run once).

    Example:
        >>> locator = SiteLocator(site)  # doctest: +SKIP
        >>> locator.locate("gate-north", dets.xyxy[i])  # doctest: +SKIP
    """

    def __init__(self, site: Site, **options: float) -> None:
        compounds = {c.id: c for c in site.compounds}
        self._by_camera = {
            cam.id: Locator(cam, compounds.get(cam.compound), **options) for cam in site.cameras
        }

    def __getitem__(self, camera_id: str) -> Locator:
        try:
            return self._by_camera[camera_id]
        except KeyError:
            known = ", ".join(self._by_camera)
            raise LocationError(f"no camera {camera_id!r}; known: {known}") from None

    def locate(self, camera_id: str, xyxy: Sequence[float] | NDArray[np.floating]) -> Location:
        """Location of the object in box ``xyxy`` seen by ``camera_id``."""
        return self[camera_id].locate(xyxy)


def locate(
    camera: Camera, xyxy: Sequence[float] | NDArray[np.floating], compound: Compound | None = None
) -> Location:
    """One-shot convenience: fit the camera's calibration and locate one box.

    Workers should hold a :class:`SiteLocator` instead, which fits each camera once.
    """
    return Locator(camera, compound).locate(xyxy)
