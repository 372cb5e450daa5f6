"""The audit log (``/api/audit``): auditors and admins read it and verify its chain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from alerts.store import audit
from alerts.store.audit import AuditEntry
from alerts.store.users import User
from api.deps import Svc, errors, require_roles

router = APIRouter(prefix="/api/audit", tags=["audit"])

Reader = Annotated[User, Depends(require_roles("auditor", "admin"))]


class AuditOut(BaseModel):
    """One audit entry."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    source: str
    detail: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    """Entries newest first."""

    items: list[AuditOut]
    next_cursor: int | None


class VerifyOut(BaseModel):
    """The chain check."""

    ok: bool
    checked: int
    first_bad: int | None
    problem: str


@router.get("", response_model=AuditPage, responses=errors(401, 403, 422))
def audit_log(
    user: Reader,
    svc: Svc,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. incident.close")] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Entries newest first, filtered by who, what and on what."""
    q = select(AuditEntry)
    for col, val in (
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
        (AuditEntry.target, target),
    ):
        if val is not None:
            q = q.where(col == val)
    if cursor is not None:
        q = q.where(AuditEntry.seq < cursor)
    with svc.tx() as s:
        rows = list(s.execute(q.order_by(AuditEntry.seq.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AuditOut(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            source=e.source,
            detail=json.loads(e.detail),
            hash=e.hash,
        )
        for e in rows
    ]
    return AuditPage(items=items, next_cursor=rows[-1].seq if more and rows else None)


@router.get("/verify", response_model=VerifyOut, responses=errors(401, 403))
def verify(user: Reader, svc: Svc) -> VerifyOut:
    """Walk the hash chain; the first changed or removed entry, if any."""
    with svc.factory() as s:
        r = audit.verify(s)
    return VerifyOut(ok=r.ok, checked=r.checked, first_bad=r.first_bad, problem=r.problem)
