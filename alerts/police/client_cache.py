"""Police clients kept in process, so an authenticated call needs no database read.

A token is verified by its signature, issuer, audience and times alone; what it cannot
say is whether its client was revoked since it was issued. That answer comes from the
client row, which this cache keeps — and drops:

* **at once on revocation**: :func:`announce_revocation` (run by ``shouwang clients
  revoke`` once the revocation has committed) increments the revocation epoch in Redis
  (:data:`alerts.keys.POLICE_CLIENTS_EPOCH`). Every call reads the epoch in the same
  Redis round trip as its rate-limit step; an entry read at another epoch is not used,
  so the first call after the revoke returns reads the row again and gets 401.
* **when Redis cannot be read**: the call gives no epoch and the row is read from the
  database (a revocation is never missed because Redis is away).
* **after ``ttl_s`` at the latest** (default 5 s, ``SHOUWANG_POLICE__CLIENT_CACHE_S``):
  the bound on how late a revocation takes effect if its epoch bump was lost (Redis
  down at the moment of the revoke), and on how late a change made in the database by
  hand (a client's rate, scopes or compounds) is seen.

The epoch is read *before* the row: an entry is tagged with the epoch seen before its
read, so a revocation committed between the two is caught by the next call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.police.models import PoliceClient

log = logging.getLogger(__name__)


def announce_revocation(client: redis.Redis) -> bool:
    """Tell every API process that a client was revoked (call after the commit).

    Returns:
        False when Redis could not be told (logged): running API processes then see the
        revocation within their cache lifetime (5 s by default) instead of at once.
    """
    try:
        client.incr(keys.POLICE_CLIENTS_EPOCH)
    except (redis.RedisError, OSError) as exc:
        log.warning("revocation epoch not bumped (Redis): %s", exc)
        return False
    return True


def read_epoch(value: object) -> int:
    """The epoch from a Redis GET answer (absent: 0)."""
    if value is None:
        return 0
    return int(value.decode() if isinstance(value, bytes) else str(value))


class ClientCache:
    """Clients by id, valid for one revocation epoch and at most ``ttl_s`` seconds.

    Args:
        factory: sessions of the store holding ``police_clients``.
        ttl_s: how long an entry is used at most (0: never cached).
        max_entries: the cache is emptied when it would hold more.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        ttl_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[PoliceClient, int, float]] = {}
        self.reads = 0  # database reads so far (tests and metrics)

    def peek(self, client_id: str, epoch: int | None) -> PoliceClient | None:
        """The cached client if its entry is valid for ``epoch`` and young enough, else
        None (then :meth:`get` reads the database). Never does I/O: safe on an event loop.
        """
        if epoch is None or self._ttl <= 0:
            return None
        with self._lock:
            hit = self._rows.get(client_id)
        if hit is not None and hit[1] == epoch and self._clock() - hit[2] < self._ttl:
            return hit[0]
        return None

    def get(self, client_id: str, epoch: int | None) -> PoliceClient | None:
        """The client (revoked or not) or None when there is none with that id.

        ``epoch`` is the revocation epoch this call read from Redis, or None when Redis
        could not be read: then the database answers, and nothing is cached.
        """
        now = self._clock()
        hit = self.peek(client_id, epoch)
        if hit is not None:
            return hit
        with self._factory() as s:
            row = s.get(PoliceClient, client_id)
            if row is not None:
                s.expunge(row)
        self.reads += 1
        if row is not None and epoch is not None and self._ttl > 0:  # no unknown ids kept
            with self._lock:
                if len(self._rows) >= self._max:
                    self._rows.clear()
                self._rows[client_id] = (row, epoch, now)
        return row
