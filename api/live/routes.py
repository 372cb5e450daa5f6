"""The live view's router: the pages, WebRTC signalling, snapshots, overlay events.

* ``GET /live/{camera}`` - single view, the camera's main stream;
* ``GET /live?cameras=a,b&layout=4|9|16`` - grid, each camera's sub-stream;
* ``POST /api/live/{camera}/offer`` - SDP offer in, answer out (and a session id);
* ``POST /api/live/sessions/{id}/close`` - the viewer leaves;
* ``GET /api/live/{camera}/snapshot.jpg`` - the fallback when WebRTC cannot connect;
* ``GET /api/live/events?cameras=a,b`` - server-sent events: camera status and the
  worker's tracks for the overlay, one stream per page.

Only users whose compounds include the camera pass :func:`watchable` (403 otherwise,
before anything is opened); every session is audited by the hub.
"""

from __future__ import annotations

import asyncio
import html
import json
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from alerts import keys
from alerts.store import audit
from api.deps import SESSION_COOKIE, Scoped, Svc, client_address, csrf_protect, errors
from api.live.hub import LiveError, LiveHub, Variant
from api.services import Services
from shouwang.config import Camera
from shouwang.config.loader import resolve_url

HERE = Path(__file__).parent
LAYOUTS = (4, 9, 16)


def _hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live_hub
    return hub


Hub = Annotated[LiveHub, Depends(_hub)]


def _resolver(svc: Services) -> Any:
    def resolve(camera: str, variant: Variant) -> tuple[str, str]:
        cam = _camera(svc, camera)
        template = cam.detect_url if variant == "sub" and cam.detect_url else cam.url
        return resolve_url(template, base=svc.site_dir), cam.transport

    return resolve


def _auditor(svc: Services) -> Any:
    async def write(actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        detail = dict(detail)
        source = str(detail.pop("source", ""))

        def run() -> None:
            with svc.tx() as s:
                audit.append(
                    s, actor=actor, action=action, target=target, detail=detail, source=source
                )

        await asyncio.to_thread(run)

    return write


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One hub (relay, camera connections, sessions) for the app's life."""
    svc: Services = app.state.services
    app.state.live_hub = LiveHub(svc.settings.live, _resolver(svc), _auditor(svc))
    app.state.live_redis = aioredis.Redis.from_url(
        svc.settings.redis_url, decode_responses=True, socket_timeout=5
    )
    try:
        yield
    finally:
        await app.state.live_hub.close()
        await app.state.live_redis.aclose()


router = APIRouter(tags=["live"], dependencies=[Depends(csrf_protect)], lifespan=lifespan)


def _camera(svc: Services, camera: str) -> Camera:
    for cam in svc.site.cameras if svc.site else ():
        if cam.id == camera and cam.enabled:
            return cam
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no enabled camera {camera!r} in the site")


def watchable(camera: str, scope: Scoped, svc: Svc, request: Request) -> Camera:
    """The camera, when this user's compounds include it.

    Raises:
        HTTPException: 404 for an unknown camera, 403 outside the user's compounds
            (audited as ``live.denied``; nothing is opened).
    """
    cam = _camera(svc, camera)
    if not scope.allows(cam.compound):
        with svc.tx() as s:
            audit.append(
                s,
                actor=scope.user.name,
                action="live.denied",
                target=cam.id,
                detail={"compound": cam.compound},
                source=client_address(request),
            )
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"camera {cam.id} belongs to compound {cam.compound}, which is not among yours",
        )
    return cam


Watchable = Annotated[Camera, Depends(watchable)]


class OfferIn(BaseModel):
    """The browser's SDP offer."""

    sdp: str = Field(min_length=10, max_length=100_000, description="SDP of the offer")
    type: Literal["offer"] = "offer"
    variant: Variant = Field(default="main", description="main (single view) or sub (grids)")


class OfferOut(BaseModel):
    """The answer, and what the page tells the operator about the stream."""

    sdp: str
    type: str
    session: str = Field(description="close it with POST /api/live/sessions/{session}/close")
    mode: str = Field(description="passthrough (H.264 as sent) or transcode")
    codec: str = Field(description="the camera's codec")
    width: int
    height: int


@router.post(
    "/api/live/{camera}/offer",
    response_model=OfferOut,
    responses=errors(401, 403, 404, 409, 422, 503),
)
async def offer(
    body: OfferIn, cam: Watchable, scope: Scoped, hub: Hub, request: Request
) -> OfferOut:
    """Answer the page's WebRTC offer with the camera's live stream through the relay."""
    try:
        session, answer = await hub.offer(
            user=scope.user.name,
            source=client_address(request),
            camera=cam.id,
            variant=body.variant,
            sdp=body.sdp,
            kind=body.type,
        )
    except LiveError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    st = hub.feed_state(cam.id, body.variant)
    return OfferOut(
        sdp=answer.sdp,
        type=answer.type,
        session=session.id,
        mode=session.mode,
        codec=st.codec if st else "",
        width=st.width if st else 0,
        height=st.height if st else 0,
    )


@router.post(
    "/api/live/sessions/{session}/close",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
)
async def close(session: str, scope: Scoped, hub: Hub) -> Response:
    """The viewer leaves (the page calls it on unload); the session's end is audited."""
    s = hub.sessions.get(session)
    if s is None or s.user != scope.user.name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live session of yours")
    await hub.end(session, why="left")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/live/{camera}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **errors(401, 403, 404, 503)},
)
async def snapshot(
    cam: Watchable,
    scope: Scoped,
    hub: Hub,
    request: Request,
    variant: Variant = "main",
    session: str | None = Query(default=None, max_length=64),
) -> Response:
    """The newest picture, for a page whose WebRTC cannot connect (header X-Live-Session)."""
    try:
        s, jpeg = await hub.snapshot(
            user=scope.user.name,
            source=client_address(request),
            camera=cam.id,
            variant=variant,
            session_id=session,
        )
    except LiveError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    return Response(
        jpeg,
        media_type="image/jpeg",
        headers={"X-Live-Session": s.id, "Cache-Control": "no-store"},
    )


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/api/live/events", responses=errors(401, 403, 404, 422))
async def events(
    scope: Scoped,
    svc: Svc,
    hub: Hub,
    request: Request,
    cameras: str = Query(
        max_length=2000,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}(,[a-z0-9][a-z0-9_-]{0,62}){0,15}$",
        description="1 to 16 comma-separated camera ids",
    ),
    variant: Variant = "main",
) -> StreamingResponse:
    """Server-sent events for a page's cameras: ``status`` (online/offline and why) and
    ``tracks`` (the worker's boxes), each with its ``camera``.

    One stream per page, however many tiles: a browser keeps only six HTTP/1.1
    connections to a server, and a 16-tile grid must not use them all up.
    """
    ids = list(dict.fromkeys(c.strip() for c in cameras.split(",") if c.strip()))
    if not 1 <= len(ids) <= max(LAYOUTS):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"cameras: expected 1 to {max(LAYOUTS)} ids"
        )
    cams = [watchable(c, scope, svc, request).id for c in ids]
    r: aioredis.Redis = request.app.state.live_redis
    pause = min(hub.settings.overlay_wait_s, 5.0)

    async def stream() -> AsyncIterator[str]:
        last = {keys.live_tracks(c): "$" for c in cams}
        camera_of = {keys.live_tracks(c): c for c in cams}
        queues: dict[str, asyncio.Queue[dict[str, Any]] | None] = dict.fromkeys(cams)
        yield "retry: 2000\n\n"
        try:
            while not await request.is_disconnected():
                for c, q in queues.items():
                    if q is None:
                        q = queues[c] = hub.listen(c, variant)
                    while q is not None and not q.empty():
                        ev = q.get_nowait()
                        yield _sse(str(ev.pop("event")), {"camera": c, **ev})
                try:
                    got: Any = await r.xread(last, count=8, block=500)  # type: ignore[arg-type]
                except (OSError, aioredis.RedisError) as exc:
                    yield _sse("overlay", {"ok": False, "reason": f"Redis: {type(exc).__name__}"})
                    await asyncio.sleep(pause)
                    continue
                for key, entries in got or ():
                    if entries:
                        last[key] = entries[-1][0]
                        payload = json.loads(entries[-1][1]["tracks"])
                        yield _sse("tracks", {"camera": camera_of[key], **payload})
        finally:
            for c, q in queues.items():
                if q is not None:
                    hub.unlisten(c, variant, q)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


# -- pages ------------------------------------------------------------------------------


def _page(template: str, **values: str) -> HTMLResponse:
    tpl = string.Template((HERE / template).read_text(encoding="utf-8"))
    safe = {k: html.escape(v, quote=True) for k, v in values.items()}
    return HTMLResponse(
        tpl.substitute(safe),
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
            "media-src 'self' blob:; style-src 'self'; script-src 'self'",
        },
    )


def _ice_json(svc: Services) -> str:
    return json.dumps(
        [
            {
                "urls": s.urls,
                **({"username": s.username} if s.username else {}),
                **({"credential": s.credential.get_secret_value()} if s.credential else {}),
            }
            for s in svc.settings.live.ice_servers
        ]
    )


def _login_redirect(request: Request) -> RedirectResponse | None:
    if request.cookies.get(SESSION_COOKIE):
        return None
    return RedirectResponse(f"/login?next={request.url.path}", status.HTTP_303_SEE_OTHER)


@router.get("/live/static/{name}", include_in_schema=False)
def static(name: Literal["live.js", "live.css"]) -> FileResponse:
    """The page's own script and style (no CDN)."""
    return FileResponse(HERE / name, headers={"Cache-Control": "no-cache"})


def page_auth(request: Request) -> None:
    """Pages send a browser without a session to the login page instead of a 401."""
    redirect = _login_redirect(request)
    if redirect is not None:
        raise HTTPException(
            status.HTTP_303_SEE_OTHER,
            "log in first",
            headers={"Location": redirect.headers["location"]},
        )


@router.get(
    "/live",
    response_class=HTMLResponse,
    include_in_schema=False,  # a page for people, not part of the JSON contract
    dependencies=[Depends(page_auth)],
    responses=errors(401, 403),
)
def grid(
    scope: Scoped,
    svc: Svc,
    cameras: str = Query(default="", max_length=2000, description="comma-separated ids"),
    layout: int = Query(default=4, description="4, 9 or 16 tiles"),
) -> HTMLResponse:
    """The grid: up to 4, 9 or 16 cameras of the user's compounds, each on its sub-stream."""
    if layout not in LAYOUTS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "layout: expected 4, 9 or 16")
    mine = [
        c for c in (svc.site.cameras if svc.site else ()) if c.enabled and scope.allows(c.compound)
    ]
    wanted = [c.strip() for c in cameras.split(",") if c.strip()]
    if wanted:
        by_id = {c.id: c for c in mine}
        missing = [w for w in wanted if w not in by_id]
        if missing:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"not among your cameras: {', '.join(missing)}"
            )
        mine = [by_id[w] for w in wanted]
    tiles = [{"id": c.id, "name": c.name or c.id} for c in mine[:layout]]
    return _page(
        "grid.html",
        layout=str(layout),
        cols=str({4: 2, 9: 3, 16: 4}[layout]),
        tiles=json.dumps(tiles, ensure_ascii=False),
        ice=_ice_json(svc),
    )


@router.get(
    "/live/{camera}",
    response_class=HTMLResponse,
    include_in_schema=False,  # a page for people, not part of the JSON contract
    dependencies=[Depends(page_auth)],
    responses=errors(401, 403, 404),
)
def live_page(cam: Watchable, svc: Svc) -> HTMLResponse:
    """Single view: the camera's main stream with the analysis drawn over it."""
    return _page(
        "live.html",
        camera=cam.id,
        name=cam.name or cam.id,
        ice=_ice_json(svc),
    )
