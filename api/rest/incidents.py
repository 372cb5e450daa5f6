"""Incidents (``/api/incidents``): list with filters, get, transitions, comments, hold.

Thin: input is checked here, the rules live in :mod:`alerts.store.workflow`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, NoReturn

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.store import audit, events, queries, workflow
from alerts.store.incidents import Incident
from alerts.store.users import User
from api.deps import Scoped, Svc, client_address, errors, require_aware
from api.rest.schemas import (
    ActivityOut,
    CommentIn,
    CommentOut,
    ConflictOut,
    EvidenceOut,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    LegalHoldIn,
    TransitionIn,
    UpdateOut,
)

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

IncidentId = Annotated[
    str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="the incident's alert ULID")
]
_SEVERITY = r"^(info|low|medium|high|critical)$"
_STATE = r"^(new|acknowledged|in_progress|on_hold|closed)$"


def _names(s: Session, incs: list[Incident]) -> dict[int, str]:
    ids = sorted({i.assignee_id for i in incs if i.assignee_id is not None})
    if not ids:
        return {}
    return {
        int(i): str(n) for i, n in s.execute(select(User.id, User.name).where(User.id.in_(ids)))
    }


def _detail(s: Session, inc: Incident) -> IncidentDetail:
    base = IncidentOut.of(inc, _names(s, [inc]))
    return IncidentDetail(
        **base.model_dump(),
        alert=inc.alert,
        evidence=[EvidenceOut.model_validate(e) for e in inc.evidence],
        updates=[UpdateOut.model_validate(u) for u in inc.updates],
        activity=[ActivityOut.model_validate(a) for a in inc.activity],
        comments=[CommentOut.model_validate(c) for c in inc.comments],
    )


def _raise(exc: workflow.WorkflowError) -> NoReturn:
    if isinstance(exc, workflow.NotFound):
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


@router.get("", response_model=IncidentPage, responses=errors(401, 403, 422))
def list_incidents(
    scope: Scoped,
    svc: Svc,
    request: Request,
    since: Annotated[datetime | None, Query(description="created at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="created before (ISO 8601)")] = None,
    compound: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=32, description="alert type")] = None,
    severity: Annotated[str | None, Query(pattern=_SEVERITY)] = None,
    state: Annotated[str | None, Query(pattern=_STATE)] = None,
    plate: Annotated[str | None, Query(max_length=16, description="exact plate")] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="next_cursor")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> IncidentPage:
    """Incidents newest first, in the compounds you can see, filtered, one page at a time."""
    require_aware(since=since, until=until)
    comps = scope.compounds
    if compound is not None:
        if not scope.allows(compound):
            return IncidentPage(items=[], next_cursor=None)
        comps = frozenset({compound})
    f = queries.IncidentFilter(
        since=since,
        until=until,
        compounds=comps,
        camera=camera,
        type=type,
        severity=severity,
        state=state,
        plate=plate,
    )
    with svc.tx() as s:
        rows, nxt = queries.list_incidents(
            s, f, cursor=cursor, limit=limit or svc.settings.page_limit
        )
        names = _names(s, rows)
        items = [IncidentOut.of(i, names) for i in rows]
        if plate is not None:  # a search for a vehicle is an access to personal data
            audit.append(
                s,
                actor=scope.user.name,
                action="incidents.search",
                target=plate,
                detail={"results": len(items)},
                source=client_address(request),
            )
    return IncidentPage(items=items, next_cursor=nxt)


@router.get("/{incident_id}", response_model=IncidentDetail, responses=errors(401, 403, 404))
def get_incident(
    incident_id: IncidentId, scope: Scoped, svc: Svc, request: Request
) -> IncidentDetail:
    """One incident with its alert, evidence, every update, activity and comments (audited:
    it shows the plate or the matched person)."""
    with svc.tx() as s:
        try:
            inc = workflow.get_incident(s, incident_id, scope.user)
        except workflow.WorkflowError as exc:
            _raise(exc)
        audit.append(
            s,
            actor=scope.user.name,
            action="incident.view",
            target=inc.id,
            source=client_address(request),
        )
        return _detail(s, inc)


@router.post(
    "/{incident_id}/transitions",
    response_model=IncidentDetail,
    responses={**errors(401, 403, 404, 422), 409: {"model": ConflictOut}},
)
def transition(
    incident_id: IncidentId, body: TransitionIn, scope: Scoped, svc: Svc, request: Request
) -> IncidentDetail | JSONResponse:
    """Claim (acknowledge), start, hold, close (with a reason), reopen or assign.

    Send the ``version`` you saw: if someone changed the incident since, the answer is
    409 naming who changed it and how, and nothing is changed.
    """
    try:
        with svc.tx() as s:
            assignee = None
            if body.assignee is not None:
                assignee = s.execute(select(User).where(User.name == body.assignee)).scalar()
                if assignee is None:
                    raise workflow.NotFound(f"no user named {body.assignee!r} to assign to")
            inc = workflow.transition(
                s,
                incident_id,
                body.action,
                version=body.version,
                user=scope.user,
                close=body.close,
                assignee=assignee,
                source=client_address(request),
            )
            out = _detail(s, inc)
            payload = events.summary(inc)
    except workflow.Conflict as c:
        return JSONResponse(
            ConflictOut(
                detail=str(c),
                changed_by=c.by,
                action=c.action,
                at=c.at,
                current_version=c.current_version,
                state=c.state,
            ).model_dump(mode="json"),
            status_code=status.HTTP_409_CONFLICT,
        )
    except workflow.WorkflowError as exc:
        _raise(exc)
    events.publish(svc.redis, "incident.changed", payload)
    return out


@router.post(
    "/{incident_id}/comments",
    response_model=CommentOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def comment(
    incident_id: IncidentId, body: CommentIn, scope: Scoped, svc: Svc, request: Request
) -> CommentOut:
    """Add a comment (comments need no version: they never conflict)."""
    try:
        with svc.tx() as s:
            c = workflow.add_comment(
                s, incident_id, user=scope.user, text=body.text, source=client_address(request)
            )
            return CommentOut.model_validate(c)
    except workflow.WorkflowError as exc:
        _raise(exc)


@router.put(
    "/{incident_id}/legal-hold",
    response_model=IncidentOut,
    responses=errors(401, 403, 404, 422),
)
def legal_hold(
    incident_id: IncidentId, body: LegalHoldIn, scope: Scoped, svc: Svc, request: Request
) -> IncidentOut:
    """Supervisors and admins: stop (or allow again) every deletion of this incident."""
    try:
        with svc.tx() as s:
            inc = workflow.set_legal_hold(
                s,
                incident_id,
                user=scope.user,
                hold=body.hold,
                note=body.note,
                source=client_address(request),
            )
            return IncidentOut.of(inc, _names(s, [inc]))
    except workflow.WorkflowError as exc:
        _raise(exc)
