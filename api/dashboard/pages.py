"""Login and logout, the language switch, the camera page, the site plan and evidence.

The login form and the static files it needs are the only dashboard routes without a
session (they hold no data). Evidence images are served only for incidents and plate
reads in the user's compounds, re-hashed before they are sent, and every view is
audited (personal data).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from alerts.camera_health import CameraHealth, read_health
from alerts.camera_watch import is_down
from alerts.store import audit, snoozes
from alerts.store.access_log import VehicleRead
from alerts.store.incidents import EvidenceLink, Incident
from alerts.store.users import authenticate, end_session, start_session
from api.dashboard.common import PageScope, PageUser, lang_of, render, templates
from api.dashboard.i18n import label
from api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Scope,
    Svc,
    client_address,
    csrf_protect,
    same_origin,
)
from api.services import Services

public = APIRouter(tags=["dashboard"])
router = APIRouter(tags=["dashboard"])


@public.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """The landing page is the alarm desk."""
    return RedirectResponse("/ui/desk", status.HTTP_303_SEE_OTHER)


@public.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, error: str = "") -> Any:
    """The login form."""
    lang = lang_of(request)
    return templates.TemplateResponse(
        request,
        "login.html",
        {"t": lambda k, **f: label(lang, k, **f), "lang": lang, "error": error[:200]},
    )


@public.post("/ui/login", response_class=HTMLResponse, dependencies=[Depends(same_origin)])
def login(
    request: Request,
    svc: Svc,
    name: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> Any:
    """Check the password, start a session (HttpOnly SameSite=Strict cookie) → the desk."""
    src = client_address(request)
    with svc.tx() as s:
        user = authenticate(s, name, password)
        if user is None:
            audit.append(s, actor=name[:64], action="login.failed", source=src)
            token = ""
        else:
            token = start_session(s, user, ttl_s=svc.settings.session_ttl_s, source=src)
            audit.append(s, actor=user.name, action="login", source=src)
    if not token:
        lang = lang_of(request)
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "t": lambda k, **f: label(lang, k, **f),
                "lang": lang,
                "error": label(lang, "wrong_login"),
            },
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    out = RedirectResponse("/ui/desk", status.HTTP_303_SEE_OTHER)
    ttl, secure = svc.settings.session_ttl_s, svc.settings.cookie_secure
    out.set_cookie(
        SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure
    )
    out.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), max_age=ttl, samesite="strict", secure=secure
    )
    return out


@router.post("/ui/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request, user: PageUser, svc: Svc) -> Response:
    """End the session everywhere; htmx follows ``HX-Redirect`` to the login form."""
    with svc.tx() as s:
        end_session(s, request.cookies.get(SESSION_COOKIE, ""))
        audit.append(s, actor=user.name, action="logout", source=client_address(request))
    out = Response(status_code=status.HTTP_204_NO_CONTENT, headers={"HX-Redirect": "/ui/login"})
    out.delete_cookie(SESSION_COOKIE)
    out.delete_cookie(CSRF_COOKIE)
    return out


@public.get("/ui/lang/{lang}", include_in_schema=False)
def switch_language(lang: Annotated[str, Path(pattern="^(zh|en)$")], request: Request) -> Response:
    """Switch the labels' language and go back to the page."""
    back = request.headers.get("referer") or "/ui/desk"
    if not back.startswith(str(request.base_url)):
        back = "/ui/desk"
    out = RedirectResponse(back, status.HTTP_303_SEE_OTHER)
    out.set_cookie("lang", lang, max_age=365 * 86400, samesite="strict")
    return out


#: The stream's state (streams.health.State) → the page's health word.
_HEALTH_STATE = {
    "streaming": "streaming",
    "connecting": "connecting",
    "reconnecting": "reconnecting",
    "failed": "failed",
    "stopped": "offline",
}


def camera_states(svc: Services, scope: Scope) -> list[dict[str, Any]]:
    """Every camera in the user's compounds with what the workers leave in Redis.

    The worker serving a camera reports its stream health about once a second
    (``alerts.camera_health``): state, fps, last error. A camera no worker reports on is
    offline. Tamper comes from open ``camera.tamper`` incidents, snooze and last activity
    from the store.
    """
    cams = [c for c in (svc.site.cameras if svc.site else []) if scope.allows(c.compound)]
    ids = [c.id for c in cams]
    try:
        reports: dict[str, CameraHealth | None] = read_health(svc.redis, ids)
    except (redis.RedisError, OSError):
        reports = {}
    with svc.tx() as s:
        snz = snoozes.active(s)
        tampered = set(
            s.execute(
                select(Incident.camera).where(
                    Incident.type == "camera.tamper", Incident.state != "closed"
                )
            ).scalars()
        )
        last_alert = dict(
            s.execute(
                select(Incident.camera, func.max(Incident.created_at))
                .where(Incident.camera.in_(ids))
                .group_by(Incident.camera)
            ).all()
        )
        last_read = dict(
            s.execute(
                select(VehicleRead.camera, func.max(VehicleRead.read_at))
                .where(VehicleRead.camera.in_(ids))
                .group_by(VehicleRead.camera)
            ).all()
        )
        snaps: dict[str, str] = {}
        for cam_id in ids:
            sha = s.execute(
                select(EvidenceLink.sha256)
                .join(Incident, Incident.id == EvidenceLink.incident_id)
                .where(Incident.camera == cam_id, EvidenceLink.kind == "snapshot")
                .order_by(Incident.id.desc())
                .limit(1)
            ).scalar()
            if sha:
                snaps[cam_id] = str(sha)
    out: list[dict[str, Any]] = []
    now = time.time()
    for cam in cams:
        report = reports.get(cam.id)
        state = _HEALTH_STATE.get(report.state, "offline") if report else "offline"
        live = not is_down(report, now)
        if cam.id in tampered:
            state = "tampered"
        if cam.id in snz:
            state = "snoozed"
        out.append(
            {
                "cam": cam,
                "state": state,
                "online": live,
                "worker": report.worker if report else None,
                "report": report,
                "snooze": snz.get(cam.id),
                "last_alert": last_alert.get(cam.id),
                "last_read": last_read.get(cam.id),
                "snapshot": snaps.get(cam.id),
            }
        )
    return out


@router.get("/ui/banner", response_class=HTMLResponse)
def banner(request: Request, scope: PageScope, svc: Svc) -> Any:
    """The offline-camera banner every page polls."""
    offline = [c["cam"].name or c["cam"].id for c in camera_states(svc, scope) if not c["online"]]
    lang = lang_of(request)
    if not offline:
        return ""
    text = label(lang, "offline_banner", cams="、".join(offline))
    return f'<div class="banner" role="alert">{_esc(text)}</div>'


def _esc(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


@router.get("/ui/cameras", response_class=HTMLResponse)
def cameras(request: Request, scope: PageScope, svc: Svc) -> Any:
    """Health of every camera the user sees."""
    return render(
        request, svc, scope.user, "cameras.html", "cameras", cams=camera_states(svc, scope)
    )


@router.get("/ui/plan", response_class=HTMLResponse)
def plan(request: Request, scope: PageScope, svc: Svc) -> Any:
    """Each compound's plan with camera icons by health and open incidents as pins."""
    states = {c["cam"].id: c["state"] for c in camera_states(svc, scope)}
    comps = []
    for comp in svc.site.compounds if svc.site else []:
        if not scope.allows(comp.id):
            continue
        pins, cams = [], []
        if comp.plan is not None:
            for cam in svc.site.cameras if svc.site else []:
                if cam.compound == comp.id:
                    x, y = comp.plan.to_pixel(cam.lat, cam.lon)
                    cams.append(
                        {
                            "id": cam.id,
                            "name": cam.name or cam.id,
                            "x": x,
                            "y": y,
                            "state": states.get(cam.id, "offline"),
                            "label": label(lang_of(request), states.get(cam.id, "offline")),
                        }
                    )
            with svc.tx() as s:
                open_incs = s.execute(
                    select(Incident)
                    .where(Incident.compound == comp.id, Incident.state != "closed")
                    .order_by(Incident.id.desc())
                    .limit(200)
                ).scalars()
                for inc in open_incs:
                    x, y = comp.plan.to_pixel(inc.lat, inc.lon)
                    pins.append(
                        {
                            "id": inc.id,
                            "x": x,
                            "y": y,
                            "severity": inc.severity,
                            "summary": inc.summary,
                            "type": inc.type,
                        }
                    )
        comps.append({"c": comp, "cams": cams, "pins": pins})
    return render(request, svc, scope.user, "plan.html", "plan", comps=comps)


@router.get("/ui/plan/{compound}/image", include_in_schema=False)
def plan_image(
    compound: Annotated[str, Path(max_length=64)], scope: PageScope, svc: Svc
) -> Response:
    """The compound's plan image from beside the site file."""
    if svc.site is None or svc.site_dir is None or not scope.allows(compound):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan for compound {compound!r}")
    try:
        plan_cfg = svc.site.compound(compound).plan
    except KeyError:
        plan_cfg = None
    if plan_cfg is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"compound {compound!r} has no plan")
    path = (svc.site_dir / plan_cfg.image).resolve()
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"plan image {plan_cfg.image} not found")
    kind = {".svg": "image/svg+xml", ".png": "image/png"}.get(path.suffix.lower(), "image/jpeg")
    return Response(
        path.read_bytes(), media_type=kind, headers={"Cache-Control": "private, max-age=300"}
    )


@router.get("/ui/evidence/{sha256}", include_in_schema=False)
def evidence(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    request: Request,
    scope: PageScope,
    svc: Svc,
) -> Response:
    """An evidence image of an incident or plate read the user may see; audited."""
    with svc.tx() as s:
        q = select(Incident.compound).join(EvidenceLink, EvidenceLink.incident_id == Incident.id)
        comps = set(s.execute(q.where(EvidenceLink.sha256 == sha256)).scalars())
        comps |= set(
            s.execute(
                select(VehicleRead.compound).where(VehicleRead.crop_sha256 == sha256)
            ).scalars()
        )
        if not any(scope.allows(c) for c in comps):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such evidence among your compounds")
        audit.append(
            s,
            actor=scope.user.name,
            action="evidence.view",
            target=sha256,
            source=client_address(request),
            at=datetime.now(UTC),
        )
    path = svc.evidence.path(sha256)
    try:
        data = path.read_bytes()
    except OSError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "the evidence file is gone (purged?)"
        ) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "evidence file failed its hash check")
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
