"""Publishing against a real Redis: round trip, live fan-out, dedup/cooldown, outages."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from alerts import keys
from alerts.consumer import AlertConsumer
from alerts.publisher import AlertPublisher
from tests.alerts.conftest import RedisServer
from tests.alerts.factory import make_alert, stream_alerts

pytestmark = pytest.mark.redis


def test_round_trip_stream_and_pubsub(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    sub = r.pubsub()  # type: ignore[no-untyped-call]
    sub.subscribe(keys.ALERT_CHANNEL)
    assert sub.get_message(timeout=1.0) is not None  # subscribe confirmation
    consumer = AlertConsumer(r, group="dashboard", consumer="c1")
    with AlertPublisher(redis_url, outbox_path=tmp_path / "outbox.sqlite") as pub:
        sent = [pub.publish(make_alert(track_id=i)) for i in range(3)]
    assert [s.action for s in sent] == ["new"] * 3
    assert not any(s.queued for s in sent)
    got = consumer.read(count=10)
    assert [d.alert.id for d in got] == [s.alert.id for s in sent]
    assert [d.entry_id for d in got] == [s.stream_id for s in sent]
    first = got[0].alert
    assert first.location.lat == sent[0].alert.location.lat
    assert first.times.published is not None
    assert first.times.glass_to_alert_s is not None and first.times.glass_to_alert_s >= 0
    assert {"captured", "alerted", "published"} <= set(first.times.stages)
    live = [sub.get_message(timeout=1.0) for _ in range(3)]
    assert all(m is not None and m["type"] == "message" for m in live)
    assert consumer.ack(*(d.entry_id for d in got)) == 3
    assert consumer.pending() == 0
    sub.close()


# (sightings as (seconds after start, severity), cooldown, update interval,
#  expected actions, expected published update counts)
DEDUP_TABLE = [
    pytest.param(
        [(0.0, None), (0.05, None), (0.1, None)],
        10.0,
        0.0,
        ["new", "update", "update"],
        [0, 1, 2],
        id="repeats-become-updates",
    ),
    pytest.param(
        [(0.0, None), (0.05, None), (0.1, None)],
        10.0,
        5.0,
        ["new", "suppressed", "suppressed"],
        [0],
        id="updates-rate-limited",
    ),
    pytest.param(
        [(0.0, "medium"), (0.05, "critical")],
        10.0,
        5.0,
        ["new", "update"],
        [0, 1],
        id="escalation-goes-out-at-once",
    ),
    pytest.param(
        [(0.0, None), (0.4, None)],
        0.2,
        0.0,
        ["new", "new"],
        [0, 0],
        id="after-cooldown-a-new-alert",
    ),
]


@pytest.mark.parametrize(("sightings", "cooldown", "interval", "actions", "counts"), DEDUP_TABLE)
def test_dedup_and_cooldown(
    r: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    sightings: list[tuple[float, str | None]],
    cooldown: float,
    interval: float,
    actions: list[str],
    counts: list[int],
) -> None:
    pub = AlertPublisher(
        redis_url,
        outbox_path=tmp_path / "o.sqlite",
        cooldown_s=cooldown,
        update_interval_s=interval,
    )
    start = time.monotonic()
    results = []
    for at, severity in sightings:
        time.sleep(max(0.0, start + at - time.monotonic()))
        results.append(pub.publish(make_alert(track_id=1, severity=severity)))  # type: ignore[arg-type]
    pub.close()
    assert [x.action for x in results] == actions
    stored = stream_alerts(r)
    assert [a.update_count for a in stored] == counts
    n_new = actions.count("new")
    assert len({a.id for a in stored}) == n_new  # one alert id per incident
    if n_new == 1:
        assert stored[-1].occurrences == len(sightings) or actions[-1] == "suppressed"
        assert stored[-1].severity == max(
            (a.severity for a in stored), key=["info", "low", "medium", "high", "critical"].index
        )


def test_incident_continues_on_another_worker(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """A camera handed to another worker keeps its open incident (the dedup hash in Redis)."""
    with AlertPublisher(redis_url, outbox_path=tmp_path / "a.sqlite", update_interval_s=0) as a:
        first = a.publish(make_alert(track_id=5))
    with AlertPublisher(redis_url, outbox_path=tmp_path / "b.sqlite", update_interval_s=0) as b:
        second = b.publish(make_alert(track_id=5))
    assert second.action == "update"
    assert second.alert.id == first.alert.id
    assert second.alert.update_count == 1
    assert 0 < r.pttl(keys.dedup(first.alert.dedup_key)) <= 60_000


def test_outbox_when_redis_is_down_at_start(tmp_path: Path, own_redis: RedisServer) -> None:
    own_redis.stop()
    pub = AlertPublisher(own_redis.url, outbox_path=tmp_path / "o.sqlite", update_interval_s=0)
    sent = [pub.publish(make_alert(track_id=i)) for i in range(5)]
    assert all(s.queued for s in sent)
    assert pub.close(timeout_s=0.5) == 5  # nothing reachable: all kept on disk
    own_redis.start()
    # The next run (same outbox file) publishes them first, in order.
    with AlertPublisher(own_redis.url, outbox_path=tmp_path / "o.sqlite") as pub2:
        assert pub2.flush(timeout_s=5)
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    stored = stream_alerts(client)
    assert [a.id for a in stored] == [s.alert.id for s in sent]
    assert all("outboxed" in a.times.stages for a in stored)
    client.close()


@pytest.mark.slow
def test_redis_stopped_ten_seconds_loses_nothing(tmp_path: Path, own_redis: RedisServer) -> None:
    """Publish continuously while Redis is down for 10 s: every alert arrives, in order."""
    pub = AlertPublisher(
        own_redis.url, outbox_path=tmp_path / "o.sqlite", update_interval_s=0, timeout_s=0.5
    )
    published: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            published.append(pub.publish(make_alert(track_id=i)).alert.id)
            i += 1
            time.sleep(0.02)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.0)
    own_redis.stop()
    time.sleep(10.0)
    queued_during_outage = len(pub.outbox)
    own_redis.start()
    time.sleep(2.0)
    stop.set()
    producer.join()
    assert pub.close(timeout_s=10) == 0
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    stored = stream_alerts(client)
    client.close()
    assert queued_during_outage > 50  # the outage really happened while publishing
    assert pub.stats.flushed >= queued_during_outage
    assert [a.id for a in stored] == published  # none lost, none reordered


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cooldown_s": 5.0, "update_interval_s": 10.0}, "update_interval_s <= cooldown_s"),
        ({"update_interval_s": -1.0}, "update_interval_s <= cooldown_s"),
        ({"stream_maxlen": 0}, "stream_maxlen and flush_batch must be >= 1"),
    ],
)
def test_bad_publisher_settings(tmp_path: Path, options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertPublisher(outbox_path=tmp_path / "o.sqlite", **options)  # type: ignore[arg-type]


def test_a_camera_that_comes_back_continues_where_the_other_worker_left_it(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """A → B → A (leases moved the camera away and back): no update number twice."""
    a = AlertPublisher(redis_url, outbox_path=tmp_path / "a.sqlite", update_interval_s=0)
    b = AlertPublisher(redis_url, outbox_path=tmp_path / "b.sqlite", update_interval_s=0)
    try:
        counts = [pub.publish(make_alert(track_id=9)).alert.update_count for pub in (a, b, b, a, b)]
    finally:
        a.close()
        b.close()
    assert counts == [0, 1, 2, 3, 4]
    assert len({x.id for x in stream_alerts(r)}) == 1
