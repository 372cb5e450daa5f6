"""A local durable FIFO for alerts that could not reach Redis.

SQLite in WAL mode with ``synchronous=FULL``: every ``put`` is fsynced before it
returns, so an alert accepted here survives a crash or power loss of the worker. Rows
keep their insertion order (``seq``), which is the order they are published in.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from alerts.errors import AlertError

log = logging.getLogger(__name__)


class OutboxFull(AlertError):
    """The outbox holds ``max_rows`` alerts already; the new one was not stored."""


class Outbox:
    """Ordered, fsynced, thread-safe queue of alert JSON documents.

    Bounded by ``max_rows``; when full, ``put`` raises :class:`OutboxFull` (the newest
    alert is refused and the caller logs and counts it) rather than silently dropping
    the oldest, which is usually the most important one.

    Example:
        >>> box = Outbox(tmp_path / "outbox.sqlite")  # doctest: +SKIP
        >>> box.put('{"id": "..."}'); box.peek(10)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, max_rows: int = 1_000_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " alert TEXT NOT NULL,"
            " queued REAL NOT NULL)"
        )
        (self._count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        if self._count:
            log.warning("outbox %s holds %d alerts from an earlier run", self.path, self._count)

    def __len__(self) -> int:
        return int(self._count)

    def put(self, alert_json: str) -> None:
        """Append one alert; durable on disk when this returns."""
        with self._lock:
            if self._count >= self.max_rows:
                raise OutboxFull(f"outbox {self.path} is full ({self.max_rows} alerts)")
            self._db.execute(
                "INSERT INTO outbox (alert, queued) VALUES (?, ?)", (alert_json, time.time())
            )
            self._count += 1

    def peek(self, n: int) -> list[tuple[int, str, float]]:
        """The ``n`` oldest rows as ``(seq, alert_json, queued_at)``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, alert, queued FROM outbox ORDER BY seq LIMIT ?", (n,)
            ).fetchall()
        return [(int(s), str(a), float(q)) for s, a, q in rows]

    def remove_through(self, seq: int) -> None:
        """Delete every row up to and including ``seq`` (after they were published)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
            self._count -= cur.rowcount

    def close(self) -> None:
        """Close the database; rows stay on disk for the next run."""
        with self._lock:
            self._db.close()
