"""Per-camera snooze: a camera being repaired stays silent until ``until``.

Alerts of a snoozed camera are still stored; they are only not pushed live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alerts.store.db import Base, UTCDateTime


class CameraSnooze(Base):
    """A camera silenced until a time (the snooze ends by itself)."""

    __tablename__ = "camera_snoozes"

    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def snooze(
    session: Session,
    camera: str,
    *,
    minutes: float,
    by: str,
    reason: str = "",
    now: datetime | None = None,
) -> CameraSnooze:
    """Silence ``camera`` for ``minutes`` from now (replacing any snooze it had)."""
    now = now or datetime.now(UTC)
    row = session.get(CameraSnooze, camera)
    until = now + timedelta(minutes=minutes)
    if row is None:
        row = CameraSnooze(camera=camera, until=until, by=by, reason=reason, created_at=now)
        session.add(row)
    else:
        row.until, row.by, row.reason, row.created_at = until, by, reason, now
    session.flush()
    return row


def unsnooze(session: Session, camera: str) -> bool:
    """End a camera's snooze now; True when it had one."""
    row = session.get(CameraSnooze, camera)
    if row is None:
        return False
    session.delete(row)
    return True


def active(session: Session, now: datetime | None = None) -> dict[str, CameraSnooze]:
    """Snoozes still running, by camera."""
    now = now or datetime.now(UTC)
    rows = session.execute(select(CameraSnooze).where(CameraSnooze.until > now)).scalars()
    return {r.camera: r for r in rows}


def expire(session: Session, now: datetime | None = None) -> int:
    """Delete ended snoozes (they already have no effect); returns how many."""
    now = now or datetime.now(UTC)
    res = session.execute(delete(CameraSnooze).where(CameraSnooze.until <= now))
    return int(res.rowcount)  # type: ignore[attr-defined]
