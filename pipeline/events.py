"""What pipeline stages report: findings that may become alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

# How urgent each alert type is unless a stage says otherwise (the alert record uses the
# same table, so a finding and its alert never disagree).
DEFAULT_SEVERITY: dict[str, Severity] = {
    "plate.blacklist": "high",
    "plate.visitor": "info",
    "plate.unknown": "low",
    "face.watchlist": "high",
    "zone.intrusion": "high",
    "zone.loitering": "medium",
    "zone.crowding": "medium",
    "line.wrong_way": "medium",
    "person.fall": "critical",
    "person.running": "low",
    "object.abandoned": "medium",
    "vehicle.no_parking": "low",
    "vehicle.pedestrian_zone": "medium",
    "scene.anomaly": "medium",
    "camera.tamper": "high",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a stage saw in one frame that may deserve an alert.

    The pipeline knows pixels, tracks and rules; turning a finding into an alert with a
    ground location, evidence and delivery is the ``alerts`` package's job.

    Attributes:
        kind: the alert type it would raise, e.g. ``zone.intrusion``, ``plate.blacklist``.
        severity: how urgently a guard should look.
        camera_id: the camera whose frame shows it.
        track_id: the track it concerns, when there is one.
        box: (x1, y1, x2, y2) in the analysis frame's pixels, when there is one.
        zone: the zone id the rule refers to.
        subject: JSON-ready details (plate reading and list hit, face match, rule).
        measured: the quantity that triggered it, e.g. ``{"seconds": 42.0}``.
        dedup_key: findings with the same key within the cooldown are one incident.
    """

    kind: str
    severity: Severity
    camera_id: str
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    zone: str | None = None
    subject: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, float] = field(default_factory=dict)
    dedup_key: str = ""

    def key(self) -> str:
        """The deduplication key, derived when the stage gave none."""
        if self.dedup_key:
            return self.dedup_key
        parts = [self.kind, self.camera_id, self.zone or "", str(self.track_id or "")]
        return ":".join(parts)
