"""Cameras (``/api/cameras``): what the workers report, and per-camera snooze.

Health comes from what the workers leave in Redis (the worker holding the camera's
lease, whether that worker still heartbeats) and from the store (last alert, last plate
read, snooze). A snoozed camera's alerts are still stored, only not pushed live.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import redis
from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from alerts import keys
from alerts.store import audit, snoozes
from alerts.store.access_log import VehicleRead
from alerts.store.incidents import Incident
from api.deps import Scope, Scoped, Svc, client_address, errors
from shouwang.config.site import Camera

router = APIRouter(prefix="/api/cameras", tags=["cameras"])

CameraId = Annotated[str, Path(min_length=1, max_length=64, description="camera id")]


class CameraOut(BaseModel):
    """A camera and its state."""

    id: str
    name: str
    compound: str
    gate: str | None
    enabled: bool
    worker: str | None = Field(description="worker holding the camera's lease, if any")
    worker_alive: bool = Field(description="that worker's heartbeat is current")
    snoozed_until: datetime | None
    snoozed_by: str | None
    last_alert_at: datetime | None
    last_read_at: datetime | None


class SnoozeIn(BaseModel):
    """Silence a camera (e.g. being repaired) for a while; it ends by itself."""

    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(gt=0, le=7 * 24 * 60, description="how long, at most a week")
    reason: str = Field(default="", max_length=500)


def _camera(svc: Svc, scope: Scope, camera_id: str) -> Camera:
    cams = {c.id: c for c in (svc.site.cameras if svc.site else [])}
    cam = cams.get(camera_id)
    if cam is None or not scope.allows(cam.compound):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r} among the compounds you see"
        )
    return cam


def _leases(svc: Svc, ids: list[str]) -> tuple[list[str | None], set[str]]:
    try:
        owners = svc.redis.mget([keys.camera_lease(i) for i in ids]) if ids else []
        now_ms = int(float(svc.redis.time()[0]) * 1000)
        alive = set(svc.redis.zrangebyscore(keys.WORKERS, now_ms, "+inf"))
    except (redis.RedisError, OSError):
        return [None] * len(ids), set()
    return [str(o) if o is not None else None for o in owners], {str(a) for a in alive}


@router.get("", response_model=list[CameraOut], responses=errors(401, 403))
def cameras(scope: Scoped, svc: Svc) -> list[CameraOut]:
    """The site's cameras in your compounds, with lease, snooze and last activity."""
    cams = [c for c in (svc.site.cameras if svc.site else []) if scope.allows(c.compound)]
    ids = [c.id for c in cams]
    owners, alive = _leases(svc, ids)
    with svc.tx() as s:
        snz = snoozes.active(s)
        last_alert = {
            str(c): t
            for c, t in s.execute(
                select(Incident.camera, func.max(Incident.created_at))
                .where(Incident.camera.in_(ids))
                .group_by(Incident.camera)
            )
        }
        last_read = {
            str(c): t
            for c, t in s.execute(
                select(VehicleRead.camera, func.max(VehicleRead.read_at))
                .where(VehicleRead.camera.in_(ids))
                .group_by(VehicleRead.camera)
            )
        }
    out = []
    for cam, owner in zip(cams, owners, strict=True):
        sz = snz.get(cam.id)
        out.append(
            CameraOut(
                id=cam.id,
                name=cam.name or cam.id,
                compound=cam.compound,
                gate=cam.placement.gate,
                enabled=cam.enabled,
                worker=owner,
                worker_alive=owner is not None and owner in alive,
                snoozed_until=sz.until if sz else None,
                snoozed_by=sz.by if sz else None,
                last_alert_at=_aware(last_alert.get(cam.id)),
                last_read_at=_aware(last_read.get(cam.id)),
            )
        )
    return out


def _aware(t: object) -> datetime | None:
    from datetime import UTC

    if not isinstance(t, datetime):
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


@router.put("/{camera_id}/snooze", response_model=CameraOut, responses=errors(401, 403, 404, 422))
def snooze(
    camera_id: CameraId, body: SnoozeIn, scope: Scoped, svc: Svc, request: Request
) -> CameraOut:
    """Silence the camera for ``minutes``: its alerts are stored but not pushed."""
    cam = _camera(svc, scope, camera_id)
    with svc.tx() as s:
        snoozes.snooze(s, cam.id, minutes=body.minutes, by=scope.user.name, reason=body.reason)
        audit.append(
            s,
            actor=scope.user.name,
            action="camera.snooze",
            target=cam.id,
            detail={"minutes": body.minutes, "reason": body.reason},
            source=client_address(request),
        )
    return next(c for c in cameras(scope, svc) if c.id == cam.id)


@router.delete("/{camera_id}/snooze", response_model=CameraOut, responses=errors(401, 403, 404))
def unsnooze(camera_id: CameraId, scope: Scoped, svc: Svc, request: Request) -> CameraOut:
    """End the camera's snooze now."""
    cam = _camera(svc, scope, camera_id)
    with svc.tx() as s:
        if snoozes.unsnooze(s, cam.id):
            audit.append(
                s,
                actor=scope.user.name,
                action="camera.unsnooze",
                target=cam.id,
                source=client_address(request),
            )
    return next(c for c in cameras(scope, svc) if c.id == cam.id)
