"""The desk's live feed: one server-sent-event stream per tab (``GET /ui/stream``).

Two sources, merged into one stream:

* the durable alert stream (``keys.ALERT_STREAM``), read with ``XREAD`` from the entry
  the tab saw last. Each ``alert`` event's id **is the stream entry id**, so a tab that
  reconnects (network blip, server restart) sends ``Last-Event-ID`` and gets exactly the
  entries it missed, in order, none twice. The first connection passes ``?since=`` (the
  stream's last id when the page was rendered), so nothing between render and connect
  is lost either.
* operators' actions (``keys.INCIDENT_CHANNEL``, Pub/Sub): ``changed`` events carry no
  id, so they leave the tab's position in the alert stream alone; after a reconnect the
  page reloads its rows once to pick up the actions it missed.

Every event is filtered by the user's compounds before it is sent; alerts of snoozed
cameras are not pushed (they are stored, as the store consumer does). Rows are rendered
here, in the user's language, so the page only inserts them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import redis.asyncio as aredis
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from alerts import keys
from alerts.store import snoozes
from alerts.store.incidents import Incident
from api.dashboard.common import PageScope, fragment, lang_of
from api.dashboard.views import names_of, row_of_alert, row_of_incident
from api.deps import Scope
from api.services import Services

log = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"])

_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
#: How many missed entries one reconnect replays at most (older ones: reload the page).
REPLAY_MAX = 1000
KEEPALIVE_S = 15.0
QUEUE_MAX = 2000
BLOCK_MS = 5000


def _sse(event: str, data: dict[str, Any], entry_id: str | None = None) -> str:
    head = f"id: {entry_id}\n" if entry_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _Snoozed:
    """The snoozed cameras, re-read from the store at most every few seconds."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.at = 0.0
        self.cams: set[str] = set()

    def get(self) -> set[str]:
        if time.monotonic() - self.at > 5.0:
            with self.svc.tx() as s:
                self.cams = set(snoozes.active(s))
            self.at = time.monotonic()
        return self.cams


def _alert_events(
    svc: Services, scope: Scope, lang: str, entries: list[Any], snoozed: _Snoozed
) -> list[str]:
    """SSE text for stream entries the user may see (runs in a worker thread)."""
    alerts: list[tuple[str, dict[str, Any]]] = []
    for entry_id, fields in entries:
        try:
            alert = json.loads(fields["alert"])
        except (KeyError, ValueError):
            continue  # the store consumer dead-letters it; nothing to show
        if scope.allows(str(alert.get("compound"))):
            alerts.append((str(entry_id), alert))
    if not alerts:
        return []
    muted = snoozed.get()
    out = []
    with svc.tx() as s:
        ids = sorted({str(a["id"]) for _, a in alerts})
        incs = {i.id: i for i in s.query(Incident).filter(Incident.id.in_(ids))}
        names = names_of(s, {i.assignee_id for i in incs.values() if i.assignee_id is not None})
        for entry_id, alert in alerts:
            if alert.get("camera") in muted:
                continue
            row = row_of_alert(alert, incs.get(str(alert["id"])), names)
            stages = (alert.get("times") or {}).get("stages") or {}
            html = fragment(svc, lang, "_rows.html", rows=[row], fresh=True)
            out.append(
                _sse(
                    "alert",
                    {
                        "id": row.id,
                        "severity": row.severity,
                        "update": row.update_count,
                        "published": stages.get("published"),
                        "html": html,
                    },
                    entry_id,
                )
            )
    return out


def _changed_event(svc: Services, scope: Scope, lang: str, incident_id: str) -> str | None:
    with svc.tx() as s:
        inc = s.get(Incident, incident_id)
        if inc is None or not scope.allows(inc.compound):
            return None
        names = names_of(s, {inc.assignee_id} if inc.assignee_id is not None else set())
        row = row_of_incident(inc, names)
    html = fragment(svc, lang, "_rows.html", rows=[row])
    return _sse("changed", {"id": row.id, "state": row.state, "version": row.version, "html": html})


def _client(svc: Services) -> aredis.Redis:
    # The read timeout must outlast XREAD's BLOCK; Pub/Sub reads wait indefinitely.
    return aredis.Redis.from_url(
        svc.settings.redis_url, decode_responses=True, socket_timeout=BLOCK_MS / 1000 + 10
    )


async def _read_alerts(
    svc: Services, scope: Scope, lang: str, since: str, q: asyncio.Queue[str]
) -> None:
    client = _client(svc)
    snoozed = _Snoozed(svc)
    last = since
    try:
        while last == "$":  # resolve now: a later "$" would skip what arrived in between
            try:
                newest = await client.xrevrange(keys.ALERT_STREAM, count=1)
                last = str(newest[0][0]) if newest else "0-0"
            except (aredis.RedisError, OSError) as exc:
                log.warning("desk stream: Redis unavailable (%s); retrying", exc)
                await asyncio.sleep(1.0)
        first = True
        while True:
            try:
                count = REPLAY_MAX if first else 200
                res = cast(
                    "list[tuple[str, list[tuple[str, dict[str, str]]]]] | None",
                    await client.xread({keys.ALERT_STREAM: last}, count=count, block=BLOCK_MS),
                )
            except (aredis.RedisError, OSError) as exc:
                log.warning("desk stream: Redis unavailable (%s); retrying", exc)
                await q.put(_sse("status", {"redis": "unavailable"}))
                await asyncio.sleep(1.0)
                continue
            first = False
            for _, entries in res or []:
                if not entries:
                    continue
                last = str(entries[-1][0])
                for text in await asyncio.to_thread(
                    _alert_events, svc, scope, lang, entries, snoozed
                ):
                    await q.put(text)
    finally:
        await client.aclose()


async def _read_changes(svc: Services, scope: Scope, lang: str, q: asyncio.Queue[str]) -> None:
    client = aredis.Redis.from_url(
        svc.settings.redis_url, decode_responses=True, socket_timeout=None
    )
    pubsub = client.pubsub()
    try:
        while True:
            try:
                await pubsub.subscribe(keys.INCIDENT_CHANNEL)
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        ev = json.loads(msg["data"])
                        inc_id = str(ev["incident"]["id"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if ev.get("event") not in ("incident.changed", "incident.escalated"):
                        continue  # created/updated arrive through the alert stream
                    text = await asyncio.to_thread(_changed_event, svc, scope, lang, inc_id)
                    if text:
                        await q.put(text)
            except (aredis.RedisError, OSError) as exc:
                log.warning("desk stream: incident channel unavailable (%s); retrying", exc)
                await asyncio.sleep(1.0)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def _events(request: Request, svc: Services, scope: Scope, since: str) -> AsyncIterator[str]:
    q: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_MAX)
    lang = lang_of(request)
    tasks = [
        asyncio.create_task(_read_alerts(svc, scope, lang, since, q)),
        asyncio.create_task(_read_changes(svc, scope, lang, q)),
    ]
    try:
        now = datetime.now(UTC).isoformat()
        yield "retry: 1000\n" + _sse("hello", {"since": since, "at": now})
        while True:
            if await request.is_disconnected():
                return
            try:
                yield await asyncio.wait_for(q.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@router.get("/ui/stream")
async def stream(
    request: Request,
    scope: PageScope,
    since: Annotated[str | None, Query(max_length=42)] = None,
    last_event_id: Annotated[str | None, Header(max_length=42)] = None,
) -> StreamingResponse:
    """Server-sent events for the desk: ``alert`` (id = stream entry id), ``changed``."""
    svc: Services = request.app.state.services
    start = last_event_id or since or "$"
    if start != "$" and not _ENTRY_ID.match(start):
        start = "$"
    return StreamingResponse(
        _events(request, svc, scope, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
