"""The one way Shouwang connects to Redis: a plain URL or a Sentinel-watched primary.

Every part (alert publisher and its outbox flusher, camera leases, consumers, the
``alerts`` commands, the store) gets its client from :func:`connect`, so pointing
``REDIS_URL`` at Sentinel moves all of them to high availability at once.

URLs:

* ``redis://[:password@]host:6379/<db>`` (or ``rediss://``, ``unix://``): one server;
* ``redis+sentinel://[:password@]s1:26379,s2:26379,s3:26379/<service>[/<db>]``: ask the
  Sentinels which server is the primary of ``<service>`` (e.g. ``shouwang``) and talk to
  it; after a failover the next connection goes to the new primary. The password is the
  primary's; ``?sentinel_password=`` gives the Sentinels' own when they have one.

Clients fail fast (no hidden retries), so an outage reaches the caller at once: the
publisher puts alerts in its outbox, the lease thread keeps its cameras, and both try
again on their next round, by which time Sentinel has promoted a replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SENTINEL_SCHEMES = ("redis+sentinel", "sentinel")


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """A parsed ``redis+sentinel://`` URL (``repr`` hides the passwords)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None
    sentinel_password: str | None = None

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"SentinelTarget({hosts}/{self.service}/{self.db})"


def _sentinel_options(target: SentinelTarget, timeout_s: float) -> dict[str, object]:
    """How both factories talk to the Sentinels themselves (fail fast, their password)."""
    options: dict[str, object] = {
        "socket_timeout": min(timeout_s, 0.5),
        "socket_connect_timeout": min(timeout_s, 0.5),
    }
    if target.sentinel_password:
        options["password"] = target.sentinel_password
    return options


def connect_async(
    url: str | None = None, *, timeout_s: float = 1.0, decode_responses: bool = True
) -> redis.asyncio.Redis:
    """:func:`connect` for asyncio code (the police API's per-call rate step): same URLs,
    same fail-fast settings. Close it with ``await client.aclose()`` on its event loop.
    """
    url = url or DEFAULT_REDIS_URL
    common: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": min(timeout_s, 0.5),
        "retry": AsyncRetry(NoBackoff(), 0),
        "decode_responses": decode_responses,
    }
    if not is_sentinel_url(url):
        return redis.asyncio.Redis.from_url(url, **common)
    target = parse_sentinel_url(url)
    sentinel_kwargs = _sentinel_options(target, timeout_s)
    sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_kwargs
    )
    client: redis.asyncio.Redis = sentinel.master_for(
        target.service, db=target.db, password=target.password, **common
    )
    return client


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names Sentinels rather than one server."""
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Split a ``redis+sentinel://`` URL into Sentinel addresses, service, db, passwords.

    Raises:
        ValueError: no Sentinel host, no service name, a bad port or db number (the
            message names the part, never the password).
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    password: str | None = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        password = unquote(userinfo.split(":", 1)[1]) if ":" in userinfo else unquote(userinfo)
    hosts: list[tuple[str, int]] = []
    for item in filter(None, netloc.split(",")):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not port.isdigit():
            raise ValueError(f"Sentinel URL: bad port {port!r} for host {host!r}")
        hosts.append((host or "127.0.0.1", int(port)))
    if not hosts:
        raise ValueError("Sentinel URL: no Sentinel host (redis+sentinel://host:26379/service)")
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("Sentinel URL: no service name (redis+sentinel://host:26379/service)")
    db = 0
    if len(path) > 1:
        if not path[1].isdigit():
            raise ValueError(f"Sentinel URL: database must be a number, got {path[1]!r}")
        db = int(path[1])
    query = parse_qs(parts.query)
    spw = query.get("sentinel_password", [None])[0]
    return SentinelTarget(tuple(hosts), path[0], db, password or None, spw)


def connect(
    url: str | None = None, *, timeout_s: float = 1.0, decode_responses: bool = True
) -> redis.Redis:
    """A Redis client for ``url`` that fails fast (no retries), Sentinel or not.

    Example:
        >>> r = connect("redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/shouwang")  # doctest: +SKIP
        >>> r.ping()  # doctest: +SKIP
    """
    url = url or DEFAULT_REDIS_URL
    common = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": min(timeout_s, 0.5),
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": decode_responses,
    }
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **common)
    target = parse_sentinel_url(url)
    sentinel_kwargs = _sentinel_options(target, timeout_s)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_kwargs
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service, db=target.db, password=target.password, **common
    )
    return client
