"""Escalation: an incident left ``new`` too long rises one severity step.

The delay is per severity (``EscalationPolicy``, e.g. 60 s for ``high``) and counts
from when the incident entered ``new`` or was last escalated, so an ignored ``medium``
becomes ``high`` and, a minute later, ``critical``. Each step is an activity entry and
an ``incident.escalated`` live event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.model import SEVERITY_RANK
from alerts.store.incidents import Activity, Incident

_ORDER = sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__)


def next_severity(severity: str) -> str | None:
    """One step up, or None at the top."""
    i = SEVERITY_RANK[severity]
    return _ORDER[i + 1] if i + 1 < len(_ORDER) else None


def escalate_due(
    session: Session,
    delay_for: Callable[[str], float | None],
    now: datetime | None = None,
    limit: int = 500,
) -> list[Incident]:
    """Escalate every ``new`` incident whose delay has passed; returns them.

    Args:
        delay_for: seconds a ``new`` incident of a severity may wait (None: never).
    """
    now = now or datetime.now(UTC)
    delays = {s: delay_for(s) for s in _ORDER}
    oldest = now - timedelta(seconds=min((d for d in delays.values() if d), default=0))
    candidates = session.execute(
        select(Incident)
        .where(Incident.state == "new", Incident.severity != "critical")
        .where(Incident.state_since <= oldest)
        .order_by(Incident.state_since)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    out = []
    for inc in candidates:
        delay = delays.get(inc.severity)
        up = next_severity(inc.severity)
        if delay is None or up is None:
            continue
        since = max(inc.state_since, inc.escalated_at or inc.state_since)
        if (now - since).total_seconds() < delay:
            continue
        before, inc.severity, inc.escalated_at = inc.severity, up, now
        session.add(
            Activity(
                incident_id=inc.id,
                at=now,
                actor="system",
                action="escalated",
                from_state="new",
                to_state="new",
                version=inc.version,
                detail={"from": before, "to": up, "after_s": round((now - since).total_seconds())},
            )
        )
        out.append(inc)
    session.flush()
    return out
