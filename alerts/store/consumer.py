"""The store consumer: alert stream and plate-read stream → the database, exactly once.

It reads through its own consumer group (``keys.STORE_GROUP``) with the at-least-once
machinery of :class:`alerts.consumer.GroupConsumer`: entries a dead store left pending
are claimed back (its own backlog at once under the same consumer name, another's after
``min_idle_ms`` by XAUTOCLAIM). Writing is idempotent: an update already stored under
``(alert id, update_count)`` changes nothing, a read already stored under its id is
skipped, so a redelivered entry is harmless. Entries are acknowledged only after their
transaction commits.

Faults:
- an entry that does not parse goes to the dead-letter stream with the reason (by the
  group consumer) and the store goes on;
- an entry that parses but the database refuses (a value too long for its column) is
  dead-lettered with the database's reason, the rest of its batch is stored;
- a database that cannot be reached: the batch is kept and retried with backoff until
  the database answers, nothing is acknowledged meanwhile, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from alerts import keys
from alerts.consumer import AlertConsumer, Delivery, GroupConsumer
from alerts.model import SEVERITY_RANK, Alert, FaceSubject, PlateSubject
from alerts.plate_reads import PlateRead, parse_read
from alerts.store import events
from alerts.store.access_log import VehicleRead, confusion_key
from alerts.store.incidents import Activity, EvidenceLink, Incident, IncidentUpdate
from alerts.store.snoozes import CameraSnooze
from detectors.plates.grammar import normalise

log = logging.getLogger(__name__)


@dataclass
class StoreStats:
    """Counters since start (exported as metrics by the web service)."""

    stored_updates: int = 0
    duplicates: int = 0
    stored_reads: int = 0
    dead_letters: int = 0
    db_errors: int = 0
    last_error: str = field(default="")
    waiting_for_db: bool = False


def _plate(alert: Alert) -> str | None:
    s = alert.subject
    return normalise(s.plate)[:16] or None if isinstance(s, PlateSubject) else None


def new_incident(
    alert: Alert, now: datetime, *, snoozed: bool, doc: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The incident row (column values) for an alert seen for the first time."""
    s = alert.subject
    return dict(
        id=alert.id,
        type=alert.type,
        severity=alert.severity,
        original_severity=alert.severity,
        camera=alert.camera,
        compound=alert.compound,
        state="new",
        version=1,
        created_at=alert.times.first_seen or alert.times.detected,
        last_seen_at=alert.times.detected,
        state_since=now,
        update_count=alert.update_count,
        occurrences=alert.occurrences,
        plate=_plate(alert),
        person_id=s.person_id if isinstance(s, FaceSubject) else None,
        summary=alert.summary()[:300],
        place=alert.location.place.label()[:300],
        lat=alert.location.lat,
        lon=alert.location.lon,
        legal_hold=False,
        snoozed=snoozed,
        alert=doc if doc is not None else alert.model_dump(mode="json"),
    )


def _apply_update(inc: Incident, alert: Alert, doc: dict[str, Any]) -> None:
    if alert.update_count <= inc.update_count:
        return  # an older publication arriving late: kept as an update, not applied
    inc.update_count = alert.update_count
    inc.occurrences = max(inc.occurrences, alert.occurrences)
    inc.last_seen_at = max(inc.last_seen_at, alert.times.detected)
    if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[inc.severity]:
        inc.severity = alert.severity
    inc.summary = alert.summary()[:300]
    inc.alert = doc


Announcements = list[tuple[events.Event, dict[str, Any]]]


def store_alerts(
    session: Session, batch: Sequence[Delivery[Alert]], now: datetime | None = None
) -> tuple[int, Announcements]:
    """Write a batch of deliveries in the caller's transaction.

    Returns:
        how many updates were new, and the live events to announce once it commits
        (none for snoozed cameras).
    """
    now = now or datetime.now(UTC)
    ids = sorted({d.alert.id for d in batch})
    pairs = {(d.alert.id, d.alert.update_count) for d in batch}
    have = {
        (str(i), int(n))
        for i, n in session.execute(
            select(IncidentUpdate.incident_id, IncidentUpdate.update_count).where(
                tuple_(IncidentUpdate.incident_id, IncidentUpdate.update_count).in_(sorted(pairs))
            )
        )
    }
    incidents = {
        i.id: i
        for i in session.execute(
            select(Incident).where(Incident.id.in_(ids)).options(selectinload(Incident.evidence))
        ).scalars()
    }
    cams = sorted({d.alert.camera for d in batch})
    snoozed = set(
        session.execute(
            select(CameraSnooze.camera).where(
                CameraSnooze.camera.in_(cams), CameraSnooze.until > now
            )
        ).scalars()
    )
    out: Announcements = []
    new_rows: dict[str, dict[str, Any]] = {}
    updates: list[dict[str, Any]] = []
    activity: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    known: dict[str, set[str]] = {i.id: {e.sha256 for e in i.evidence} for i in incidents.values()}
    for d in batch:
        a = d.alert
        if (a.id, a.update_count) in have:
            continue
        have.add((a.id, a.update_count))
        doc = a.model_dump(mode="json")
        inc = incidents.get(a.id)
        row = new_rows.get(a.id)
        if inc is None and row is None:
            row = new_rows[a.id] = new_incident(a, now, snoozed=a.camera in snoozed, doc=doc)
            known[a.id] = set()
            activity.append(
                {
                    "incident_id": a.id,
                    "at": now,
                    "actor": "system",
                    "action": "created",
                    "from_state": None,
                    "to_state": "new",
                    "version": 1,
                    "detail": {"update_count": a.update_count, "stream_id": d.entry_id},
                }
            )
            event: events.Event = "incident.created"
        elif inc is not None:
            _apply_update(inc, a, doc)
            event = "incident.updated"
        else:  # a second publication of an incident first seen in this same batch
            _fold(new_rows[a.id], a, now, doc)
            event = "incident.updated"
        updates.append(
            {
                "incident_id": a.id,
                "update_count": a.update_count,
                "severity": a.severity,
                "occurrences": a.occurrences,
                "detected_at": a.times.detected,
                "stored_at": now,
                "stream_id": d.entry_id,
                "alert": doc,
            }
        )
        links += _new_links(a, known[a.id])
        if a.camera not in snoozed:
            out.append((event, events.summary(inc if inc is not None else new_rows[a.id])))
    # Core bulk inserts (one multi-row statement per table): the ORM's per-object
    # bookkeeping cost more than the database at a few hundred alerts a batch.
    for model, rows in (
        (Incident, list(new_rows.values())),
        (IncidentUpdate, updates),
        (Activity, activity),
        (EvidenceLink, links),
    ):
        if rows:
            session.execute(insert(model), rows)
    session.flush()
    return len(updates), out


def _fold(row: dict[str, Any], a: Alert, now: datetime, doc: dict[str, Any]) -> None:
    """Apply a later publication to an incident row not inserted yet."""
    if a.update_count <= row["update_count"]:
        return
    fresh = new_incident(a, now, snoozed=row["snoozed"], doc=doc)
    for k in ("update_count", "occurrences", "last_seen_at", "summary", "alert"):
        row[k] = fresh[k]
    if SEVERITY_RANK[a.severity] > SEVERITY_RANK[row["severity"]]:
        row["severity"] = a.severity


def _new_links(a: Alert, known: set[str]) -> list[dict[str, Any]]:
    """Evidence link rows for the alert's files the incident does not list yet."""
    out = []
    for ev in a.evidence:
        if ev.sha256 not in known:
            known.add(ev.sha256)
            out.append(
                {
                    "incident_id": a.id,
                    "sha256": ev.sha256,
                    "kind": ev.kind,
                    "size": ev.size,
                    "media_type": ev.media_type,
                }
            )
    return out


def store_reads(
    session: Session, batch: Sequence[Delivery[PlateRead]]
) -> tuple[int, Announcements]:
    """Write plate reads not stored yet; returns how many were new (and no events)."""
    ids = sorted({d.alert.id for d in batch})
    have = set(session.execute(select(VehicleRead.id).where(VehicleRead.id.in_(ids))).scalars())
    n = 0
    for d in batch:
        r = d.alert
        if r.id in have:
            continue
        have.add(r.id)
        session.add(read_row(r))
        n += 1
    session.flush()
    return n, []


def read_row(r: PlateRead) -> VehicleRead:
    """The access-log row of a plate read."""
    plate = normalise(r.plate) or r.plate
    key = confusion_key(plate)
    return VehicleRead(
        id=r.id,
        plate=plate,
        key=key,
        key_rev=key[::-1],
        length=len(plate),
        confidence=r.confidence,
        low_confidence=r.low_confidence,
        camera=r.camera,
        compound=r.compound,
        gate=r.gate,
        direction=r.direction,
        read_at=r.read_at.astimezone(UTC),
        crop_sha256=r.crop_sha256,
        list_id=r.list_id,
        list_kind=r.list_kind,
    )


def _is_outage(exc: SQLAlchemyError) -> bool:
    """A fault of the connection or a busy database (retry), not of one entry's data."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class StoreConsumer:
    """Moves alerts and plate reads from Redis into the store, forever.

    Example:
        >>> sc = StoreConsumer(factory, redis_client, consumer="store-host-a")  # doctest: +SKIP
        >>> threading.Thread(target=sc.run, args=(stop,), daemon=True).start()  # doctest: +SKIP
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        client: redis.Redis,
        *,
        consumer: str,
        group: str = keys.STORE_GROUP,
        batch: int = 200,
        min_idle_ms: int = 30_000,
        retry_s: float = 0.2,
        max_retry_s: float = 5.0,
        live: redis.Redis | None = None,
    ) -> None:
        self.factory = factory
        self.redis = client
        self.live = live if live is not None else client
        self.batch = batch
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.stats = StoreStats()
        self.alerts = AlertConsumer(client, group=group, consumer=consumer, min_idle_ms=min_idle_ms)
        self.reads: GroupConsumer[PlateRead] = GroupConsumer(
            client,
            parse=parse_read,
            group=group,
            consumer=consumer,
            stream=keys.PLATE_READS,
            min_idle_ms=min_idle_ms,
        )
        self._idle_reads = False

    def step(self, block_ms: int = 1000, stop: threading.Event | None = None) -> int:
        """One batch from each stream; returns entries stored (duplicates not counted).

        Waits up to ``block_ms`` for alerts when both streams were idle (0: never waits).
        """
        wait = block_ms if self._idle_reads and block_ms > 0 else None
        got = self.alerts.read(self.batch, block_ms=wait)
        n = self._write(self.alerts, got, store_alerts, stop) if got else 0
        reads = self.reads.read(self.batch, block_ms=None)
        self._idle_reads = not reads
        if reads:
            n += self._write(self.reads, reads, store_reads, stop)
        return n

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        """:meth:`step` until ``stop``; Redis outages are waited out, not fatal."""
        delay = self.retry_s
        while not stop.is_set():
            try:
                self.step(block_ms, stop)
                delay = self.retry_s
            except (redis.RedisError, OSError) as exc:
                log.warning("store consumer: Redis unavailable (%s); retrying", exc)
                stop.wait(delay)
                delay = min(self.max_retry_s, delay * 2)

    # -- writing ---------------------------------------------------------------------

    def _write(
        self,
        group: GroupConsumer[Any],
        batch: list[Delivery[Any]],
        tx: Callable[[Session, Sequence[Delivery[Any]]], tuple[int, Announcements]],
        stop: threading.Event | None,
    ) -> int:
        """Store a batch and ack it; waits out database outages; dead-letters bad rows."""
        delay = self.retry_s
        while True:
            try:
                with self.factory() as session, session.begin():
                    stored, announce = tx(session, batch)
                break
            except SQLAlchemyError as exc:
                if not _is_outage(exc):
                    return self._refused(group, batch, tx, stop, exc)
                self.stats.db_errors += 1
                self.stats.waiting_for_db = True
                self.stats.last_error = f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
                log.warning(
                    "store: database unavailable (%s); retrying in %.1fs",
                    self.stats.last_error,
                    delay,
                )
                if stop is not None and stop.wait(delay):
                    return 0  # shutting down: the unacked batch comes back next run
                if stop is None:
                    time.sleep(delay)
                delay = min(self.max_retry_s, delay * 2)
        self.stats.waiting_for_db = False
        group.ack(*[d.entry_id for d in batch])
        self.stats.duplicates += len(batch) - stored
        if group is self.alerts:
            self.stats.stored_updates += stored
        else:
            self.stats.stored_reads += stored
        events.publish_many(self.live, announce)
        return stored

    def _refused(
        self,
        group: GroupConsumer[Any],
        batch: list[Delivery[Any]],
        tx: Callable[[Session, Sequence[Delivery[Any]]], tuple[int, Announcements]],
        stop: threading.Event | None,
        exc: SQLAlchemyError,
    ) -> int:
        """The database refused the batch's data: find the bad entries one by one."""
        if len(batch) > 1:
            return sum(self._write(group, [d], tx, stop) for d in batch)
        d = batch[0]
        log.error("store: entry %s refused by the database, dead-lettered: %s", d.entry_id, exc)
        group.dead_letter(d.entry_id, _fields(d), exc)
        self.stats.dead_letters += 1
        return 0


def _fields(d: Delivery[Any]) -> dict[str, str]:
    rec = d.alert
    if isinstance(rec, Alert):
        return {"alert": rec.model_dump_json(), "id": rec.id}
    if isinstance(rec, PlateRead):
        return {"read": rec.model_dump_json(), "id": rec.id}
    return {}
