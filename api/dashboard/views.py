"""What a desk row and the detail drawer show, built from the store's incident or, for an
alert not stored yet, from the Alert JSON on the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.store.incidents import Incident
from alerts.store.users import User
from shouwang.config.site import Site


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the alarm desk."""

    id: str
    type: str
    severity: str
    state: str
    version: int
    camera: str
    compound: str
    place: str
    summary: str
    created_at: str
    assignee: str | None
    update_count: int
    stored: bool

    def attrs(self) -> dict[str, str]:
        """The row's data attributes, which the page's filters and shortcuts read."""
        return {
            "data-id": self.id,
            "data-severity": self.severity,
            "data-state": self.state,
            "data-type": self.type,
            "data-camera": self.camera,
            "data-compound": self.compound,
            "data-update": str(self.update_count),
        }


def names_of(s: Session, ids: set[int]) -> dict[int, str]:
    """User id → name, for assignees."""
    if not ids:
        return {}
    return {
        int(i): str(n) for i, n in s.execute(select(User.id, User.name).where(User.id.in_(ids)))
    }


def row_of_incident(inc: Incident, names: dict[int, str]) -> Row:
    """A row from a stored incident."""
    return Row(
        id=inc.id,
        type=inc.type,
        severity=inc.severity,
        state=inc.state,
        version=inc.version,
        camera=inc.camera,
        compound=inc.compound,
        place=inc.place,
        summary=inc.summary,
        created_at=inc.created_at.isoformat(),
        assignee=names.get(inc.assignee_id) if inc.assignee_id is not None else None,
        update_count=inc.update_count,
        stored=True,
    )


def _summary(alert: dict[str, Any]) -> str:
    from alerts.model import Alert

    try:
        return Alert.model_validate(alert).summary()
    except ValueError:
        return str(alert.get("type", ""))


def _place(alert: dict[str, Any]) -> str:
    from alerts.model import Place

    try:
        return Place.model_validate(alert["location"]["place"]).label()
    except (KeyError, TypeError, ValueError):
        return ""


def row_of_alert(alert: dict[str, Any], inc: Incident | None, names: dict[int, str]) -> Row:
    """A row for an alert from the stream, with the store's state when it has the incident."""
    times = alert.get("times") or {}
    return Row(
        id=str(alert["id"]),
        type=str(alert.get("type", "")),
        severity=str(alert.get("severity", "info")),
        state=inc.state if inc else "new",
        version=inc.version if inc else 0,
        camera=str(alert.get("camera", "")),
        compound=str(alert.get("compound", "")),
        place=_place(alert),
        summary=_summary(alert),
        created_at=str(times.get("first_seen") or times.get("captured") or ""),
        assignee=names.get(inc.assignee_id) if inc and inc.assignee_id is not None else None,
        update_count=int(alert.get("update_count", 0)),
        stored=inc is not None,
    )


def why(alert: dict[str, Any]) -> list[tuple[str, str]]:
    """Why the alert fired, as label-key / value pairs for the drawer."""
    s = alert.get("subject") or {}
    kind = s.get("kind")
    out: list[tuple[str, str]] = []
    if kind == "plate":
        out.append(("plate", f"{s.get('plate')} ({float(s.get('confidence', 0)):.0%})"))
        if s.get("list_id"):
            out.append(("list", f"{s.get('list_kind')} · {s.get('list_id')}"))
            out.append(("list_entry", str(s.get("list_entry") or "")))
        if s.get("distance") is not None:
            out.append(("distance", f"{float(s['distance']):.2f}"))
    elif kind == "face":
        out.append(("person", str(s.get("person_label") or s.get("person_id"))))
        out.append(("list", str(s.get("watchlist_id"))))
        out.append(
            (
                "similarity",
                f"{float(s.get('similarity', 0)):.3f} ≥ {float(s.get('threshold', 0)):.3f}",
            )
        )
    elif kind == "track":
        out.append(("rule", str(s.get("rule"))))
        if s.get("zone"):
            out.append(("zone", str(s["zone"])))
        out.append(("track", f"{s.get('class_name')} #{s.get('track_id')}"))
        if s.get("value") is not None:
            out.append(("value", f"{float(s['value']):.1f}"))
    elif kind == "scene":
        out.append(("rule", str(s.get("rule"))))
        if s.get("score") is not None:
            out.append(("score", f"{float(s['score']):.2f}"))
    return out


def zone_polygon(site: Site | None, alert: dict[str, Any]) -> list[tuple[float, float]] | None:
    """The pixel polygon of the zone the rule is bound to, for the snapshot overlay."""
    zone_id = (alert.get("subject") or {}).get("zone")
    if site is None or not zone_id:
        return None
    try:
        cam = site.camera(str(alert.get("camera")))
    except KeyError:
        return None
    for z in cam.zones:
        if z.id == zone_id and z.polygon is not None:
            return [(float(x), float(y)) for x, y in z.polygon]
    return None


def plan_pin(
    site: Site | None, compound: str, lat: float, lon: float
) -> tuple[float, float] | None:
    """Where a position falls on its compound's plan image, if it has one."""
    if site is None:
        return None
    try:
        plan = site.compound(compound).plan
    except KeyError:
        return None
    return plan.to_pixel(lat, lon) if plan else None
