"""Queries: alerts, one alert, the vehicle access log by plate, face watchlist hits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from alerts.model import ALERT_TYPES, Severity
from alerts.store.incidents import STATES, Incident
from alerts.store.queries import MAX_PLATE_DISTANCE, IncidentFilter, list_incidents, lookup_plate
from api.deps import Svc, errors
from api.police.auth import PREFIX, PoliceRoute
from api.police.common import (
    AlertsRead,
    FacesRead,
    Legal,
    VehiclesRead,
    alert_out,
    invalid,
    legal,
)
from api.police.schemas import AlertOut, AlertPage, VehiclePage, VehicleReadOut

router = APIRouter(prefix=PREFIX, route_class=PoliceRoute, tags=["police: queries"])
ID = Annotated[str, Path(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
COMPOUND = Query(max_length=64, description="one compound of the jurisdiction")
AlertType = Annotated[str | None, Query(max_length=32, description=" | ".join(ALERT_TYPES))]
_ERR = errors(401, 403, 404, 413, 429)


def _area(call_area: frozenset[str], compound: str | None) -> frozenset[str]:
    if compound is None:
        return call_area
    if compound not in call_area:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"compound {compound!r} was not found")
    return frozenset({compound})


@router.get("/alerts", response_model=AlertPage, responses=_ERR)
def alerts(
    call: AlertsRead,
    svc: Svc,
    compound: Annotated[str | None, COMPOUND] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    type: AlertType = None,
    severity: Severity | None = None,
    state: Annotated[str | None, Query(max_length=16, description=" | ".join(STATES))] = None,
    plate: Annotated[str | None, Query(max_length=16)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=26)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertPage:
    """Alerts of the jurisdiction, newest first, with the store's filters."""
    area = _area(call.area, compound)
    f = IncidentFilter(
        since=since,
        until=until,
        compounds=area,
        camera=camera,
        type=type,
        severity=severity,
        state=state,
        plate=plate,
    )
    with svc.read() as s:
        rows, nxt = list_incidents(s, f, cursor=cursor, limit=limit, with_alert=True)
        items = [alert_out(i) for i in rows]
    call.records = len(items)
    return AlertPage(items=items, next=nxt)


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=_ERR)
def alert(alert_id: ID, call: AlertsRead, svc: Svc) -> AlertOut:
    """One alert (404 when it is outside the jurisdiction)."""
    call.target = alert_id
    with svc.read() as s:
        inc = s.get(Incident, alert_id)
        if inc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} was not found")
        call.inside(inc.compound, f"alert {alert_id}")
        out = alert_out(inc)
    call.records = 1
    return out


@router.get("/vehicles", response_model=VehiclePage, responses=_ERR)
def vehicles(
    call: VehiclesRead,
    svc: Svc,
    why: Annotated[Legal, Depends(legal)],
    plate: Annotated[str, Query(min_length=2, max_length=16, description="e.g. 宁A12345")],
    max_distance: Annotated[
        float, Query(ge=0, le=MAX_PLATE_DISTANCE, description="0: exact; 1: one edit")
    ] = 1.0,
    compound: Annotated[str | None, COMPOUND] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> VehiclePage:
    """The vehicle access log for a plate (fuzzy, confusion-aware: 0/D, 8/B, 京/豫...).

    Personal data: needs ``X-Case-Number`` and ``X-Legal-Basis``."""
    area = _area(call.area, compound)
    try:
        with svc.read() as s:
            hits, nxt = lookup_plate(
                s,
                plate,
                max_distance=max_distance,
                compounds=area,
                since=since,
                until=until,
                cursor=cursor,
                limit=limit,
            )
    except ValueError as exc:
        invalid(("query", "plate"), str(exc), plate)
    call.records = len(hits)
    items = [
        VehicleReadOut(
            id=h.read.id,
            plate=h.read.plate,
            distance=h.distance,
            confidence=h.read.confidence,
            camera=h.read.camera,
            compound=h.read.compound,
            gate=h.read.gate,
            direction=h.read.direction,
            read_at=h.read.read_at,
            crop_sha256=h.read.crop_sha256,
        )
        for h in hits
    ]
    return VehiclePage(items=items, next=nxt)


@router.get("/faces/hits", response_model=AlertPage, responses=_ERR)
def face_hits(
    call: FacesRead,
    svc: Svc,
    why: Annotated[Legal, Depends(legal)],
    compound: Annotated[str | None, COMPOUND] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=26)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertPage:
    """Face watchlist hits (``face.watchlist`` alerts) of the jurisdiction.

    Personal data: needs ``X-Case-Number`` and ``X-Legal-Basis``."""
    area = _area(call.area, compound)
    f = IncidentFilter(since=since, until=until, compounds=area, type="face.watchlist")
    with svc.read() as s:
        rows, nxt = list_incidents(s, f, cursor=cursor, limit=limit, with_alert=True)
        items = [alert_out(i) for i in rows]
    call.records = len(items)
    return AlertPage(items=items, next=nxt)
