"""The store consumer on both engines: exactly once, dead letters, plate reads."""

from __future__ import annotations

import threading

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.plate_reads import publish_read
from alerts.store.access_log import VehicleRead
from alerts.store.consumer import StoreConsumer
from alerts.store.incidents import Incident, IncidentUpdate
from tests.alerts.factory import make_alert, stream_entries
from tests.store.helpers import plate_read, update_of, xadd

pytestmark = pytest.mark.redis


def drain(sc: StoreConsumer) -> None:
    while sc.step(block_ms=50):
        pass


def counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Incident)) or 0),
            int(s.scalar(select(func.count()).select_from(IncidentUpdate)) or 0),
        )


def test_alerts_and_updates_are_stored_once_even_when_redelivered(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    alerts = [make_alert(track_id=i) for i in range(5)]
    for a in alerts:
        xadd(r, a)
        for n in (1, 2):
            xadd(r, update_of(a, n, severity="critical" if n == 2 else None))
    xadd(r, update_of(alerts[0], 1))  # a repeat from the publisher's outbox
    sc = StoreConsumer(factory, r, consumer="t1")
    drain(sc)
    assert counts(factory) == (5, 15)
    assert sc.stats.duplicates == 1
    # The group forgets what it delivered: everything arrives again, nothing changes.
    r.xgroup_setid(keys.ALERT_STREAM, keys.STORE_GROUP, "0")
    drain(StoreConsumer(factory, r, consumer="t2"))
    assert counts(factory) == (5, 15)
    with factory() as s:
        inc = s.get(Incident, alerts[0].id)
        assert inc is not None
        assert (inc.update_count, inc.severity, inc.original_severity) == (2, "critical", "high")
        assert [u.update_count for u in inc.updates] == [0, 1, 2]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"alert": "{not json"}, "not a valid alert"),
        ({"id": "x"}, "no 'alert' field"),
        ({"alert": '{"id": "01J"}'}, "not a valid alert"),
    ],
)
def test_bad_entry_goes_to_dead_letters_and_the_store_goes_on(
    factory: sessionmaker[Session], r: redis.Redis, fields: dict[str, str], reason: str
) -> None:
    good = make_alert()
    bad_id = str(r.xadd(keys.ALERT_STREAM, fields))  # type: ignore[arg-type]
    xadd(r, good)
    sc = StoreConsumer(factory, r, consumer="t")
    drain(sc)
    assert counts(factory) == (1, 1)
    dead = stream_entries(r, keys.DEAD_STREAM)
    assert len(dead) == 1
    assert dead[0][1]["source_id"] == bad_id
    assert reason in dead[0][1]["error"]
    assert sc.alerts.pending() == 0


def test_an_alert_the_database_refuses_is_dead_lettered_not_retried_forever(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    too_long = make_alert(camera_id="c" * 80)  # longer than the camera column
    xadd(r, too_long)
    xadd(r, make_alert())
    sc = StoreConsumer(factory, r, consumer="t")
    drain(sc)
    n_incidents, _ = counts(factory)
    dead = stream_entries(r, keys.DEAD_STREAM)
    # SQLite does not enforce VARCHAR lengths: there both are stored; PostgreSQL refuses.
    if factory.kw["bind"].dialect.name == "postgresql":
        assert (n_incidents, len(dead)) == (1, 1)
        assert (
            "StringDataRightTruncation" in dead[0][1]["error"] or "too long" in dead[0][1]["error"]
        )
    else:
        assert (n_incidents, len(dead)) == (2, 0)


def test_plate_reads_become_access_log_rows_once(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    reads = [plate_read(p) for p in ("宁A12345", "宁A1Z345", "京B88888")]
    for rd in reads:
        assert publish_read(r, rd) is not None
    publish_read(r, reads[0])  # repeated
    sc = StoreConsumer(factory, r, consumer="t")
    drain(sc)
    with factory() as s:
        rows = s.execute(select(VehicleRead).order_by(VehicleRead.plate)).scalars().all()
    assert sorted(v.plate for v in rows) == sorted(["宁A12345", "宁A1Z345", "京B88888"])
    assert sc.stats.stored_reads == 3


def test_run_stops_when_told(factory: sessionmaker[Session], r: redis.Redis) -> None:
    sc = StoreConsumer(factory, r, consumer="t")
    stop = threading.Event()
    t = threading.Thread(target=sc.run, args=(stop,), kwargs={"block_ms": 50})
    t.start()
    xadd(r, make_alert())
    for _ in range(100):
        if counts(factory)[0] == 1:
            break
        stop.wait(0.05)
    stop.set()
    t.join(timeout=5)
    assert not t.is_alive()
    assert counts(factory) == (1, 1)
