"""The alarm desk: the incident table, the detail drawer and the operator's actions.

Thin, like every router: the workflow rules (who may claim, close, which version wins)
are :mod:`alerts.store.workflow`'s; this module turns form posts into its calls and its
refusals into a sentence in the page (409 names who changed the incident first).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import select

from alerts.store import audit, events, queries, snoozes, workflow
from alerts.store.incidents import Incident
from alerts.store.users import User
from api.dashboard.common import (
    SEVERITIES,
    STATES,
    Chosen,
    PageScope,
    compound_names,
    fragment,
    lang_of,
    render,
)
from api.dashboard.i18n import label
from api.dashboard.views import (
    names_of,
    plan_pin,
    row_of_incident,
    why,
    zone_polygon,
)
from api.deps import Scope, Svc, client_address
from api.services import Services

router = APIRouter(tags=["dashboard"])

IncidentId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


def _rows(svc: Services, f: queries.IncidentFilter | None, limit: int = 100) -> list[Any]:
    if f is None:
        return []
    with svc.tx() as s:
        incs, _ = queries.list_incidents(s, f, limit=limit)
        names = names_of(s, {i.assignee_id for i in incs if i.assignee_id is not None})
        return [row_of_incident(i, names) for i in incs]


def latest_stream_id(svc: Services) -> str:
    """The newest alert-stream entry id now ("0-0" when the stream is empty or away)."""
    from alerts import keys

    try:
        last = svc.redis.xrevrange(keys.ALERT_STREAM, count=1)
    except OSError:
        return "0-0"
    except Exception:  # redis errors: the page still renders, the stream catches up
        return "0-0"
    return str(last[0][0]) if last else "0-0"


@router.get("/ui/desk", response_class=HTMLResponse)
def desk(request: Request, scope: PageScope, svc: Svc, f: Chosen) -> Any:
    """The alarm desk (landing page): live incidents newest first, filters, drawer."""
    since = latest_stream_id(svc)
    rows = _rows(svc, f.incident_filter(scope))
    cams = [c for c in (svc.site.cameras if svc.site else []) if scope.allows(c.compound)]
    from alerts.model import ALERT_TYPES

    return render(
        request,
        svc,
        scope.user,
        "desk.html",
        "desk",
        rows=rows,
        since=since,
        compounds=compound_names(svc, scope),
        cameras=cams,
        types=ALERT_TYPES,
        severities=SEVERITIES,
        states=STATES,
        chosen=f.chosen(),
    )


@router.get("/ui/incidents/rows", response_class=HTMLResponse)
def rows(request: Request, scope: PageScope, svc: Svc, f: Chosen) -> str:
    """The table body for the chosen filters (htmx swaps it in)."""
    found = _rows(svc, f.incident_filter(scope))
    return fragment(svc, lang_of(request), "_rows.html", rows=found)


def _get(svc: Services, s: Any, incident_id: str, user: User) -> Incident:
    try:
        return workflow.get_incident(s, incident_id, user)
    except workflow.NotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no incident {incident_id} among the compounds you see (or it is still being stored)",
        ) from None


def drawer_html(svc: Services, lang: str, scope: Scope, incident_id: str, msg: str = "") -> str:
    """The detail drawer of one incident."""
    with svc.tx() as s:
        inc = _get(svc, s, incident_id, scope.user)
        names = names_of(s, {inc.assignee_id} if inc.assignee_id is not None else set())
        row = row_of_incident(inc, names)
        alert = dict(inc.alert)
        loc = alert.get("location") or {}
        ev = {e.kind: e for e in inc.evidence}
        refs = {r.get("kind"): r for r in alert.get("evidence") or []}
        users = []
        if scope.user.role in ("supervisor", "admin"):
            users = [
                str(n)
                for n in s.execute(
                    select(User.name).where(User.active.is_(True)).order_by(User.name)
                ).scalars()
            ]
        activity = [
            {
                "at": a.at,
                "actor": a.actor,
                "action": a.action,
                "to": a.to_state,
                "detail": a.detail,
            }
            for a in inc.activity
        ]
        comments = {c.id: c.text for c in inc.comments}
    # The clean frame with the box drawn over it when the alert has one; older alerts
    # have only the snapshot with the box burnt in (then no box is drawn again).
    picture = ev.get("frame") or ev.get("snapshot")
    snap = refs.get("frame" if "frame" in ev else "snapshot") or {}
    box = snap.get("box") if "frame" in ev else None
    return fragment(
        svc,
        lang,
        "_drawer.html",
        row=row,
        alert=alert,
        loc=loc,
        place=loc.get("place") or {},
        snapshot=picture,
        box=box,
        crop=ev.get("crop"),
        snap_w=snap.get("width"),
        snap_h=snap.get("height"),
        zone=zone_polygon(svc.site, alert),
        pixel=loc.get("pixel"),
        why=why(alert),
        pin=plan_pin(svc.site, inc.compound, inc.lat, inc.lon),
        plan=_plan_of(svc, inc.compound),
        users=users,
        activity=activity,
        comments=comments,
        msg=msg,
        reasons=("confirmed", "duplicate", "test", "other"),
        role=scope.user.role,
    )


def _plan_of(svc: Services, compound: str) -> Any:
    if svc.site is None:
        return None
    try:
        return svc.site.compound(compound).plan
    except KeyError:
        return None


@router.get("/ui/incidents/{incident_id}/drawer", response_class=HTMLResponse)
def drawer(incident_id: IncidentId, request: Request, scope: PageScope, svc: Svc) -> str:
    """The detail drawer (htmx puts it beside the table, which stays in place); audited,
    as it shows personal data (plate readings, face matches)."""
    html = drawer_html(svc, lang_of(request), scope, incident_id)
    with svc.tx() as s:
        audit.append(
            s,
            actor=scope.user.name,
            action="incident.view",
            target=incident_id,
            source=client_address(request),
        )
    return html


@router.get("/ui/incidents/{incident_id}/row", response_class=HTMLResponse)
def row(incident_id: IncidentId, request: Request, scope: PageScope, svc: Svc) -> str:
    """One table row as it is now."""
    with svc.tx() as s:
        inc = _get(svc, s, incident_id, scope.user)
        names = names_of(s, {inc.assignee_id} if inc.assignee_id is not None else set())
        r = row_of_incident(inc, names)
    return fragment(svc, lang_of(request), "_rows.html", rows=[r])


def _holder(svc: Services, incident_id: str) -> str | None:
    with svc.tx() as s:
        inc = s.get(Incident, incident_id)
        if inc is None or inc.assignee_id is None:
            return None
        return names_of(s, {inc.assignee_id}).get(inc.assignee_id)


@router.post("/ui/incidents/{incident_id}/act", response_class=HTMLResponse)
def act(
    incident_id: IncidentId,
    request: Request,
    scope: PageScope,
    svc: Svc,
    action: Annotated[str, Form(max_length=16)],
    version: Annotated[int, Form(ge=1, le=2**31 - 1)],
    reason: Annotated[str, Form(max_length=16)] = "",
    cause: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=2000)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> str:
    """One workflow action from the drawer; answers the drawer as it is afterwards."""
    lang = lang_of(request)
    close = None
    if action == "false_alarm":
        action, reason = "close", "false_alarm"
    if action == "close":
        try:
            details = {"false_alarm": {"cause": cause}, "other": {"text": text}}.get(reason, {})
            close = workflow.close_as(reason, **{k: v for k, v in details.items() if v})
        except ValidationError as exc:
            msg = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, msg) from None
    try:
        with svc.tx() as s:
            who = None
            if action == "assign":
                who = s.execute(select(User).where(User.name == assignee)).scalar()
                if who is None:
                    raise workflow.NotFound(f"no user named {assignee!r} to assign to")
            inc = workflow.transition(
                s,
                incident_id,
                action,
                version=version,
                user=scope.user,
                close=close,
                assignee=who,
                source=client_address(request),
            )
            payload = events.summary(inc)
    except workflow.Conflict as c:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            label(lang, "changed_by", who=c.by, action=label(lang, c.action), version=c.version)
            + f" — {c}",
        ) from None
    except workflow.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except workflow.WorkflowError as exc:
        holder = _holder(svc, incident_id)
        lead = label(lang, "held_by", who=holder) + " — " if holder else ""
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{lead}{exc}") from None
    events.publish(svc.redis, "incident.changed", payload)
    return drawer_html(svc, lang, scope, incident_id, msg=label(lang, "saved"))


@router.post("/ui/incidents/{incident_id}/comment", response_class=HTMLResponse)
def comment(
    incident_id: IncidentId,
    request: Request,
    scope: PageScope,
    svc: Svc,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> str:
    """Add a comment; answers the drawer with it in the activity log."""
    try:
        with svc.tx() as s:
            workflow.add_comment(
                s, incident_id, user=scope.user, text=text, source=client_address(request)
            )
    except workflow.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except workflow.WorkflowError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    lang = lang_of(request)
    return drawer_html(svc, lang, scope, incident_id, msg=label(lang, "saved"))


@router.post("/ui/incidents/{incident_id}/snooze", response_class=HTMLResponse)
def snooze_camera(
    incident_id: IncidentId,
    request: Request,
    scope: PageScope,
    svc: Svc,
    minutes: Annotated[float, Form(gt=0, le=7 * 24 * 60)],
    text: Annotated[str, Form(max_length=500)] = "",
) -> str:
    """Snooze the incident's camera (its alerts are stored, not pushed), audited."""
    with svc.tx() as s:
        inc = _get(svc, s, incident_id, scope.user)
        snoozes.snooze(s, inc.camera, minutes=minutes, by=scope.user.name, reason=text)
        audit.append(
            s,
            actor=scope.user.name,
            action="camera.snooze",
            target=inc.camera,
            detail={"minutes": minutes, "reason": text, "incident": inc.id},
            source=client_address(request),
        )
    lang = lang_of(request)
    return drawer_html(svc, lang, scope, incident_id, msg=label(lang, "saved"))
