"""What the police API keeps per running service: the key ring, jurisdictions, limits,
the client cache, the audit writer (group commit), and the push threads (started with
the scheduler)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import redis.asyncio
from fastapi.concurrency import run_in_threadpool

from alerts import keys
from alerts.connection import connect_async
from alerts.police import watch
from alerts.police.client_cache import ClientCache, read_epoch
from alerts.police.clients import jurisdiction
from alerts.police.models import PoliceClient
from alerts.police.push import Fanout, Sender
from alerts.police.signing import KeyRing
from alerts.publisher import connect
from alerts.store.audit_writer import AuditWriter
from api.services import Services

log = logging.getLogger(__name__)

_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Gate:
    """One call's Redis round trip: its rate-limit count and the revocation epoch.

    Attributes:
        count: calls of the bucket in this minute, this one included (None: Redis away).
        retry_after: seconds until the next window.
        epoch: the clients' revocation epoch (None: Redis away, do not trust caches).
    """

    count: int | None
    retry_after: int
    epoch: int | None

    def over(self, per_minute: int) -> int | None:
        """None when within ``per_minute``, else the ``Retry-After`` seconds."""
        if self.count is None or self.count <= per_minute:
            return None
        return self.retry_after


class PoliceState:
    """The police API's parts for one :class:`~api.services.Services`."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        cfg = svc.settings.police
        self.clients = ClientCache(svc.read_factory, ttl_s=cfg.client_cache_s)
        self.audit = AuditWriter(svc.factory)
        svc.closers.append(self.audit.close)
        self._aredis: redis.asyncio.Redis | None = None
        self.ring = KeyRing(
            svc.settings.data_dir / "police" / "keys",
            max_token_ttl_s=cfg.token_ttl_s,
            publish_ahead_s=cfg.key_publish_ahead_s,
        )
        site = svc.site
        self.divisions: dict[str, str | None] = (
            {c.id: c.division for c in site.compounds} if site else {}
        )

    def area(self, c: PoliceClient) -> frozenset[str]:
        """The compounds the client may see."""
        return jurisdiction(c.compounds, c.division, self.divisions)

    async def gate(self, bucket: str) -> Gate:
        """Count the call in its rate bucket and read the revocation epoch, in one trip.

        A fixed one-minute window per bucket in Redis (shared by every API process);
        Redis being away lets calls through (logged) rather than lock out the police,
        and gives no epoch, so the client is read from the database. Runs on the event
        loop (an asyncio Redis client), so a call needs no worker thread for it.
        """
        now = time.time()
        window = int(now // 60)
        k = keys.police_rate(bucket, window)
        wait = max(1, int((window + 1) * 60 - now + 0.999))
        try:
            async with self._redis().pipeline(transaction=True) as pipe:
                pipe.incr(k)
                pipe.expire(k, 120)
                pipe.get(keys.POLICE_CLIENTS_EPOCH)
                n, _, epoch = await pipe.execute()
            return Gate(int(n), wait, read_epoch(epoch))
        except (redis.RedisError, OSError, ValueError) as exc:
            log.warning("police rate limit and revocation epoch unavailable (Redis): %s", exc)
            return Gate(None, wait, None)

    def _redis(self) -> redis.asyncio.Redis:
        # made on first use, on the app's event loop; closed by Services.aclose there
        if self._aredis is None:
            self._aredis = connect_async(self.svc.settings.redis_url, timeout_s=2.0)
            self.svc.async_closers.append(self._aredis.aclose)
        return self._aredis

    async def client(self, client_id: str, epoch: int | None) -> PoliceClient | None:
        """The client from the cache, else from the database in a worker thread."""
        hit = self.clients.peek(client_id, epoch)
        if hit is not None:
            return hit
        return await run_in_threadpool(self.clients.get, client_id, epoch)


def police_state(svc: Services) -> PoliceState:
    """The service's police state, made on first use."""
    st: PoliceState | None = getattr(svc, "_police", None)
    if st is None:
        with _LOCK:
            st = getattr(svc, "_police", None)
            if st is None:
                st = PoliceState(svc)
                svc._police = st  # type: ignore[attr-defined]
    return st


def run_push(svc: Services, stop: threading.Event) -> None:
    """The push loop: fan-out, sends, watch-order expiry, until ``stop``."""
    st = police_state(svc)
    cfg = svc.settings.police
    name = svc.settings.consumer_name or socket.gethostname()
    client = connect(svc.settings.redis_url, timeout_s=5.0)
    fan = Fanout(
        svc.factory, client, area_of=st.area, consumer=f"push-{name}", start_id=cfg.push_start_id
    )
    sender = Sender(svc.factory, cfg.push)
    try:
        with svc.tx() as s:  # Redis may have lost the live lists: put them back
            watch.sync(s, svc.redis, st.divisions.keys())
    except Exception:  # logged; the loop below retries expiry, orders stay in the DB
        log.exception("police watch lists not restored in Redis")
    try:
        while not stop.is_set():
            try:
                fan.step(block_ms=200)
                sender.step()
                with svc.tx() as s:
                    watch.expire_due(s, svc.redis, datetime.now(UTC))
            except Exception:  # a fault must not end the pushes; logged, retried
                log.exception("police push round failed")
                stop.wait(2.0)
    finally:
        sender.close()
        client.close()
