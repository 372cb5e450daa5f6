"""Publishing alerts: Redis Stream (durable log) + Pub/Sub (live), deduplicated, never lost.

Per alert, one round trip to Redis in a MULTI/EXEC pipeline: ``XADD`` to the stream with
``MAXLEN ~``, ``PUBLISH`` the same JSON on the live channel, and ``HSET``/``PEXPIRE``
of the incident's dedup hash.

Deduplication: an alert whose ``dedup_key`` was seen within ``cooldown_s`` (measured from
the last sighting, so an ongoing incident stays one alert) is an *update*: it keeps the
first alert's ``id``, ``update_count`` goes up, ``occurrences`` counts every sighting.
Updates are published at most every ``update_interval_s`` (sightings in between are
folded into the next one), except when the severity rises, which goes out at once.

Outages: when Redis cannot be reached the alert goes to a local fsynced outbox
(:class:`~alerts.outbox.Outbox`) and so does every later alert while the outbox is not
empty, so order is kept. A background flusher retries with backoff and drains the
outbox oldest first once Redis answers. Delivery from the outbox is at-least-once: a
crash between XADD and the outbox delete republishes that batch on restart; consumers
tell repeats by ``(id, update_count)``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import redis

from alerts import keys
from alerts.connection import DEFAULT_REDIS_URL, connect
from alerts.errors import AlertError
from alerts.model import SEVERITY_RANK, Alert
from alerts.outbox import Outbox, OutboxFull

__all__ = ["DEFAULT_REDIS_URL", "AlertPublisher", "PublishResult", "PublisherStats", "connect"]

log = logging.getLogger(__name__)

Action = Literal["new", "update", "suppressed"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What :meth:`AlertPublisher.publish` did with an alert.

    Attributes:
        alert: the alert as published (id and counts after deduplication).
        action: ``new`` incident, ``update`` of an open one, or ``suppressed`` (folded
            into the next update; nothing was sent).
        queued: True when it went to the local outbox instead of Redis.
        stream_id: the Redis stream entry id when it was sent directly.
    """

    alert: Alert
    action: Action
    queued: bool = False
    stream_id: str | None = None


@dataclass(slots=True)
class _Incident:
    id: str
    severity: str
    update_count: int
    occurrences: int
    first_seen: datetime | None
    last_seen: float  # monotonic
    last_sent: float  # monotonic; -inf when never sent by this process


@dataclass
class PublisherStats:
    """Counters since start (export them as metrics)."""

    new: int = 0
    updates: int = 0
    suppressed: int = 0
    sent: int = 0
    queued: int = 0
    flushed: int = 0
    refused: int = 0  # outbox full: lost, logged as errors
    unconfirmed: int = 0  # sent, but fewer replicas than wait_replicas confirmed it
    send_errors: int = 0
    last_error: str = field(default="")


class AlertPublisher:
    """Publishes alerts to Redis; keeps them in a local outbox while Redis is away.

    Thread-safe; ``publish`` never raises for Redis trouble and never blocks longer than
    one Redis timeout (``timeout_s``) plus an fsync.

    Example:
        >>> with AlertPublisher("redis://127.0.0.1:6379/0",
        ...                     outbox_path="/var/lib/shouwang/outbox.sqlite") as pub:
        ...     result = pub.publish(alert)  # doctest: +SKIP
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        outbox_path: str | Path,
        cooldown_s: float = 60.0,
        update_interval_s: float = 5.0,
        stream_maxlen: int = keys.STREAM_MAXLEN,
        timeout_s: float = 1.0,
        retry_interval_s: float = 0.2,
        max_retry_interval_s: float = 2.0,
        flush_batch: int = 200,
        max_incidents: int = 10_000,
        outbox_max_rows: int = 1_000_000,
        client: redis.Redis | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 200,
    ) -> None:
        if wait_replicas < 0 or wait_timeout_ms < 1:
            raise ValueError(
                f"need wait_replicas >= 0 and wait_timeout_ms >= 1, got {wait_replicas}, "
                f"{wait_timeout_ms}"
            )
        if not 0 <= update_interval_s <= cooldown_s:
            raise ValueError(
                f"need 0 <= update_interval_s <= cooldown_s, got {update_interval_s} and "
                f"{cooldown_s}: an open incident must be refreshed before its cooldown ends"
            )
        if stream_maxlen < 1 or flush_batch < 1:
            raise ValueError(
                f"stream_maxlen and flush_batch must be >= 1, got {stream_maxlen}, {flush_batch}"
            )
        self.redis = client or connect(redis_url, timeout_s=timeout_s)
        self.outbox = Outbox(outbox_path, max_rows=outbox_max_rows)
        self.cooldown_s = cooldown_s
        self.update_interval_s = update_interval_s
        self.stream_maxlen = stream_maxlen
        self.retry_interval_s = retry_interval_s
        self.max_retry_interval_s = max_retry_interval_s
        self.flush_batch = flush_batch
        self.max_incidents = max_incidents
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._degraded = False
        self.stats = PublisherStats()
        self._incidents: OrderedDict[str, _Incident] = OrderedDict()
        self._lock = threading.Lock()  # dedup state + the direct/outbox ordering decision
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._flusher = threading.Thread(
            target=self._run_flusher, name="alert-flusher", daemon=True
        )
        self._flusher.start()
        if len(self.outbox):
            self._wake.set()

    # -- public ---------------------------------------------------------------------

    def publish(self, alert: Alert) -> PublishResult:
        """Deduplicate, then send ``alert`` to Redis or, failing that, to the outbox."""
        if self._closed:
            raise AlertError("publish() after close(): the publisher is shut down")
        with self._lock:
            out, action = self._deduplicate(alert)
            if action == "suppressed":
                self.stats.suppressed += 1
                return PublishResult(out, action)
            if action == "new":
                self.stats.new += 1
            else:
                self.stats.updates += 1
            if not len(self.outbox):
                try:
                    sent, stream_id = self._send_one(out)
                except (redis.RedisError, OSError) as exc:
                    self._note_error(exc)
                else:
                    self.stats.sent += 1
                    return PublishResult(sent, action, stream_id=stream_id)
            self._enqueue(out)
            return PublishResult(out, action, queued=True)

    def would_suppress(self, dedup_key: str, severity: str) -> bool:
        """Whether publishing this incident now would be folded into a later update.

        Lets a caller skip expensive work (JPEG evidence) for sightings nobody will see;
        it still calls :meth:`publish` so the sighting is counted.
        """
        with self._lock:
            inc = self._incidents.get(dedup_key)
            if inc is None:
                return False
            now = time.monotonic()
            return (
                now - inc.last_seen <= self.cooldown_s
                and now - inc.last_sent < self.update_interval_s
                and SEVERITY_RANK[severity] <= SEVERITY_RANK[inc.severity]
            )

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Try to drain the outbox now; True when it is empty."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox) and time.monotonic() < deadline:
            if not self._drain_once():
                time.sleep(min(self.retry_interval_s, max(0.0, deadline - time.monotonic())))
        return not len(self.outbox)

    def close(self, timeout_s: float = 5.0) -> int:
        """Stop the flusher, try to publish what is queued, keep the rest on disk.

        Returns:
            how many alerts remain in the outbox (published by the next run).
        """
        if self._closed:
            return len(self.outbox)
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._flusher.join(timeout=timeout_s)
        self.flush(timeout_s)
        left = len(self.outbox)
        if left:
            log.warning("%d alerts stay in outbox %s for the next run", left, self.outbox.path)
        self.outbox.close()
        self.redis.close()
        return left

    def __enter__(self) -> AlertPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- deduplication -------------------------------------------------------------

    def _deduplicate(self, alert: Alert) -> tuple[Alert, Action]:
        now = time.monotonic()
        key = alert.dedup_key
        inc = self._incidents.get(key)
        if inc is not None and now - inc.last_seen > self.cooldown_s:
            del self._incidents[key]
            inc = None
        if inc is None and not len(self.outbox):
            inc = self._remote_incident(key, now)
        if inc is None:
            self._remember(
                key,
                _Incident(
                    alert.id, alert.severity, 0, alert.occurrences, alert.times.first_seen, now, now
                ),
            )
            return alert, "new"
        inc.occurrences += alert.occurrences
        inc.last_seen = now
        self._incidents.move_to_end(key)
        escalated = SEVERITY_RANK[alert.severity] > SEVERITY_RANK[inc.severity]
        if escalated:
            inc.severity = alert.severity
        if now - inc.last_sent < self.update_interval_s and not escalated:
            return alert, "suppressed"
        if not len(self.outbox):
            self._catch_up(key, inc)
        inc.update_count += 1
        inc.last_sent = now
        times = alert.times.model_copy(update={"first_seen": inc.first_seen})
        out = alert.model_copy(
            update={
                "id": inc.id,
                "severity": inc.severity,
                "update_count": inc.update_count,
                "occurrences": inc.occurrences,
                "times": times,
            }
        )
        return out, "update"

    def _remember(self, key: str, inc: _Incident) -> None:
        self._incidents[key] = inc
        self._incidents.move_to_end(key)
        while len(self._incidents) > self.max_incidents:
            self._incidents.popitem(last=False)  # forget the stalest incident

    def _remote(self, key: str) -> dict[str, str] | None:
        """The incident's dedup hash as the last publisher (any worker) left it."""
        try:
            raw = self.redis.hgetall(keys.dedup(key))
        except (redis.RedisError, OSError):
            return None
        h = {str(k): str(v) for k, v in raw.items()}
        return h if h and "id" in h else None

    def _catch_up(self, key: str, inc: _Incident) -> None:
        """Before an update: take over what other workers published meanwhile.

        A camera that went to another worker and came back (leases) finds its incident
        advanced there; continuing from the stale local count would repeat numbers.
        """
        h = self._remote(key)
        if h is not None and (
            h["id"] != inc.id or int(h.get("update_count", 0)) > inc.update_count
        ):
            inc.id = h["id"]
            inc.update_count = int(h.get("update_count", 0))
            inc.occurrences = max(inc.occurrences, int(h.get("occurrences", 1)))

    def _remote_incident(self, key: str, now: float) -> _Incident | None:
        """An incident another worker opened (camera handed over), from its dedup hash."""
        h = self._remote(key)
        if h is None:
            return None
        inc = _Incident(
            id=h["id"],
            severity=h.get("severity", "info"),
            update_count=int(h.get("update_count", 0)),
            occurrences=int(h.get("occurrences", 1)),
            first_seen=datetime.fromisoformat(h["first_seen"]) if h.get("first_seen") else None,
            last_seen=now,
            last_sent=float("-inf"),
        )
        self._remember(key, inc)
        return inc

    # -- sending ---------------------------------------------------------------------

    def _stamp(self, alert: Alert) -> Alert:
        now = time.time()
        stages = {**alert.times.stages, "published": now}
        times = alert.times.model_copy(
            update={"published": datetime.fromtimestamp(now, UTC), "stages": stages}
        )
        return alert.model_copy(update={"times": times})

    def _queue_commands(self, pipe: redis.client.Pipeline, alert: Alert) -> None:
        doc = alert.model_dump_json()
        fields = {"alert": doc, "id": alert.id, "type": alert.type, "camera": alert.camera}
        pipe.xadd(keys.ALERT_STREAM, fields, maxlen=self.stream_maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.publish(keys.ALERT_CHANNEL, doc)
        dk = keys.dedup(alert.dedup_key)
        pipe.hset(
            dk,
            mapping={
                "id": alert.id,
                "severity": alert.severity,
                "update_count": alert.update_count,
                "occurrences": alert.occurrences,
                "first_seen": alert.times.first_seen.isoformat() if alert.times.first_seen else "",
            },
        )
        pipe.pexpire(dk, max(1, int(self.cooldown_s * 1000)))

    def _send_one(self, alert: Alert) -> tuple[Alert, str]:
        stamped = self._stamp(alert)
        pipe = self.redis.pipeline(transaction=True)
        self._queue_commands(pipe, stamped)
        res = pipe.execute()
        self._confirm()
        return stamped, str(res[0])

    def _confirm(self) -> None:
        """With ``wait_replicas``, wait (``WAIT``) until that many replicas have the writes.

        Redis replicates asynchronously: a primary killed right after answering could
        take the last alerts with it into the failover. If the connection breaks while
        waiting, the alert counts as unsent (outbox, sent again to the new primary:
        at-least-once). If the primary answers but too few replicas confirm in time
        (none attached: degraded), the alert stays sent and is counted ``unconfirmed``.
        """
        if not self.wait_replicas:
            return
        acked = int(self.redis.wait(self.wait_replicas, self.wait_timeout_ms))
        short = acked < self.wait_replicas
        if short:
            self.stats.unconfirmed += 1
        if short != self._degraded:  # log changes, not every alert
            self._degraded = short
            if short:
                log.warning(
                    "only %d of %d Redis replica(s) confirm alerts within %d ms: a failover "
                    "now could lose the latest",
                    acked,
                    self.wait_replicas,
                    self.wait_timeout_ms,
                )
            else:
                log.info("Redis replicas confirm alerts again")

    def _enqueue(self, alert: Alert) -> None:
        stages = {**alert.times.stages, "outboxed": time.time()}
        doc = alert.model_copy(
            update={"times": alert.times.model_copy(update={"stages": stages})}
        ).model_dump_json()
        try:
            self.outbox.put(doc)
        except OutboxFull as exc:
            self.stats.refused += 1
            log.error("alert %s lost: %s", alert.id, exc)
            return
        self.stats.queued += 1
        self._wake.set()

    def _note_error(self, exc: BaseException) -> None:
        self.stats.send_errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("Redis unreachable (%s); alerts go to the outbox", self.stats.last_error)

    def _drain_once(self) -> bool:
        """Publish one batch from the outbox; False when Redis is still away."""
        with self._flush_lock:
            rows = self.outbox.peek(self.flush_batch)
            if not rows:
                return True
            alerts: list[Alert] = []
            for seq, doc, _ in rows:
                try:
                    alerts.append(Alert.model_validate_json(doc))
                except ValueError as exc:  # written by an incompatible version
                    self.stats.refused += 1
                    log.error("outbox row %d is not an alert, dropped: %s", seq, exc)
            try:
                pipe = self.redis.pipeline(transaction=True)
                for alert in alerts:
                    self._queue_commands(pipe, self._stamp(alert))
                if alerts:
                    pipe.execute()
                    self._confirm()
            except (redis.RedisError, OSError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                return False
            self.outbox.remove_through(rows[-1][0])
            self.stats.flushed += len(rows)
            log.info("published %d alerts from the outbox, %d left", len(rows), len(self.outbox))
            return True

    def _run_flusher(self) -> None:
        delay = self.retry_interval_s
        while not self._stop.is_set():
            self._wake.clear()
            if not len(self.outbox):
                self._wake.wait(timeout=1.0)
                delay = self.retry_interval_s
                continue
            if self._drain_once():
                delay = self.retry_interval_s
            else:
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_interval_s)
