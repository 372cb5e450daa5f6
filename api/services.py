"""What one running web service holds: database, Redis, site, background workers.

Built by :func:`api.app.create_app` from its :class:`~api.settings.Settings`; handlers
reach it through :func:`api.deps.services`. The background threads (store consumer,
scheduler) run only when the settings ask for them (``shouwang serve`` does).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from alerts.camera_watch import CameraWatch
from alerts.evidence import EvidenceStore
from alerts.publisher import connect
from alerts.store import escalation, events, retention, snoozes
from alerts.store.consumer import StoreConsumer
from alerts.store.db import open_store, read_session_factory, session_factory
from api.settings import Settings
from shouwang.config import Site, load_site

log = logging.getLogger(__name__)


class Services:
    """The service's shared parts; :meth:`close` stops threads and closes pools."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = open_store(settings.database_url or None, data=settings.data_dir)
        self.factory: sessionmaker[Session] = session_factory(self.engine)
        self.read_factory: sessionmaker[Session] = read_session_factory(self.engine)
        self.redis: redis.Redis = connect(settings.redis_url, timeout_s=2.0)
        self.site: Site | None = load_site(settings.site) if settings.site else None
        self.site_dir: Path | None = settings.site.parent if settings.site else None
        self.evidence = EvidenceStore(settings.evidence_dir)
        self.started = datetime.now(UTC)
        self.consumer: StoreConsumer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_purge: datetime | None = None
        # run by close() before the pools close (e.g. the police audit writer's flush)
        self.closers: list[Callable[[], None]] = []
        # awaited by aclose() on the app's event loop (asyncio clients made on it)
        self.async_closers: list[Callable[[], Awaitable[None]]] = []
        self.camera_watch = (
            CameraWatch(self.site, self.redis, settings.redis_url, settings.data_dir)
            if self.site
            else None
        )

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A session in one transaction (committed on success, rolled back on error)."""
        with self.factory() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session in one transaction that only reads (on SQLite it never waits for
        the write lock; see :func:`alerts.store.db.read_session_factory`)."""
        with self.read_factory() as session, session.begin():
            yield session

    def start(self) -> None:
        """Start the background threads the settings ask for."""
        s = self.settings
        if s.run_consumer:
            name = s.consumer_name or f"store-{socket.gethostname()}"
            # Its own client: the consumer blocks on XREADGROUP longer than a request waits.
            client = connect(s.redis_url, timeout_s=5.0)
            consumer = StoreConsumer(self.factory, client, consumer=name, live=self.redis)
            self.consumer = consumer
            self._spawn("store-consumer", lambda: consumer.run(self._stop, block_ms=500))
        if s.run_scheduler:
            self._spawn("store-scheduler", self._run_scheduler)
        if s.run_scheduler and s.police.run_push:
            from api.police.state import run_push

            self._spawn("police-push", lambda: run_push(self, self._stop))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _run_scheduler(self) -> None:
        while not self._stop.wait(self.settings.scheduler_interval_s):
            try:
                self.tick()
            except Exception:  # a scheduler fault must not end the service; logged
                log.exception("scheduler tick failed")

    def tick(self, now: datetime | None = None) -> None:
        """One scheduler round: escalations, ended snoozes, the purge when it is due."""
        now = now or datetime.now(UTC)
        with self.tx() as s:
            raised = escalation.escalate_due(s, self.settings.escalation.after, now)
            quiet = snoozes.active(s, now)
            payloads = [events.summary(i) for i in raised if i.camera not in quiet]
            snoozes.expire(s, now)
        for p in payloads:
            events.publish(self.redis, "incident.escalated", p)
        if self.camera_watch is not None:
            self.camera_watch.check()
        due = self.last_purge is None or (
            (now - self.last_purge).total_seconds() >= self.settings.purge_interval_s
        )
        if due:
            self.purge(now)

    def purge(self, now: datetime | None = None) -> retention.PurgeResult:
        """Run the retention purge now (audited)."""
        self.last_purge = now or datetime.now(UTC)
        with self.tx() as s:
            res = retention.purge(
                s, self.settings.retention, self.settings.evidence_dir, now=self.last_purge
            )
        if res.incidents or res.reads:
            log.info(
                "retention purge: %d incidents, %d reads, %d files removed",
                len(res.incidents),
                res.reads,
                res.files,
            )
        return res

    async def aclose(self) -> None:
        """Close what lives on the app's event loop (before :meth:`close`)."""
        for close in reversed(self.async_closers):
            await close()
        self.async_closers.clear()

    def close(self) -> None:
        """Stop the threads, then close Redis and the database pool."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        for close in reversed(self.closers):
            close()
        if self.camera_watch is not None:
            self.camera_watch.close()
        self.redis.close()
        if self.consumer is not None:
            self.consumer.redis.close()
        self.engine.dispose()
