"""Reading alerts with at-least-once delivery through a Redis consumer group.

Each downstream system (dashboard, police liaison, SMS gateway) uses its own group;
several processes of one system share a group under different consumer names. An entry
is delivered to one consumer of the group and stays *pending* until that consumer
``ack``s it. Entries a crashed consumer left pending longer than ``min_idle_ms`` are
claimed by the next ``read`` of any live consumer of the group (XAUTOCLAIM), so nothing
is lost, and something may be delivered twice: handle alerts idempotently by
``(alert.id, alert.update_count)``.

:class:`GroupConsumer` is the same machinery for any stream whose entries parse into a
record (the store reads the plate-read stream with it); :class:`AlertConsumer` is the
one for the alert stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, cast

import redis
from pydantic import ValidationError
from typing_extensions import TypeVar

from alerts import keys
from alerts.errors import AlertError
from alerts.model import Alert

log = logging.getLogger(__name__)

T = TypeVar("T", default=Alert)


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    """One stream entry handed to this consumer.

    Attributes:
        entry_id: the stream entry id, to pass to :meth:`GroupConsumer.ack`.
        alert: the parsed record (an :class:`Alert` on the alert stream).
        claimed: True when it was taken over from another (idle, presumably dead) consumer.
    """

    entry_id: str
    alert: T
    claimed: bool = False


def parse_entry(fields: dict[str, str]) -> Alert:
    """The alert in a stream entry's fields.

    Raises:
        AlertError: the entry has no ``alert`` field or it is not a valid alert.
    """
    doc = fields.get("alert")
    if doc is None:
        raise AlertError(f"stream entry has no 'alert' field (fields: {sorted(fields)})")
    try:
        return Alert.model_validate_json(doc)
    except ValidationError as exc:
        raise AlertError(f"stream entry is not a valid alert: {exc}") from exc


class GroupConsumer(Generic[T]):
    """A member of a consumer group on a stream whose entries ``parse`` into records.

    ``parse`` raises :class:`AlertError` for an entry it cannot read; that entry goes to
    the dead-letter stream with the reason and is acknowledged, and reading goes on.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        parse: Callable[[dict[str, str]], T],
        group: str,
        consumer: str,
        stream: str,
        min_idle_ms: int = 30_000,
        start_id: str = "0",
    ) -> None:
        """Join (creating if needed) ``group``.

        Args:
            client: a Redis client created with ``decode_responses=True``.
            parse: the record in an entry's fields; raises :class:`AlertError` if none.
            min_idle_ms: how long an entry must sit unacknowledged with another consumer
                before this one claims it; longer than your slowest handling of one entry.
            start_id: where a new group starts: ``"0"`` the whole stored stream, ``"$"``
                only new entries.
        """
        self._parse_fields = parse
        self.redis = client
        self.group = group
        self.consumer = consumer
        self.min_idle_ms = min_idle_ms
        self.stream = stream
        # Our own entries left pending by an earlier run under this name: paged through
        # once (cursor = last id seen), then None.
        self._backlog_cursor: str | None = "0"
        try:
            client.xgroup_create(stream, group, id=start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, count: int = 100, block_ms: int | None = None) -> list[Delivery[T]]:
        """Up to ``count`` entries: first abandoned ones (claimed), then new ones.

        A consumer restarted under the same name first gets back what it had read but
        not acknowledged before it died.
        """
        out: list[Delivery[T]] = []
        if self._backlog_cursor is not None:
            backlog = self._read_group(self._backlog_cursor, count, None)
            out += backlog
            # A short page ends the backlog. One shortened by dead letters ends it early;
            # what is left stays pending and XAUTOCLAIM hands it out after min_idle_ms.
            self._backlog_cursor = backlog[-1].entry_id if len(backlog) == count else None
        if len(out) < count:
            out += self._claim(count - len(out))
        if len(out) < count:
            out += self._read_group(">", count - len(out), None if out else block_ms)
        return out

    def ack(self, *entry_ids: str) -> int:
        """Acknowledge handled entries; returns how many were pending."""
        if not entry_ids:
            return 0
        return int(self.redis.xack(self.stream, self.group, *entry_ids))

    def pending(self) -> int:
        """Entries of this group delivered but not yet acknowledged (all consumers)."""
        info = self.redis.xpending(self.stream, self.group)
        return int(info["pending"])

    def iter(self, block_ms: int = 5000) -> Iterator[Delivery[T]]:
        """Deliveries forever; the caller acks each (at-least-once)."""
        while True:
            yield from self.read(block_ms=block_ms)

    def _claim(self, count: int) -> list[Delivery[T]]:
        res: list[Any] = self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.min_idle_ms, "0-0", count=count
        )
        # Redis 7: [next_start, [(id, fields), ...], [deleted ids]]
        entries = res[1]
        deleted = res[2] if len(res) > 2 else []
        if deleted:
            # Trimmed by MAXLEN before anyone acknowledged them: nothing left to deliver.
            log.warning("%d pending alerts were trimmed from the stream unread", len(deleted))
            self.ack(*deleted)
        return self._parse(entries, claimed=True)

    def _read_group(self, start: str, count: int, block_ms: int | None) -> list[Delivery[T]]:
        res = cast(
            "list[Any] | None",
            self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
            ),
        )
        out: list[Delivery[T]] = []
        for _stream, entries in res or []:
            out += self._parse(entries, claimed=False)
        return out

    def _parse(
        self, entries: list[tuple[str, dict[str, str] | None]], *, claimed: bool
    ) -> list[Delivery[T]]:
        out: list[Delivery[T]] = []
        for entry_id, fields in entries:
            if fields is None:  # deleted entry still in our pending list
                self.ack(entry_id)
                continue
            try:
                out.append(Delivery(entry_id, self._parse_fields(fields), claimed))
            except AlertError as exc:
                self.dead_letter(entry_id, fields, exc)
        return out

    def dead_letter(self, entry_id: str, fields: dict[str, str], exc: Exception) -> None:
        """Copy an entry to the dead-letter stream with the reason, then acknowledge it."""
        log.error(
            "entry %s of %s is unreadable, moved to %s: %s",
            entry_id,
            self.stream,
            keys.DEAD_STREAM,
            exc,
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            keys.DEAD_STREAM,
            {**fields, "source": self.stream, "source_id": entry_id, "error": str(exc)[:1000]},  # type: ignore[dict-item]
            maxlen=keys.DEAD_MAXLEN,
            approximate=True,
        )
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()


class AlertConsumer(GroupConsumer[Alert]):
    """A member of a consumer group on the alert stream.

    Example:
        >>> c = AlertConsumer(redis.Redis.from_url(url, decode_responses=True),
        ...                   group="police-liaison", consumer="host-a")  # doctest: +SKIP
        >>> for d in c.read(block_ms=5000):  # doctest: +SKIP
        ...     forward(d.alert); c.ack(d.entry_id)
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        group: str = keys.DEFAULT_GROUP,
        consumer: str,
        min_idle_ms: int = 30_000,
        stream: str = keys.ALERT_STREAM,
        start_id: str = "0",
    ) -> None:
        """Join (creating if needed) ``group``; see :class:`GroupConsumer`."""
        super().__init__(
            client,
            parse=parse_entry,
            group=group,
            consumer=consumer,
            stream=stream,
            min_idle_ms=min_idle_ms,
            start_id=start_id,
        )
