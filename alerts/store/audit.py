"""The audit log: append-only, hash-chained.

Every entry carries the SHA-256 of the entry before it (``prev_hash``) and its own hash
over its fields and that link, and the ``audit_head`` row holds the newest sequence
number and hash. :func:`verify` walks the chain and reports the first entry that was
changed (its hash no longer matches), removed (a gap in the sequence, a broken link)
or cut off the end (the head names a later entry than the last one present).

Entries say who, what, when and from where; never biometric data, never secrets.

Example:
    >>> with transaction(factory) as s:                       # doctest: +SKIP
    ...     append(s, actor="wang", action="incident.close", target="01J...",
    ...            detail={"reason": "false_alarm"}, source="10.0.0.7")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alerts.store.db import Base, UTCDateTime

GENESIS = "0" * 64


class AuditEntry(Base):
    """One audited action."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(64), default="", comment="client address")
    detail: Mapped[str] = mapped_column(Text, default="{}", comment="canonical JSON")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The newest entry's sequence number and hash (one row, id 1)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


def canonical(detail: Mapping[str, Any]) -> str:
    """The JSON text that is hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(e: AuditEntry) -> str:
    """SHA-256 over the entry's fields and the previous entry's hash."""
    doc = {
        "seq": e.seq,
        "at": e.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "source": e.source,
        "detail": e.detail,
        "prev": e.prev_hash,
    }
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Pending:
    """An entry waiting to be appended (see :func:`append_many`); ``detail`` is canonical JSON."""

    actor: str
    action: str
    target: str
    detail: str
    source: str
    at: datetime

    @classmethod
    def of(
        cls,
        *,
        actor: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        source: str = "",
        at: datetime | None = None,
    ) -> Pending:
        """The entry as it will be stored: fields cut to their columns, time in UTC."""
        return cls(
            actor=actor[:64],
            action=action[:64],
            target=target[:200],
            detail=canonical(detail or {}),
            source=source[:64],
            at=(at or datetime.now(UTC)).astimezone(UTC),
        )


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    source: str = "",
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction (it commits with the change it records).

    The head row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions
    hold the write lock from BEGIN), so concurrent appends form one chain.
    """
    p = Pending.of(actor=actor, action=action, target=target, detail=detail, source=source, at=at)
    return append_many(session, [p])[0]


def append_many(session: Session, entries: Sequence[Pending]) -> list[AuditEntry]:
    """Add several entries, in order, in the caller's transaction: the head is locked
    and moved once (the group commit of :class:`alerts.store.audit_writer.AuditWriter`)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    out: list[AuditEntry] = []
    seq, prev = head.seq, head.hash
    for p in entries:
        seq += 1
        e = AuditEntry(
            seq=seq,
            at=p.at,
            actor=p.actor,
            action=p.action,
            target=p.target,
            source=p.source,
            detail=p.detail,
            prev_hash=prev,
            hash="",
        )
        e.hash = prev = entry_hash(e)
        out.append(e)
    session.add_all(out)
    head.seq, head.hash = seq, prev
    session.flush()
    return out


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found.

    Attributes:
        ok: the whole chain is intact.
        checked: entries read.
        first_bad: sequence number of the first entry changed or missing, else None.
        problem: what is wrong there, in words.
    """

    ok: bool
    checked: int
    first_bad: int | None = None
    problem: str = ""


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain oldest first; stop at the first changed or missing entry."""
    prev_hash, expect, checked = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq >= expect)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for e in rows:
            if e.seq != expect:
                return VerifyResult(
                    False, checked, expect, f"entry {expect} is missing (next present is {e.seq})"
                )
            if e.prev_hash != prev_hash:
                return VerifyResult(
                    False, checked, e.seq, f"entry {e.seq} does not link to entry {e.seq - 1}"
                )
            if entry_hash(e) != e.hash:
                return VerifyResult(
                    False, checked, e.seq, f"entry {e.seq} ({e.action} by {e.actor}) was changed"
                )
            prev_hash, expect, last_seq = e.hash, e.seq + 1, e.seq
            checked += 1
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        if head.seq > last_seq:
            return VerifyResult(
                False,
                checked,
                last_seq + 1,
                f"entries {last_seq + 1}..{head.seq} are missing from the end",
            )
        return VerifyResult(False, checked, head.seq, "the chain head does not match the log")
    return VerifyResult(True, checked)
