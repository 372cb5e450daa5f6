"""The vehicle access log (``/api/vehicles``): "when did 宁A12345 last enter?".

Plate lookups use the plate lists' confusion-aware match, so ``宁A1Z345`` finds
``宁A12345``. Every lookup is audited (plates are personal data).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from alerts.store import audit, queries
from api.deps import Scoped, Svc, client_address, errors, require_aware

router = APIRouter(prefix="/api/vehicles", tags=["vehicles"])


class VehicleReadOut(BaseModel):
    """One plate read at a gate."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    plate: str
    confidence: float
    low_confidence: bool
    camera: str
    compound: str
    gate: str | None
    direction: str | None
    read_at: datetime
    crop_sha256: str | None = Field(description="fetch at /api/evidence/{sha256}")
    list_id: str | None
    list_kind: str | None
    distance: float = Field(default=0.0, description="weighted distance to the plate asked")


class VehicleReadPage(BaseModel):
    """Reads newest first."""

    items: list[VehicleReadOut]
    next_cursor: str | None


@router.get("", response_model=VehicleReadPage, responses=errors(401, 403, 422))
def vehicle_reads(
    scope: Scoped,
    svc: Svc,
    request: Request,
    plate: Annotated[
        str | None, Query(min_length=2, max_length=16, description="plate, e.g. 宁A12345")
    ] = None,
    max_distance: Annotated[
        float,
        Query(ge=0, le=queries.MAX_PLATE_DISTANCE, description="0 = exact up to confusions"),
    ] = 1.0,
    since: Annotated[datetime | None, Query(description="read at or after")] = None,
    until: Annotated[datetime | None, Query(description="read before")] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="next_cursor")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> VehicleReadPage:
    """Reads of a plate (fuzzy, as the plate lists match) or all reads, newest first."""
    require_aware(since=since, until=until)
    with svc.tx() as s:
        if plate is not None:
            try:
                hits, nxt = queries.lookup_plate(
                    s,
                    plate,
                    max_distance=max_distance,
                    compounds=scope.compounds,
                    since=since,
                    until=until,
                    cursor=cursor,
                    limit=limit,
                )
            except ValueError as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
            items = [
                VehicleReadOut.model_validate(h.read).model_copy(update={"distance": h.distance})
                for h in hits
            ]
        else:
            rows, nxt = queries.list_reads(
                s,
                compounds=scope.compounds,
                since=since,
                until=until,
                cursor=cursor,
                limit=limit,
            )
            items = [VehicleReadOut.model_validate(r) for r in rows]
        audit.append(
            s,
            actor=scope.user.name,
            action="vehicles.lookup",
            target=plate or "",
            detail={"max_distance": max_distance, "results": len(items)},
            source=client_address(request),
        )
    return VehicleReadPage(items=items, next_cursor=nxt)
