"""``GET /api/police/v1/audit``: a client's own audit trail (what it did, when)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from alerts.store.audit import AuditEntry
from api.deps import Svc, errors
from api.police.auth import PREFIX, PoliceRoute
from api.police.common import AuditRead
from api.police.schemas import AuditEntryOut, AuditPage

router = APIRouter(prefix=PREFIX, route_class=PoliceRoute, tags=["police: audit"])


@router.get("/audit", response_model=AuditPage, responses=errors(401, 403, 413, 429))
def trail(
    call: AuditRead,
    svc: Svc,
    before: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="entries older than this seq")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """This client's audit entries, newest first (``next``: pass as ``before``)."""
    q = select(AuditEntry).where(AuditEntry.actor == call.client.id)
    if before is not None:
        q = q.where(AuditEntry.seq < before)
    with svc.read() as s:
        rows = list(s.execute(q.order_by(AuditEntry.seq.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    call.records = len(rows)
    return AuditPage(
        items=[
            AuditEntryOut(
                seq=e.seq,
                at=e.at,
                action=e.action,
                target=e.target,
                detail=json.loads(e.detail),
                hash=e.hash,
            )
            for e in rows
        ],
        next=rows[-1].seq if more and rows else None,
    )
