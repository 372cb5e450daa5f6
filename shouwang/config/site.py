"""Pydantic models of a site file.

Pure data and validation: no file or network I/O happens here (the loader reads YAML
and the environment). Every model forbids unknown keys, so a typo such as ``fsp: 5``
is reported instead of silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shouwang.config.common import Identifier as Identifier
from shouwang.config.common import Schedule as Schedule
from shouwang.config.gat1400 import CameraCodes, Gat1400Site
from shouwang.config.plan import SitePlan
from shouwang.config.rules import Rule
from shouwang.geo import LocalPlane, apply_homography, fit_homography

Latitude = Annotated[float, Field(ge=-90, le=90, description="WGS-84 latitude, degrees")]
Longitude = Annotated[float, Field(ge=-180, le=180, description="WGS-84 longitude, degrees")]
Pixel = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]]

# ${NAME} or ${NAME:-default}; resolved from the environment when a stream is opened.
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_URL_SCHEMES = ("rtsp://", "rtsps://", "file://", "http://", "https://")
# Credentials written literally into a URL (user:password@) instead of ${VAR} references.
_LITERAL_SECRET = re.compile(r"^[a-z]+://[^/@${}]*:[^/@${}]+@", re.IGNORECASE)

ZoneKind = Literal[
    "intrusion",  # any entry is an event (perimeter, roof, pool at night)
    "loitering",  # staying longer than a threshold
    "crowding",  # too many objects at once
    "no_parking",  # fire lanes: vehicles must not stop
    "line",  # a counting / wrong-way line (two points)
    "pedestrian",  # walkways, playgrounds, lawns: no bicycles, cars or motorbikes
    "watch",  # a generic region other rules refer to
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Compound(_Model):
    """A residential compound (小区): the unit alerts are routed by."""

    id: Identifier
    name: str = Field(min_length=1, description="display name, e.g. 丽景湾小区")
    address: str = Field(default="", description="street address for dispatch")
    division: str | None = Field(
        default=None,
        pattern=r"^\d{6}$",
        description="administrative-division code (GB/T 2260), e.g. 640104; police API "
        "clients whose jurisdiction is a division see the compounds it covers",
    )
    lat: Latitude = Field(description="reference latitude (WGS-84) of the compound")
    lon: Longitude = Field(description="reference longitude (WGS-84) of the compound")
    plan: SitePlan | None = Field(
        default=None, description="site plan image with ground control points (dashboard)"
    )


class Placement(_Model):
    """Where a camera hangs, in the words a guard would use on the radio."""

    building: str | None = Field(default=None, description="building name or number, e.g. '3号楼'")
    gate: str | None = Field(default=None, description="gate name, e.g. 'north vehicle gate'")
    floor: int | None = Field(
        default=None, ge=-10, le=200, description="floor, negative below ground"
    )
    description: str = Field(default="", description="free text, e.g. 'above the barrier'")


class CalibrationPoint(_Model):
    """One image pixel and the ground position it shows."""

    pixel: Pixel = Field(description="(x, y) in the detection stream's pixels")
    lat: Latitude = Field(description="latitude of the ground point, WGS-84")
    lon: Longitude = Field(description="longitude of the ground point, WGS-84")


class Calibration(_Model):
    """Ground-plane homography from image pixels to latitude/longitude.

    At least four well-spread pixel ↔ ground pairs on the ground plane (kerb corners,
    manhole covers, parking-bay marks). Four is the minimum; six or more let the
    residual estimate the location error that alerts report.
    """

    points: list[CalibrationPoint] = Field(description="pixel ↔ lat/lon pairs on the ground")
    max_residual_m: float = Field(
        default=2.0, gt=0, le=50, description="reject calibrations whose fit is worse than this"
    )

    @field_validator("points")
    @classmethod
    def _enough(cls, v: list[CalibrationPoint]) -> list[CalibrationPoint]:
        if len(v) < 4:
            raise ValueError(f"need at least 4 pairs, got {len(v)}")
        return v

    @model_validator(mode="after")
    def _not_degenerate(self) -> Calibration:
        px = np.array([p.pixel for p in self.points], dtype=np.float64)
        plane = LocalPlane(self.points[0].lat, self.points[0].lon)
        east, north = plane.to_metres(
            np.array([p.lat for p in self.points]), np.array([p.lon for p in self.points])
        )
        ground = np.column_stack([east, north])
        for name, pts, unit in (("pixel", px, "px"), ("ground", ground, "m")):
            problem = _degeneracy(pts, unit)
            if problem:
                raise ValueError(f"degenerate calibration: {name} points {problem}")
        try:
            h = fit_homography(px, ground)
        except ValueError as exc:
            raise ValueError(f"degenerate calibration: {exc}") from None
        if len(self.points) > 4:
            err = np.linalg.norm(apply_homography(h, px) - ground, axis=1)
            worst = int(np.nanargmax(err))
            if not np.isfinite(err).all() or err[worst] > self.max_residual_m:
                raise ValueError(
                    f"inconsistent calibration: point {worst} is {err[worst]:.1f} m off the "
                    f"fitted ground plane (limit {self.max_residual_m} m); check its pixel "
                    "and lat/lon"
                )
        return self


def _degeneracy(pts: np.ndarray, unit: str) -> str | None:
    """Say why points cannot define a homography, or None when they can."""
    n = len(pts)
    d = np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=-1)
    i, j = np.triu_indices(n, 1)
    close = np.flatnonzero(d[i, j] < (0.5 if unit == "px" else 0.05))
    if close.size:
        a, b = int(i[close[0]]), int(j[close[0]])
        return f"{a} and {b} coincide"
    scale = float(d.max())
    for a in range(n):
        for b in range(a + 1, n):
            for c in range(b + 1, n):
                u, w = pts[b] - pts[a], pts[c] - pts[a]
                area2 = abs(u[0] * w[1] - u[1] * w[0])
                if n == 4 and area2 < 1e-3 * scale * scale:
                    return f"{a}, {b} and {c} are collinear"
    centred = pts - pts.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[1] < 1e-3 * sv[0]:
        return "all lie on one line"
    return None


class Zone(_Model):
    """A region (or a line) of one camera's view that rules refer to.

    Give the polygon in image pixels (``polygon``) or on the ground (``polygon_latlon``),
    not both. A ground polygon needs the camera's calibration to be drawn in the image.
    """

    id: Identifier
    kind: ZoneKind = Field(description="what the zone is for; rules are configured per kind")
    polygon: list[Pixel] | None = Field(default=None, description="[[x, y], ...] in pixels")
    polygon_latlon: list[tuple[Latitude, Longitude]] | None = Field(
        default=None, description="[[lat, lon], ...] on the ground"
    )
    schedule: Schedule | None = Field(
        default=None, description='active window such as "22:00-06:00"; always active if absent'
    )
    classes: list[str] = Field(
        default_factory=list, description="object classes that count here; empty means all"
    )

    @field_validator("schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, v: object) -> object:
        return Schedule.parse(v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_shape(self) -> Zone:
        shapes = [s for s in (self.polygon, self.polygon_latlon) if s is not None]
        if len(shapes) != 1:
            raise ValueError("give exactly one of polygon (pixels) or polygon_latlon (ground)")
        pts = shapes[0]
        need = 2 if self.kind == "line" else 3
        if self.kind == "line" and len(pts) != 2:
            raise ValueError(f"a line zone needs exactly 2 points, got {len(pts)}")
        if len(pts) < need:
            raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
        if self.kind != "line":
            arr = np.asarray(pts, dtype=np.float64)
            x, y = arr[:, 0], arr[:, 1]
            area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
            if area <= 0:
                raise ValueError("polygon has zero area (points collinear or repeated)")
        return self


class Camera(_Model):
    """One camera: where it is, how to reach it, and what to watch in its view."""

    id: Identifier
    name: str = Field(default="", description="display name for operators")
    compound: Identifier = Field(description="id of the compound this camera belongs to")
    url: str = Field(
        description=(
            "main (high-resolution) stream: rtsp://, rtsps://, file:// or a file path; "
            "credentials as ${ENV_VAR} references, never literally"
        )
    )
    detect_url: str | None = Field(
        default=None, description="optional sub-stream for detection (main stream if absent)"
    )
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport")
    placement: Placement = Field(
        default_factory=Placement, description="building / gate / floor for the alert's place"
    )
    lat: Latitude = Field(description="camera position, WGS-84")
    lon: Longitude = Field(description="camera position, WGS-84")
    heading_deg: float = Field(default=0.0, ge=0, lt=360, description="view direction, 0 = north")
    fps: float = Field(default=5.0, gt=0, le=60, description="target analysis frames per second")
    enabled: bool = Field(default=True, description="false keeps the camera in the file, unused")
    calibration: Calibration | None = Field(default=None, description="ground-plane homography")
    zones: list[Zone] = Field(default_factory=list, description="regions and lines rules refer to")
    plate_lists: list[Identifier] = Field(default_factory=list, description="plate list ids")
    watchlists: list[Identifier] = Field(default_factory=list, description="face watchlist ids")
    rules: list[Rule] = Field(
        default_factory=list, description="anomaly rules on this camera's tracks and zones"
    )
    gat1400: CameraCodes | None = Field(default=None, description="GA/T 1400 / GB/T 28181 ids")

    @field_validator("url", "detect_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v:
            raise ValueError("must not be empty")
        if _LITERAL_SECRET.match(v):
            raise ValueError(
                "credentials written into the URL; use ${VAR} references such as "
                "rtsp://${GATE_USER}:${GATE_PASS}@10.0.0.5/stream so secrets stay in the "
                "environment"
            )
        if "://" in v and not v.lower().startswith(_URL_SCHEMES):
            raise ValueError(
                f"unsupported scheme in {v.split('://')[0]!r}; use rtsp, rtsps or file"
            )
        return v

    @model_validator(mode="after")
    def _zones(self) -> Camera:
        seen: set[str] = set()
        for z in self.zones:
            if z.id in seen:
                raise ValueError(f"camera {self.id!r}: zone id {z.id!r} is used twice")
            seen.add(z.id)
            if z.polygon_latlon is not None and self.calibration is None:
                raise ValueError(
                    f"camera {self.id!r}: zone {z.id!r} is given in lat/lon but the camera has "
                    "no calibration to place it in the image"
                )
        self._check_rules()
        return self

    def _check_rules(self) -> None:
        from shouwang.config.loader import LocatedProblems

        problems: list[tuple[tuple[str | int, ...], str]] = []
        zones = {z.id: z for z in self.zones}
        rule_ids: set[str] = set()
        for i, r in enumerate(self.rules):
            where = f"camera {self.id!r}, rule {r.id!r}"
            if r.id in rule_ids:
                problems.append((("rules", i, "id"), f"{where}: rule id {r.id!r} is used twice"))
            rule_ids.add(r.id)
            zone = zones.get(r.zone)
            if zone is None:
                known = ", ".join(zones) or "none"
                problems.append(
                    (
                        ("rules", i, "zone"),
                        f"{where}: unknown zone {r.zone!r}; this camera's zones: {known}",
                    )
                )
                continue
            problem = _rule_problem(r, zone, self.calibration is not None)
            if problem:
                problems.append((("rules", i), f"{where}: {problem}"))
        if problems:
            raise LocatedProblems(problems)

    def rule_notes(self) -> list[str]:
        """How each rule measures here (metres, or the pixel fallback), for config check."""
        calibrated = self.calibration is not None
        return [
            f"camera {self.id!r}, rule {r.id!r}: {note}"
            for r in self.rules
            if (note := r.units_note(calibrated))
        ]

    @property
    def analysis_url(self) -> str:
        """The stream detection runs on: the sub-stream when there is one."""
        return self.detect_url or self.url


def _rule_problem(rule: Rule, zone: Zone, calibrated: bool) -> str | None:
    """Why a rule cannot work on its zone and camera, or None."""
    if rule.type == "line_crossing" and zone.kind != "line":
        return (
            f"line_crossing needs a line zone (kind: line), but zone {zone.id!r} is a "
            f"{zone.kind} polygon"
        )
    if rule.type != "line_crossing" and zone.kind == "line":
        return f"a {rule.type} rule needs a polygon zone, but {zone.id!r} is a line"
    if rule.type == "vehicle_in_zone" and zone.kind != "pedestrian":
        return (
            f"vehicle_in_zone needs a zone of kind pedestrian (the kind that forbids "
            f"vehicles), but zone {zone.id!r} is a {zone.kind} zone"
        )
    if rule.classes and zone.classes and not set(rule.classes) & set(zone.classes):
        return (
            f"the rule counts {', '.join(rule.classes)} but zone {zone.id!r} only counts "
            f"{', '.join(zone.classes)}, so it could never fire"
        )
    if rule.needs_calibration and not calibrated:
        return (
            f"a {rule.type} rule measures ground speed in m/s and needs the camera's "
            "calibration, which this camera does not have"
        )
    return None


class PlateListRef(_Model):
    """A plate list file (one plate per line, optional comment after a comma)."""

    id: Identifier
    kind: Literal["resident", "visitor", "blacklist"] = Field(description="what a hit means")
    path: str = Field(description="file path, relative to the site file")
    max_distance: float = Field(
        default=1.0, ge=0, le=3, description="fuzzy-match limit (weighted edit distance)"
    )


class WatchlistRef(_Model):
    """A named face watchlist held in the watchlist store."""

    id: Identifier
    kind: Literal["residents", "persons_of_interest"] = Field(description="what a match means")
    threshold: float | None = Field(
        default=None, ge=-1, le=1, description="match threshold; calibrated default if absent"
    )
    store_photos: bool = Field(
        default=False, description="keep enrolment photos, not only embeddings"
    )


class Site(_Model):
    """A whole site file."""

    version: Literal[1] = Field(default=1, description="file format version")
    name: str = Field(min_length=1, description="site name, e.g. 'Yinchuan Jinfeng district'")
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone for schedules")
    compounds: list[Compound] = Field(min_length=1, description="the compounds of this site")
    cameras: list[Camera] = Field(default_factory=list, description="every camera, any compound")
    plate_lists: list[PlateListRef] = Field(
        default_factory=list, description="resident / visitor / blacklist plate files"
    )
    watchlists: list[WatchlistRef] = Field(
        default_factory=list, description="face watchlists cameras may match against"
    )
    gat1400: Gat1400Site | None = Field(default=None, description="upper GA/T 1400 platform")

    @model_validator(mode="after")
    def _references(self) -> Site:
        from shouwang.config.loader import LocatedProblems

        problems = reference_problems(self.model_dump())
        if problems:
            raise LocatedProblems(problems)
        return self

    def camera(self, camera_id: str) -> Camera:
        """The camera with this id; ``KeyError`` naming the known ids otherwise."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras)
        raise KeyError(f"no camera {camera_id!r} in site {self.name!r}; known: {known}")

    def compound(self, compound_id: str) -> Compound:
        """The compound with this id."""
        for c in self.compounds:
            if c.id == compound_id:
                return c
        raise KeyError(f"no compound {compound_id!r}")


def reference_problems(raw: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Duplicate ids and dangling references, found on raw (possibly invalid) site data.

    Works on plain dicts so the loader can report these alongside field errors, which
    stop pydantic before whole-site validators run.
    """
    problems: list[tuple[tuple[str | int, ...], str]] = []
    ids: dict[str, list[str]] = {}
    for key in ("compounds", "cameras", "plate_lists", "watchlists"):
        items = _mappings(raw.get(key))
        first: dict[str, int] = {}
        for i, item in items:
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in first:
                problems.append(
                    ((key, i, "id"), f"id {ident!r} already used by {key}[{first[ident]}]")
                )
            first.setdefault(ident, i)
        ids[key] = list(first)
    for i, cam in _mappings(raw.get("cameras")):
        name = cam.get("id", f"#{i}")
        compound = cam.get("compound")
        if isinstance(compound, str) and compound not in ids["compounds"]:
            problems.append(
                (
                    ("cameras", i, "compound"),
                    f"camera {name!r}: unknown compound {compound!r}; "
                    f"known: {', '.join(ids['compounds']) or 'none'}",
                )
            )
        for field, what in (("plate_lists", "plate list"), ("watchlists", "watchlist")):
            refs = cam.get(field)
            for j, ref in enumerate(refs if isinstance(refs, list) else []):
                if isinstance(ref, str) and ref not in ids[field]:
                    problems.append(
                        (
                            ("cameras", i, field, j),
                            f"camera {name!r}: unknown {what} {ref!r}; "
                            f"known: {', '.join(ids[field]) or 'none'}",
                        )
                    )
    return problems


def _mappings(value: object) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, Mapping)]
