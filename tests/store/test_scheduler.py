"""The service's scheduler round: escalation goes out live, the purge runs and is audited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.store.audit import AuditEntry
from alerts.store.db import transaction
from alerts.store.incidents import Incident
from api.services import Services
from tests.alerts.factory import make_alert
from tests.store.conftest import settings_for
from tests.store.helpers import store

pytestmark = pytest.mark.redis


def test_a_tick_escalates_live_and_purges(
    db_url: str, tmp_path: Path, r: redis.Redis, factory: sessionmaker[Session]
) -> None:
    ignored, old = make_alert(severity="high"), make_alert()
    store(factory, ignored, old)
    with factory() as s:
        t0 = s.get(Incident, ignored.id).state_since  # type: ignore[union-attr]
    with transaction(factory) as s:
        s.execute(
            update(Incident)
            .where(Incident.id == old.id)
            .values(state="closed", close_reason="test", closed_at=t0 - timedelta(days=8))
        )
    sub = r.pubsub()  # type: ignore[no-untyped-call]
    sub.subscribe(keys.INCIDENT_CHANNEL)
    sub.get_message(timeout=1)  # the subscribe confirmation
    svc = Services(settings_for(db_url, tmp_path))
    try:
        svc.tick(now=t0 + timedelta(seconds=61))
    finally:
        svc.close()
    msg = sub.get_message(timeout=5)
    sub.close()
    assert msg is not None
    doc = json.loads(msg["data"])
    assert doc["event"] == "incident.escalated" and doc["incident"]["id"] == ignored.id
    assert doc["incident"]["severity"] == "critical"
    with factory() as s:
        assert s.get(Incident, old.id) is None
        purge = s.execute(
            select(AuditEntry).where(AuditEntry.action == "retention.purge")
        ).scalar_one()
        assert old.id in purge.detail
