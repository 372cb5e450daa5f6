"""The audit log's group commit (:class:`AuditWriter`): entries from many threads, and
from ordinary appends beside it, form one valid chain; a batch waiting for the head
lock is committed together; a database error fails every waiting entry (the API answers
503) and the writer carries on once the database is back; a full queue refuses at once.

Real databases on both engines (the ``factory`` fixture); the head lock is held the way
another process would hold it: by an open transaction that appended and did not commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from alerts.store import audit
from alerts.store.audit import AuditEntry
from alerts.store.audit_writer import AuditUnavailable, AuditWriter
from alerts.store.db import transaction


@pytest.fixture
def writer(factory: sessionmaker[Session]) -> Iterator[AuditWriter]:
    w = AuditWriter(factory)
    yield w
    w.close()


def _chain(factory: sessionmaker[Session]) -> tuple[audit.VerifyResult, list[AuditEntry]]:
    with factory() as s:
        return audit.verify(s), list(
            s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        )


class _HeadLock:
    """An open transaction holding the chain head (as another API process would)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.s = factory()
        self.s.begin()
        audit.append(self.s, actor="other-process", action="test.hold")

    def release(self) -> None:
        self.s.commit()
        self.s.close()


def test_concurrent_submits_and_plain_appends_form_one_valid_chain(
    factory: sessionmaker[Session], writer: AuditWriter
) -> None:
    threads, each = 8, 40
    futures: list[Future[int]] = []
    lock = threading.Lock()

    def caller(t: int) -> None:
        for i in range(each):
            f = writer.submit(actor=f"cli_{t}", action="police.call", detail={"i": i, "t": "猫"})
            with lock:
                futures.append(f)

    def plain() -> None:  # another writer of the same chain, one transaction per entry
        for i in range(20):
            with transaction(factory) as s:
                audit.append(s, actor="wang", action="incident.close", target=f"inc{i}")

    workers = [threading.Thread(target=caller, args=(t,)) for t in range(threads)]
    workers.append(threading.Thread(target=plain))
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seqs = sorted(f.result(timeout=60) for f in futures)
    res, rows = _chain(factory)
    assert res.ok, res.problem
    assert res.checked == threads * each + 20 == len(rows)
    assert [e.seq for e in rows] == list(range(1, len(rows) + 1))
    assert len(set(seqs)) == threads * each
    by_seq = {e.seq: e for e in rows}
    assert all(by_seq[q].action == "police.call" for q in seqs)  # each future got its own entry
    st = writer.stats()
    assert st.entries == threads * each and st.failed_batches == 0


def test_entries_waiting_for_the_head_lock_commit_in_one_batch(
    factory: sessionmaker[Session], writer: AuditWriter
) -> None:
    hold = _HeadLock(factory)
    futures = [
        writer.submit(actor="cli_1", action="police.call", detail={"i": i}) for i in range(20)
    ]
    assert not any(f.done() for f in futures)  # nothing answers before its commit
    hold.release()
    seqs = [f.result(timeout=60) for f in futures]
    assert seqs == list(range(2, 22))  # after the holder's entry, in submission order
    st = writer.stats()
    assert st.entries == 20 and st.batches <= 2 and st.largest_batch >= 19
    res, _ = _chain(factory)
    assert res.ok and res.checked == 21


def test_a_database_error_fails_every_waiting_entry_then_the_writer_recovers(
    factory: sessionmaker[Session], writer: AuditWriter
) -> None:
    writer.submit(actor="cli_1", action="police.call").result(timeout=60)
    with transaction(factory) as s:
        s.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        failed = [writer.submit(actor="cli_1", action="police.call") for _ in range(5)]
        for f in failed:
            with pytest.raises(AuditUnavailable, match="could not be written"):
                f.result(timeout=60)
    finally:
        with transaction(factory) as s:
            s.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    assert writer.submit(actor="cli_1", action="police.call").result(timeout=60) == 2
    res, rows = _chain(factory)
    assert res.ok and [e.seq for e in rows] == [1, 2]  # the failed ones left no trace
    assert writer.stats().failed_batches >= 1


def test_a_full_queue_refuses_at_once_and_a_closed_writer_refuses(
    factory: sessionmaker[Session],
) -> None:
    w = AuditWriter(factory, max_pending=2)
    hold = _HeadLock(factory)
    try:
        first = w.submit(actor="a", action="x")
        # the writer thread takes `first` and blocks on the head; two more fill the queue
        deadline = time.monotonic() + 30
        while w.waiting() and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = [w.submit(actor="a", action="x"), w.submit(actor="a", action="x")]
        with pytest.raises(AuditUnavailable, match="already waiting"):
            w.submit(actor="a", action="x")
    finally:
        hold.release()
    assert [f.result(timeout=60) for f in [first, *queued]] == [2, 3, 4]
    w.close()
    with pytest.raises(AuditUnavailable, match="closed"):
        w.submit(actor="a", action="x")


def test_a_detail_that_is_not_json_fails_only_that_call(writer: AuditWriter) -> None:
    with pytest.raises(TypeError):
        writer.submit(actor="a", action="x", detail={"when": object()})
    assert writer.submit(actor="a", action="x").result(timeout=60) == 1
