"""Retention: closed incidents, their evidence and old access-log reads are deleted
when their time is up; nothing on legal hold ever is.

How long (``RetentionPolicy``): closed false alarms 30 days, test alerts 7, confirmed
incidents 180, other closed incidents 90 (or the alert type's own limit), access-log
reads 90, counted from the close (or the read). Open incidents are kept until closed.
Each purge writes what it removed (incident ids, read count, files) to the audit log.
Evidence files are deleted once nothing left in the store refers to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.evidence import evidence_path
from alerts.store import audit
from alerts.store.access_log import VehicleRead
from alerts.store.incidents import EvidenceLink, Incident


class Policy(Protocol):
    """What :func:`purge` needs of ``api.settings.RetentionPolicy``."""

    false_alarm_days: float
    test_days: float
    confirmed_days: float
    default_days: float
    per_type: dict[str, float]
    access_log_days: float


def keep_days(policy: Policy, inc: Incident) -> float:
    """Days a closed incident is kept after its close."""
    if inc.close_reason == "false_alarm":
        return policy.false_alarm_days
    if inc.close_reason == "test":
        return policy.test_days
    if inc.close_reason == "confirmed":
        return max(policy.confirmed_days, policy.per_type.get(inc.type, 0))
    return policy.per_type.get(inc.type, policy.default_days)


@dataclass
class PurgeResult:
    """What one purge removed."""

    incidents: list[str] = field(default_factory=list)
    reads: int = 0
    files: int = 0
    held: int = 0


def due_incidents(session: Session, policy: Policy, now: datetime) -> tuple[list[Incident], int]:
    """Closed incidents past their time (and how many more would be, but are on hold)."""
    shortest = min(
        policy.false_alarm_days,
        policy.test_days,
        policy.confirmed_days,
        policy.default_days,
        *policy.per_type.values(),
    )
    cands = session.execute(
        select(Incident).where(
            Incident.state == "closed",
            Incident.closed_at.is_not(None),
            Incident.closed_at <= now - timedelta(days=shortest),
        )
    ).scalars()
    due, held = [], 0
    for inc in cands:
        closed = inc.closed_at or now
        if closed + timedelta(days=keep_days(policy, inc)) > now:
            continue
        if inc.legal_hold:
            held += 1
        else:
            due.append(inc)
    return due, held


def unreferenced(session: Session, shas: Iterable[str]) -> set[str]:
    """The hashes no incident and no access-log read refers to any more."""
    want = sorted(set(shas))
    if not want:
        return set()
    used = set(
        session.execute(select(EvidenceLink.sha256).where(EvidenceLink.sha256.in_(want))).scalars()
    )
    used |= {
        c
        for c in session.execute(
            select(VehicleRead.crop_sha256).where(VehicleRead.crop_sha256.in_(want))
        ).scalars()
        if c
    }
    return set(want) - used


def delete_files(root: Path, shas: Iterable[str]) -> int:
    """Delete evidence files by hash; returns how many existed."""
    n = 0
    for sha in shas:
        p = evidence_path(root, sha)
        if p.is_file():
            p.unlink()
            n += 1
    return n


def purge(
    session: Session,
    policy: Policy,
    evidence_root: Path,
    *,
    now: datetime | None = None,
    actor: str = "retention",
) -> PurgeResult:
    """Delete what is due, in the caller's transaction; audited (one entry per purge)."""
    now = now or datetime.now(UTC)
    res = PurgeResult()
    due, res.held = due_incidents(session, policy, now)
    ids = [i.id for i in due]
    shas: set[str] = set()
    for chunk in _chunks(ids, 500):
        shas |= set(
            session.execute(
                select(EvidenceLink.sha256).where(EvidenceLink.incident_id.in_(chunk))
            ).scalars()
        )
        session.execute(delete(Incident).where(Incident.id.in_(chunk)))
    cutoff = now - timedelta(days=policy.access_log_days)
    shas |= {
        s
        for s in session.execute(
            select(VehicleRead.crop_sha256).where(VehicleRead.read_at < cutoff)
        ).scalars()
        if s
    }
    r = session.execute(delete(VehicleRead).where(VehicleRead.read_at < cutoff))
    res.reads = int(r.rowcount)  # type: ignore[attr-defined]
    session.flush()
    res.incidents = ids
    res.files = delete_files(evidence_root, unreferenced(session, shas))
    if ids or res.reads or res.files:
        audit.append(
            session,
            actor=actor,
            action="retention.purge",
            at=now,
            detail={
                "incidents": ids[:2000],
                "incident_count": len(ids),
                "reads": res.reads,
                "files": res.files,
                "kept_on_hold": res.held,
            },
        )
    return res


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
