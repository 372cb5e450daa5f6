"""Group commit of audit entries: one thread appends every waiting entry in one transaction.

A call that must not answer before its audit entry is durable (every call of the police
API) hands the entry to an :class:`AuditWriter` and waits for its future. The writer
takes every entry waiting, appends them to the hash chain in one transaction (the head
locked and moved once, :func:`alerts.store.audit.append_many`), commits, and only then
resolves each future with the entry's sequence number — or with the error, so the caller
answers 503 and nothing leaves unaudited. Under 50 concurrent callers the chain head is
locked and committed once per batch instead of once per call.

The chain stays one chain across processes: each batch locks the head row like any other
append (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).

The queue is bounded (``max_pending``): when it is full :meth:`AuditWriter.submit`
raises :class:`AuditUnavailable` at once (the caller answers 503) rather than letting
waits grow without limit behind a stalled database.

Example:
    >>> writer = AuditWriter(factory)                              # doctest: +SKIP
    >>> seq = await writer.write(actor="cli_1", action="police.call", detail={...})
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from alerts.store.audit import Pending, append_many
from alerts.store.db import StoreError

log = logging.getLogger(__name__)


class AuditUnavailable(StoreError):
    """The audit entry could not be made durable (queue full, writer closed, DB error)."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    """What the writer has done so far (for tests and metrics)."""

    batches: int
    entries: int
    failed_batches: int
    largest_batch: int


_STOP = object()


class AuditWriter:
    """One thread that commits waiting audit entries together (see the module docstring).

    Args:
        factory: sessions of the store the chain lives in.
        max_pending: entries that may wait; beyond it :meth:`submit` refuses.
        max_batch: entries appended in one transaction at most.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        max_pending: int = 10_000,
        max_batch: int = 500,
    ) -> None:
        if max_pending < 1 or max_batch < 1:
            raise ValueError("max_pending and max_batch must be at least 1")
        self._factory = factory
        self._max_batch = max_batch
        self._q: queue.Queue[tuple[Pending, Future[int]] | object] = queue.Queue(max_pending)
        self._closed = False
        self._lock = threading.Lock()
        self._batches = self._entries = self._failed = self._largest = 0
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        source: str = "",
        at: datetime | None = None,
    ) -> Future[int]:
        """Queue an entry; the future gives its sequence number once it is committed.

        Raises:
            AuditUnavailable: the writer is closed or too many entries are waiting.
            TypeError, ValueError: ``detail`` is not JSON (raised here, for this call only).
        """
        p = Pending.of(
            actor=actor, action=action, target=target, detail=detail, source=source, at=at
        )
        fut: Future[int] = Future()
        with self._lock:
            if self._closed:
                raise AuditUnavailable("the audit writer is closed")
            try:
                self._q.put_nowait((p, fut))
            except queue.Full:
                raise AuditUnavailable(
                    f"{self._q.maxsize} audit entries are already waiting for the database"
                ) from None
        return fut

    async def write(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        source: str = "",
        at: datetime | None = None,
    ) -> int:
        """:meth:`submit` and wait (without blocking the event loop) for the commit.

        The entry is written even if the waiting task is cancelled (the call happened).

        Raises:
            AuditUnavailable: the entry was not committed.
        """
        fut = self.submit(
            actor=actor, action=action, target=target, detail=detail, source=source, at=at
        )
        return await asyncio.shield(asyncio.wrap_future(fut))

    def waiting(self) -> int:
        """Entries queued and not yet taken by the writer thread."""
        return self._q.qsize()

    def stats(self) -> WriterStats:
        """Batches and entries committed so far."""
        with self._lock:
            return WriterStats(self._batches, self._entries, self._failed, self._largest)

    def close(self, timeout_s: float = 10.0) -> None:
        """Refuse new entries, commit those waiting, stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._q.put(_STOP)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[tuple[Pending, Future[int]]] = []
            item = self._q.get()
            while True:
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                if stop or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[tuple[Pending, Future[int]]]) -> None:
        t0 = time.perf_counter()
        try:
            with self._factory() as s, s.begin():
                rows = append_many(s, [p for p, _ in batch])
                seqs = [e.seq for e in rows]
        except Exception as exc:  # every waiting call answers 503; logged once per batch
            log.warning(
                "audit batch of %d entries not committed: %s: %s",
                len(batch),
                exc.__class__.__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            with self._lock:
                self._failed += 1
            err = AuditUnavailable(f"the audit log could not be written ({exc.__class__.__name__})")
            for _, fut in batch:
                _settle(fut, error=err)
            return
        with self._lock:
            self._batches += 1
            self._entries += len(batch)
            self._largest = max(self._largest, len(batch))
        log.debug(
            "audit batch of %d committed in %.1f ms", len(batch), (time.perf_counter() - t0) * 1e3
        )
        for (_, fut), seq in zip(batch, seqs, strict=True):
            _settle(fut, result=seq)


def _settle(fut: Future[int], *, result: int = 0, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)
    except InvalidStateError:  # the waiter gave up (cancelled); the entry stands
        pass
