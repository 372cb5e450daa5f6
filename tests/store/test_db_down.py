"""Must show: a database that is down makes the store wait and catch up, losing nothing.

PostgreSQL is reached through a TCP relay the test cuts (every connection dropped, the
port closed) and restores; SQLite is held by another process's exclusive lock (a backup,
say) for a while. Alerts keep arriving meanwhile; none is acknowledged until stored.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from alerts import keys
from alerts.store.consumer import StoreConsumer
from alerts.store.db import open_store, session_factory
from alerts.store.incidents import IncidentUpdate
from tests.alerts.factory import make_alert
from tests.store.conftest import free_port
from tests.store.helpers import xadd

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class Relay:
    """A TCP relay to PostgreSQL that can be cut and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.socks: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            with self.lock:
                self.socks += [client, up]
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self.listener is not None:
            try:  # wakes the accept() blocked on it; a bare close() would not
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.socks.clear()


def count(factory) -> int:  # type: ignore[no-untyped-def]
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(IncidentUpdate)) or 0)


def wait_for(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_store_waits_for_the_database_and_catches_up(db_url: str, r: redis.Redis) -> None:
    kind = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    relay = None
    url = db_url
    if kind == "postgresql":
        u = make_url(db_url)
        relay = Relay((u.host or "127.0.0.1", u.port or 5432))
        relay.start()
        url = u.set(port=relay.port).render_as_string(hide_password=False)
    engine = open_store(url)
    factory = session_factory(engine)
    check = session_factory(open_store(db_url))  # counts through the direct path
    sc = StoreConsumer(factory, r, consumer="t", retry_s=0.1, max_retry_s=0.5)
    stop = threading.Event()
    t = threading.Thread(target=sc.run, args=(stop,), kwargs={"block_ms": 50}, daemon=True)
    t.start()
    ids = []
    try:
        for _ in range(100):
            ids.append(xadd(r, make_alert()))
        assert wait_for(lambda: count(check) == 100, 30)
        holder = None
        if relay is not None:
            relay.cut()
        else:
            holder = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
        for _ in range(200):
            ids.append(xadd(r, make_alert()))
        if relay is not None:
            assert wait_for(lambda: sc.stats.waiting_for_db, 15), "the store did not notice"
        else:
            time.sleep(2)  # the store's BEGIN waits on the lock (busy timeout)
        assert count(check) == 100 if relay is not None else True
        assert r.xpending(keys.ALERT_STREAM, keys.STORE_GROUP)["pending"] > 0  # not acked
        if relay is not None:
            relay.start()
        else:
            assert holder is not None
            holder.execute("COMMIT")
            holder.close()
        assert wait_for(lambda: count(check) == 300, 60), f"stored {count(check)} of 300"
        assert wait_for(lambda: r.xpending(keys.ALERT_STREAM, keys.STORE_GROUP)["pending"] == 0, 10)
        assert not sc.stats.waiting_for_db
        if relay is not None:
            assert sc.stats.db_errors > 0
    finally:
        stop.set()
        t.join(timeout=10)
        if relay is not None:
            relay.cut()
        engine.dispose()
        check.kw["bind"].dispose()
