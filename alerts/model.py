"""The one alert record: what happened, where exactly, when, and the evidence.

Everything downstream (the Redis stream, the dashboard, the police liaison API, the
``alerts tail`` command) reads this record as JSON. The JSON is the contract: ``type``,
``severity``, ``camera``, ``location.lat`` and ``location.lon`` are always present.

One incident is one alert: repeats of the same incident (same ``dedup_key`` within the
publisher's cooldown) are published again with the same ``id`` and a larger
``update_count``, so consumers update the alert they already show instead of adding one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

from pipeline.events import (
    DEFAULT_SEVERITY as DEFAULT_SEVERITY,  # re-exported: the table lives with findings
)

AlertType = Literal[
    "plate.blacklist",  # a plate on a blacklist was read
    "plate.visitor",  # a visitor plate (not a resident) entered
    "plate.unknown",  # a plate on no list, where the camera is set to report those
    "face.watchlist",  # a face matched a persons-of-interest watchlist
    "zone.intrusion",  # something entered an intrusion zone
    "zone.loitering",  # someone stayed in a zone longer than allowed
    "zone.crowding",  # too many people/objects in a zone at once
    "line.wrong_way",  # a line was crossed in the forbidden direction
    "person.fall",  # a person fell and stayed down
    "person.running",  # running where that is unusual
    "object.abandoned",  # an object left without its owner
    "vehicle.no_parking",  # a vehicle stopped in a fire lane / no-parking zone
    "vehicle.pedestrian_zone",  # a bicycle, car or motorbike on a walkway / playground
    "scene.anomaly",  # the scene-level anomaly score passed its threshold
    "camera.tamper",  # the camera was covered, moved, blinded or lost focus
]
ALERT_TYPES: tuple[str, ...] = get_args(AlertType)

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(get_args(Severity))}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlateSubject(_Record):
    """A licence plate reading and the list entry it hit (if any)."""

    kind: Literal["plate"] = "plate"
    plate: str = Field(min_length=1, description="plate as read, e.g. 宁A12345")
    confidence: float = Field(ge=0, le=1, description="reader confidence")
    list_id: str | None = Field(default=None, description="plate list that matched")
    list_kind: Literal["resident", "visitor", "blacklist"] | None = None
    list_entry: str | None = Field(default=None, description="the list's spelling of the plate")
    distance: float | None = Field(default=None, ge=0, description="fuzzy-match distance")
    track_id: int | None = Field(default=None, description="vehicle track id")


class FaceSubject(_Record):
    """A face matched against a watchlist."""

    kind: Literal["face"] = "face"
    watchlist_id: str
    person_id: str = Field(description="watchlist entry id (never a photo)")
    person_label: str = Field(default="", description="display label for operators")
    similarity: float = Field(ge=-1, le=1)
    threshold: float = Field(ge=-1, le=1, description="threshold the match passed")
    track_id: int | None = None


class TrackSubject(_Record):
    """A tracked object that broke a rule (zone, line, behaviour)."""

    kind: Literal["track"] = "track"
    track_id: int
    class_name: str = Field(description="detector class, e.g. person, car")
    rule: str = Field(description="rule that fired, e.g. 'intrusion', 'dwell>120s'")
    zone: str | None = Field(default=None, description="zone id the rule is bound to")
    value: float | None = Field(default=None, description="measured value, e.g. dwell seconds")


class SceneSubject(_Record):
    """A whole-frame finding (anomaly score, tamper) with no single object."""

    kind: Literal["scene"] = "scene"
    rule: str
    score: float | None = None


Subject = Annotated[
    PlateSubject | FaceSubject | TrackSubject | SceneSubject, Field(discriminator="kind")
]


class Place(_Record):
    """The named place a guard would go to."""

    compound: str = Field(description="compound id")
    compound_name: str = ""
    building: str | None = None
    gate: str | None = None
    floor: int | None = None
    zones: list[str] = Field(default_factory=list, description="camera zones holding the point")
    description: str = ""

    def label(self) -> str:
        """Short human text, e.g. ``丽景湾小区 / 3号楼 / north gate / zone perimeter``."""
        parts = [self.compound_name or self.compound]
        parts += [p for p in (self.building, self.gate) if p]
        if self.floor is not None:
            parts.append(f"floor {self.floor}")
        if self.zones:
            parts.append("zone " + ",".join(self.zones))
        return " / ".join(parts)


class Location(_Record):
    """Where the object stands on the ground."""

    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude, degrees")
    gcj_lat: float = Field(description="GCJ-02 latitude for Chinese map providers")
    gcj_lon: float = Field(description="GCJ-02 longitude for Chinese map providers")
    error_m: float = Field(ge=0, description="estimated 1-sigma horizontal error, metres")
    source: Literal["calibration", "camera"] = Field(
        description="'calibration': the object's ground point through the camera homography; "
        "'camera': the camera's own position (no usable calibration)"
    )
    pixel: tuple[float, float] | None = Field(
        default=None, description="image point that was projected (bottom-centre of the box)"
    )
    note: str = Field(default="", description="why the fallback was used, when it was")
    place: Place


class EvidenceRef(_Record):
    """A stored evidence file, addressed by its content hash."""

    kind: Literal["snapshot", "crop", "clip", "frame"] = Field(
        description="snapshot: the frame with the box drawn in; frame: the same frame clean; "
        "crop: around the box; clip: video"
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    uri: str = Field(description="where to fetch it, e.g. file:///var/lib/shouwang/evidence/...")
    size: int = Field(ge=0, description="bytes")
    media_type: str = Field(default="image/jpeg")
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    box: tuple[float, float, float, float] | None = Field(
        default=None,
        description="the subject's box (x1, y1, x2, y2) in this image's pixels; snapshot "
        "and frame only, None in older alerts",
    )


class Times(_Record):
    """When things happened; ``stages`` holds wall-clock stamps for latency accounting.

    ``stages`` maps a stage name (``captured``, ``decoded``, ``inferred``, ``tracked``,
    ``alerted``, ``published``) to a UNIX time in seconds (``time.time()``), so
    glass-to-alert latency can be computed across processes.
    """

    captured: datetime = Field(description="when the frame left the camera (glass)")
    detected: datetime = Field(description="when the pipeline decided to alert")
    published: datetime | None = Field(default=None, description="when it reached Redis")
    first_seen: datetime | None = Field(default=None, description="first frame of the incident")
    stages: dict[str, float] = Field(default_factory=dict)

    @property
    def glass_to_alert_s(self) -> float | None:
        """Seconds from capture to publication, when both are known."""
        if self.published is None:
            return None
        return (self.published - self.captured).total_seconds()


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Alert(_Record):
    """One incident.

    Example:
        >>> a = Alert.new(type="zone.intrusion", camera="gate-north", compound="lijing",
        ...     captured=utcnow(), subject=TrackSubject(track_id=7, class_name="person",
        ...     rule="intrusion", zone="roof"), location=loc)  # doctest: +SKIP
        >>> a.dedup_key  # doctest: +SKIP
        'zone.intrusion:gate-north:track:7:roof'
    """

    id: str = Field(description="ULID: sortable by creation time, unique")
    type: AlertType
    severity: Severity
    camera: str
    compound: str
    times: Times
    subject: Subject
    location: Location
    evidence: list[EvidenceRef] = Field(default_factory=list)
    dedup_key: str = Field(min_length=1, description="same key within the cooldown = update")
    update_count: int = Field(default=0, ge=0, description="0 first time, then 1, 2, ...")
    occurrences: int = Field(default=1, ge=1, description="detections folded into this alert")

    @classmethod
    def new(
        cls,
        *,
        type: AlertType,
        camera: str,
        compound: str,
        subject: PlateSubject | FaceSubject | TrackSubject | SceneSubject,
        location: Location,
        captured: datetime | float,
        severity: Severity | None = None,
        evidence: list[EvidenceRef] | None = None,
        stages: dict[str, float] | None = None,
        dedup_key: str | None = None,
    ) -> Alert:
        """Build a first-time alert with a fresh ULID and a default dedup key.

        Args:
            captured: a datetime or a ``time.time()`` stamp of the frame's capture.
            severity: defaults per type (``DEFAULT_SEVERITY``).
            stages: per-stage ``time.time()`` stamps; ``alerted`` is added now.
            dedup_key: defaults to :func:`default_dedup_key`.
        """
        now = time.time()
        cap = captured if isinstance(captured, datetime) else datetime.fromtimestamp(captured, UTC)
        st = dict(stages or {})
        st.setdefault("captured", cap.timestamp())
        st["alerted"] = now
        return cls(
            id=str(ULID()),
            type=type,
            severity=severity or DEFAULT_SEVERITY[type],
            camera=camera,
            compound=compound,
            times=Times(
                captured=cap,
                detected=datetime.fromtimestamp(now, UTC),
                first_seen=cap,
                stages=st,
            ),
            subject=subject,
            location=location,
            evidence=list(evidence or []),
            dedup_key=dedup_key or default_dedup_key(type, camera, subject),
        )

    def summary(self) -> str:
        """What the subject is, in a few words (for log lines and ``alerts tail``)."""
        s = self.subject
        if isinstance(s, PlateSubject):
            hit = f" ({s.list_kind} {s.list_id})" if s.list_id else ""
            return f"plate {s.plate}{hit}"
        if isinstance(s, FaceSubject):
            who = s.person_label or s.person_id
            return f"face {who} on {s.watchlist_id} sim={s.similarity:.2f}"
        if isinstance(s, TrackSubject):
            zone = f" zone {s.zone}" if s.zone else ""
            return f"{s.class_name} #{s.track_id} {s.rule}{zone}"
        return f"scene {s.rule}" + (f" score={s.score:.2f}" if s.score is not None else "")


def default_dedup_key(
    type: str, camera: str, subject: PlateSubject | FaceSubject | TrackSubject | SceneSubject
) -> str:
    """The identity of an incident: same type, camera and subject identity.

    Plates and faces are keyed by what was recognised (the same car re-appearing within
    the cooldown is one incident even under a new track id); tracks by track and zone;
    scene findings by rule.
    """
    if isinstance(subject, PlateSubject):
        ident = f"plate:{subject.list_entry or subject.plate}"
    elif isinstance(subject, FaceSubject):
        ident = f"face:{subject.watchlist_id}:{subject.person_id}"
    elif isinstance(subject, TrackSubject):
        ident = f"track:{subject.track_id}:{subject.zone or subject.rule}"
    else:
        ident = f"scene:{subject.rule}"
    return f"{type}:{camera}:{ident}"
