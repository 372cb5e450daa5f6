"""Builders for store tests: alerts with updates on the real stream, plate reads."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from sqlalchemy.orm import Session, sessionmaker
from ulid import ULID

from alerts import keys
from alerts.consumer import Delivery
from alerts.model import Alert, PlateSubject
from alerts.plate_reads import PlateRead
from alerts.store.consumer import store_alerts
from alerts.store.db import transaction
from tests.alerts.factory import make_alert


def xadd(r: redis.Redis, alert: Alert) -> str:
    """Put one alert publication on the stream, as the publisher does."""
    fields = {
        "alert": alert.model_dump_json(),
        "id": alert.id,
        "type": alert.type,
        "camera": alert.camera,
    }
    return str(r.xadd(keys.ALERT_STREAM, fields))  # type: ignore[arg-type]


def update_of(alert: Alert, n: int, severity: str | None = None) -> Alert:
    """The n-th update of an alert (same id)."""
    return alert.model_copy(
        update={"update_count": n, "occurrences": n + 1, "severity": severity or alert.severity}
    )


def plate_alert(plate: str = "宁A12345", **kw: object) -> Alert:
    a = make_alert(type="plate.blacklist", **kw)  # type: ignore[arg-type]
    subj = PlateSubject(
        plate=plate, confidence=0.9, list_id="bad", list_kind="blacklist", list_entry=plate
    )
    return a.model_copy(update={"subject": subj})


def plate_read(
    plate: str,
    *,
    at: datetime | None = None,
    camera: str = "gate-north",
    compound: str = "lijing",
    crop: str | None = None,
) -> PlateRead:
    return PlateRead(
        id=str(ULID()),
        plate=plate,
        confidence=0.9,
        camera=camera,
        compound=compound,
        gate="north gate",
        direction="in",
        read_at=at or datetime.now(UTC),
        crop_sha256=crop,
    )


def store(factory: sessionmaker[Session], *alerts: Alert) -> None:
    """Write alerts straight through the consumer's transaction (no Redis)."""
    with transaction(factory) as s:
        store_alerts(s, [Delivery(f"{i + 1}-0", a) for i, a in enumerate(alerts)])
