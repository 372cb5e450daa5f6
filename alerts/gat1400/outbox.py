"""The GA/T 1400 outbox: records wait in a Redis stream until the upper platform
accepts them, in order, none twice.

:class:`Collector` reads ALERT_STREAM and PLATE_READS through its own consumer group
(:data:`alerts.keys.GAT1400_GROUP`), turns each plate read at a camera with GA/T 1400
ids into a motor-vehicle record, each watchlist face alert into a face record and
each hit of a disposition received from the upper platform into a notification, and
appends them to :data:`alerts.keys.GAT1400_OUTBOX` (a Lua script: the "queued" marker
and the entry are written together, so a redelivered stream entry queues nothing
twice), then acknowledges. The sender (:mod:`alerts.gat1400.client`) moves the
:data:`alerts.keys.GAT1400_SENT` cursor only past records the upper platform accepted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis

from alerts import keys
from alerts.consumer import parse_entry
from alerts.errors import AlertError
from alerts.gat1400 import records
from alerts.model import FaceSubject, PlateSubject
from alerts.plate_reads import parse_read
from shouwang.config import Site

log = logging.getLogger(__name__)

QUEUED_TTL_S = 7 * 86_400

_QUEUE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'kind', ARGV[2], 'id', ARGV[3], 'record', ARGV[4])
end
return false
"""

#: The disposition (id, title) a watch hit belongs to, or None when it is not ours.
DispositionOf = Callable[[str, str], tuple[str, str] | None]


@dataclass(frozen=True, slots=True)
class Pending:
    """One outbox entry."""

    entry_id: str
    kind: str
    record_id: str
    record: dict[str, Any]


def queue(r: redis.Redis, source: str, kind: str, record_id: str, record: dict[str, Any]) -> bool:
    """Append a record once per ``source`` (alert update or read id); False if it was."""
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    got = r.eval(
        _QUEUE, 2, keys.gat1400_queued(source), keys.GAT1400_OUTBOX, QUEUED_TTL_S, kind,
        record_id, body,
    )  # fmt: skip
    return got is not None


def pending(r: redis.Redis, count: int) -> list[Pending]:
    """The oldest records not yet accepted, in order."""
    after = cast("str | None", r.get(keys.GAT1400_SENT))
    start = f"({after}" if after else "-"
    rows = cast(
        "list[tuple[str, dict[str, str]]]",
        r.xrange(keys.GAT1400_OUTBOX, min=start, count=count) or [],
    )
    return [Pending(eid, f["kind"], f["id"], json.loads(f["record"])) for eid, f in rows]


def mark_sent(r: redis.Redis, entry_id: str) -> None:
    """Move the cursor past ``entry_id`` and trim what is before it."""
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.GAT1400_SENT, entry_id)
    pipe.xtrim(keys.GAT1400_OUTBOX, minid=entry_id, approximate=False)
    pipe.execute()


def backlog(r: redis.Redis) -> int:
    """Records waiting (the cursor's entry itself is kept by the trim)."""
    return len(pending(r, 100_000))


class Collector:
    """Alert stream and plate reads → outbox records (restartable at any point).

    Args:
        site: the site (cameras' GA/T 1400 ids, time zone).
        client: Redis (decode_responses=True).
        load: images by SHA-256 (plate crops).
        disposition_of: ``(compound, plate) → (DispositionID, Title)`` for watch hits.
        start_id: where a new group starts (``"$"``: from now on).
    """

    def __init__(
        self,
        site: Site,
        client: redis.Redis,
        load: records.ImageLoader,
        *,
        disposition_of: DispositionOf | None = None,
        consumer: str = "gat1400-1",
        start_id: str = "$",
    ) -> None:
        self.site, self.redis, self.load = site, client, load
        self.disposition_of = disposition_of
        self.consumer = consumer
        self.queued = 0
        self._streams = (keys.ALERT_STREAM, keys.PLATE_READS)
        for s in self._streams:
            try:
                client.xgroup_create(s, keys.GAT1400_GROUP, id=start_id, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._backlog = True  # first read our own unacknowledged entries

    def _ours(self, camera: str) -> bool:
        try:
            return self.site.camera(camera).gat1400 is not None
        except KeyError:
            return False

    def step(self, block_ms: int | None = None) -> int:
        """Queue what the streams have now; returns records queued."""
        start = "0" if self._backlog else ">"
        got = cast(
            "list[tuple[str, list[tuple[str, dict[str, str]]]]] | None",
            self.redis.xreadgroup(
                keys.GAT1400_GROUP,
                self.consumer,
                dict.fromkeys(self._streams, start),
                count=200,
                block=None if self._backlog else block_ms,
            ),
        )
        n = 0
        seen = 0
        for stream, entries in got or []:
            for eid, fields in entries:
                seen += 1
                n += self._one(stream, fields)
                self.redis.xack(stream, keys.GAT1400_GROUP, eid)
        if self._backlog and seen == 0:
            self._backlog = False
        self.queued += n
        return n

    def _one(self, stream: str, fields: dict[str, str]) -> int:
        try:
            if stream == keys.PLATE_READS:
                read = parse_read(fields)
                if not self._ours(read.camera):
                    return 0
                rec = records.motor_vehicle(self.site, read, self.load)
                return int(queue(self.redis, read.id, "vehicle", rec["MotorVehicleID"], rec))
            alert = parse_entry(fields)
            if not self._ours(alert.camera):
                return 0
            src = f"{alert.id}.{alert.update_count}"
            subj = alert.subject
            if isinstance(subj, FaceSubject) and alert.update_count == 0:
                rec = records.face(self.site, alert)
                return int(queue(self.redis, src, "face", rec["FaceID"], rec))
            if (
                isinstance(subj, PlateSubject)
                and subj.list_id == keys.POLICE_PLATE_LIST
                and self.disposition_of is not None
            ):
                disp = self.disposition_of(alert.compound, subj.list_entry or "")
                if disp is None:
                    return 0
                rec = records.notification(self.site, alert, *disp)
                return int(queue(self.redis, src, "notification", rec["NotificationID"], rec))
        except (AlertError, records.RecordError, KeyError, ValueError) as exc:
            log.warning("gat1400: %s entry not turned into a record: %s", stream, exc)
        return 0
