"""Signed pushes to police subscriptions (Standard Webhooks), nothing lost.

Two halves, both restartable at any point:

* :class:`Fanout` reads the alert stream through its own consumer group
  (:data:`alerts.keys.POLICE_GROUP`) and queues one :class:`PushDelivery` row per
  matching subscription in the database, then acknowledges the entry. The row id is the
  ``webhook-id`` (``msg_<alert id>_<update>_<subscription>``), so a redelivered entry
  queues nothing twice.
* :class:`Sender` posts due rows, signed per the Standard Webhooks spec
  (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256
  of "id.timestamp.body">``). A failed try is retried with exponential backoff and full
  jitter (:func:`backoff`), by default over 3.7 to 7.4 hours; after the last try the row
  is ``dead`` (the dead-letter list) until replayed through the API.

A receiver that is down simply gets its rows later, oldest first; the ``webhook-id``
stays the same on every try and replay, so it drops what it already has.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.consumer import AlertConsumer
from alerts.model import SEVERITY_RANK, Alert, FaceSubject, PlateSubject
from alerts.police.models import PoliceClient, PushDelivery, Subscription, WatchOrder
from alerts.store import audit
from alerts.store.db import transaction

log = logging.getLogger(__name__)


class PushPolicy(BaseModel):
    """How pushes are retried."""

    model_config = ConfigDict(extra="forbid")

    base_s: float = Field(default=10, gt=0, le=3600, description="first retry delay, seconds")
    max_delay_s: float = Field(default=3600, gt=0, le=86_400, description="longest delay")
    max_attempts: int = Field(default=16, ge=1, le=50, description="tries before dead-letter")
    timeout_s: float = Field(default=10, gt=0, le=120, description="per request")
    batch: int = Field(default=100, ge=1, le=1000, description="rows claimed per round")
    parallel: int = Field(default=8, ge=1, le=64, description="requests in flight")
    lease_s: float = Field(
        default=120,
        gt=0,
        le=3600,
        description="a claimed row is retried after this if its sender died mid-try",
    )


def backoff(attempt: int, policy: PushPolicy, rng: random.Random | None = None) -> float:
    """Delay before try ``attempt + 1`` after ``attempt`` failures: full jitter over an
    exponential ceiling (``base * 2**(attempt-1)``, capped), never under half of it."""
    ceiling = min(policy.max_delay_s, policy.base_s * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def new_secret() -> str:
    """A fresh Standard Webhooks signing secret, ``whsec_<base64 of 32 bytes>``."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def public_alert(alert: Alert) -> dict[str, Any]:
    """The alert as police clients see it: evidence by hash, no internal file paths."""
    doc = alert.model_dump(mode="json")
    for ev in doc.get("evidence", []):
        ev.pop("uri", None)
    return doc


def body_for(event: str, alert: Alert, at: datetime, **extra: Any) -> str:
    """The JSON body of a push (Standard Webhooks shape: type, timestamp, data)."""
    data = public_alert(alert) | extra
    return json.dumps(
        {"type": event, "timestamp": at.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


@dataclass(frozen=True, slots=True)
class Target:
    """A subscription able to receive pushes, with its client's jurisdiction."""

    sub: Subscription
    client: PoliceClient
    area: frozenset[str]


def wants(t: Target, alert: Alert) -> bool:
    """Whether the subscription's filters and its client's jurisdiction take the alert."""
    s = t.sub
    if alert.compound not in t.area:
        return False
    if s.compounds and alert.compound not in s.compounds:
        return False
    if s.types and alert.type not in s.types:
        return False
    return SEVERITY_RANK[alert.severity] >= SEVERITY_RANK.get(s.min_severity, 0)


class Fanout:
    """Alert stream → one queued delivery per matching subscription.

    Args:
        factory: store sessions.
        client: Redis (decode_responses=True).
        area_of: a client's jurisdiction (compound ids).
        start_id: where a new group starts (``"$"``: only alerts from now on).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        client: redis.Redis,
        *,
        area_of: Callable[[PoliceClient], frozenset[str]],
        consumer: str = "push-1",
        start_id: str = "$",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.factory = factory
        self.area_of = area_of
        self.clock = clock or (lambda: datetime.now(UTC))
        self.group = AlertConsumer(
            client, group=keys.POLICE_GROUP, consumer=consumer, start_id=start_id
        )
        self.queued = 0

    def _targets(self, s: Session) -> list[Target]:
        rows = s.execute(
            select(Subscription, PoliceClient)
            .join(PoliceClient, PoliceClient.id == Subscription.client_id)
            .where(Subscription.active.is_(True), PoliceClient.revoked_at.is_(None))
        ).all()
        return [Target(sub, cl, self.area_of(cl)) for sub, cl in rows]

    def _orders(self, s: Session, now: datetime) -> dict[tuple[str, str, str], list[WatchOrder]]:
        """Orders in force by (compound, kind, what a hit names: the plate, or for a face
        the order id)."""
        out: dict[tuple[str, str, str], list[WatchOrder]] = {}
        for o in s.execute(
            select(WatchOrder).where(WatchOrder.ended_at.is_(None), WatchOrder.expires_at > now)
        ).scalars():
            ident = o.id if o.kind == "face" else o.plate or ""
            for c in o.compounds:
                out.setdefault((c, o.kind, ident), []).append(o)
        return out

    def step(self, block_ms: int | None = None) -> int:
        """Queue what the stream has now; returns deliveries queued."""
        got = self.group.read(count=200, block_ms=block_ms)
        if not got:
            return 0
        now = self.clock()
        queued = 0
        with transaction(self.factory) as s:
            targets = self._targets(s)
            orders = self._orders(s, now)
            for d in got:
                queued += self._queue(s, d.alert, targets, orders, now)
        self.group.ack(*[d.entry_id for d in got])
        self.queued += queued
        return queued

    def _queue(
        self,
        s: Session,
        alert: Alert,
        targets: list[Target],
        orders: dict[tuple[str, str, str], list[WatchOrder]],
        now: datetime,
    ) -> int:
        subj = alert.subject
        event = "alert.created" if alert.update_count == 0 else "alert.updated"
        picks: list[tuple[Target, str, dict[str, Any]]] = []
        hit: list[WatchOrder] | None = None
        if isinstance(subj, PlateSubject) and subj.list_id == keys.POLICE_PLATE_LIST:
            hit = orders.get((alert.compound, "plate", subj.list_entry or ""), [])
        elif isinstance(subj, FaceSubject) and subj.watchlist_id == keys.POLICE_FACE_LIST:
            hit = orders.get((alert.compound, "face", subj.person_id), [])
        if hit is not None:
            # A watch order hit goes to the ordering client only, whatever its filters.
            owners = {o.client_id: o for o in hit}
            picks = [
                (t, "watch.hit", {"watch_order_id": owners[t.client.id].id})
                for t in targets
                if t.client.id in owners and alert.compound in t.area
            ]
        else:
            picks = [(t, event, {}) for t in targets if wants(t, alert)]
        n = 0
        for t, ev, extra in picks:
            msg_id = f"msg_{alert.id}_{alert.update_count}_{t.sub.id}"
            if s.get(PushDelivery, msg_id) is not None:
                continue  # a redelivered stream entry: queued already
            s.add(
                PushDelivery(
                    id=msg_id,
                    subscription_id=t.sub.id,
                    alert_id=alert.id,
                    event=ev,
                    payload=body_for(ev, alert, now, **extra),
                    status="pending",
                    attempts=0,
                    next_at=now,
                    created_at=now,
                    last_error="",
                )
            )
            n += 1
        s.flush()
        return n


@dataclass(frozen=True, slots=True)
class _Job:
    id: str
    url: str
    secret: str
    payload: str
    client_id: str
    alert_id: str
    attempts: int


class Sender:
    """Posts due deliveries, retries with backoff, dead-letters after the last try.

    Args:
        clock: "now" for scheduling (tests move it forward instead of waiting); the
            ``webhook-timestamp`` is always the real time of the try, as receivers
            check it against their own clock.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        policy: PushPolicy | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        http: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.factory = factory
        self.policy = policy or PushPolicy()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.http = http or httpx.Client(timeout=self.policy.timeout_s, follow_redirects=False)
        self.rng = rng or random.Random()
        self.pool = ThreadPoolExecutor(self.policy.parallel, thread_name_prefix="police-push")
        self.sent = 0
        self.failed = 0
        self.dead = 0

    def close(self) -> None:
        """Stop the request threads and the HTTP client."""
        self.pool.shutdown(wait=True)
        self.http.close()

    def _claim(self, now: datetime) -> list[_Job]:
        with transaction(self.factory) as s:
            rows = s.execute(
                select(PushDelivery, Subscription)
                .join(Subscription, Subscription.id == PushDelivery.subscription_id)
                .where(PushDelivery.status == "pending", PushDelivery.next_at <= now)
                .order_by(PushDelivery.next_at, PushDelivery.id)
                .limit(self.policy.batch)
                .with_for_update(skip_locked=True, of=PushDelivery)
            ).all()
            lease = now + timedelta(seconds=self.policy.lease_s)
            jobs = []
            for d, sub in rows:
                d.next_at = lease  # another sender leaves it alone while we try
                jobs.append(
                    _Job(
                        d.id, sub.url, sub.secret, d.payload, sub.client_id, d.alert_id, d.attempts
                    )
                )
        return jobs

    def _post(self, job: _Job) -> str | None:
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": job.id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(job.secret, job.id, ts, job.payload),
            "user-agent": "Shouwang-Push/1",
        }
        try:
            res = self.http.post(job.url, content=job.payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return f"{exc.__class__.__name__}: {str(exc)[:200]}"
        if 200 <= res.status_code < 300:
            return None
        return f"HTTP {res.status_code}"

    def step(self) -> int:
        """Try every due delivery once; returns how many were tried."""
        now = self.clock()
        jobs = self._claim(now)
        if not jobs:
            return 0
        results = list(self.pool.map(self._post, jobs))
        self._record(jobs, results)
        return len(jobs)

    def _record(self, jobs: Iterable[_Job], results: list[str | None]) -> None:
        now = self.clock()
        with transaction(self.factory) as s:
            for job, err in zip(jobs, results, strict=True):
                d = s.get(PushDelivery, job.id)
                if d is None:
                    continue
                d.attempts = job.attempts + 1
                if err is None:
                    d.status, d.sent_at, d.last_error = "sent", now, ""
                    self.sent += 1
                    audit.append(
                        s,
                        actor=job.client_id,
                        action="police.push",
                        target=job.alert_id,
                        detail={"webhook_id": job.id, "subscription": d.subscription_id},
                        at=now,
                    )
                    continue
                d.last_error = err[:300]
                self.failed += 1
                if d.attempts >= self.policy.max_attempts:
                    d.status = "dead"
                    self.dead += 1
                    log.warning("push %s dead after %d tries: %s", job.id, d.attempts, err)
                else:
                    d.next_at = now + timedelta(seconds=backoff(d.attempts, self.policy, self.rng))


def replay(
    s: Session, subscription_id: str, *, ids: Iterable[str] | None = None, now: datetime
) -> int:
    """Queue dead (or named) deliveries of a subscription again, tries reset."""
    q = select(PushDelivery).where(PushDelivery.subscription_id == subscription_id)
    wanted = list(ids or [])
    q = q.where(PushDelivery.id.in_(wanted)) if wanted else q.where(PushDelivery.status == "dead")
    n = 0
    for d in s.execute(q).scalars():
        d.status, d.attempts, d.next_at, d.last_error = "pending", 0, now, ""
        n += 1
    return n
