"""Redis through Sentinel: URL parsing, and a real failover during alerts.

The failover test runs a real primary, a replica and three Sentinels on loopback; the
primary is SIGKILLed while a publisher sends alerts, a lease manager renews and a
consumer group (the store's way of reading) takes them. All three must carry on with
the promoted replica, and every alert published must be there afterwards, in order.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from alerts import keys
from alerts.connection import SentinelTarget, connect, is_sentinel_url, parse_sentinel_url
from alerts.consumer import AlertConsumer
from alerts.leases import LeaseManager, drain
from alerts.publisher import AlertPublisher
from tests.alerts.conftest import REDIS_SERVER
from tests.alerts.factory import make_alert, stream_alerts
from tests.alerts.sentinel import REDIS_SENTINEL, SentinelSet


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "redis+sentinel://a:26379,b:26380/shouwang/3",
            SentinelTarget((("a", 26379), ("b", 26380)), "shouwang", 3),
        ),
        ("sentinel://a/svc", SentinelTarget((("a", 26379),), "svc", 0)),
        (
            "redis+sentinel://:s%40cret@a:1/svc/0?sentinel_password=x",
            SentinelTarget((("a", 1),), "svc", 0, "s@cret", "x"),
        ),
    ],
)
def test_sentinel_urls_parse(url: str, target: SentinelTarget) -> None:
    assert is_sentinel_url(url)
    assert parse_sentinel_url(url) == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel:///svc", "no Sentinel host"),
        ("redis+sentinel://a:26379", "no service name"),
        ("redis+sentinel://a:x/svc", "bad port"),
        ("redis+sentinel://a/svc/zero", "database must be a number"),
    ],
)
def test_bad_sentinel_urls_say_which_part(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sentinel_url(url)


def test_the_password_never_shows_in_the_target() -> None:
    assert "s3cret" not in repr(parse_sentinel_url("redis+sentinel://:s3cret@a/svc"))
    assert not is_sentinel_url("redis://127.0.0.1:6379/0")


@pytest.mark.redis
def test_drain_hands_a_worker_s_cameras_to_the_others_at_once(r: redis.Redis) -> None:
    cams = [f"cam-{i}" for i in range(6)]
    a = LeaseManager(r, "a", cams, ttl_ms=60_000)
    b = LeaseManager(r, "b", cams, ttl_ms=60_000)
    a.heartbeat()
    b.heartbeat()
    a.tick()
    b.tick()
    held = set(a.owned())
    assert len(held) == 3
    assert drain(r, "a") == 3  # the preStop hook: no waiting for the 60 s TTL
    change = a.tick()  # a sees its flag: serves nothing, takes nothing
    assert change.released == held and not a.owned()
    assert b.tick().gained == held
    a.tick()
    assert not a.owned() and len(b.owned()) == 6
    a.clear_drain()  # the pod restarts under the same name
    a.tick()  # a is live again
    b.tick()  # b gives back down to its share
    a.tick()  # a takes them
    assert len(a.owned()) + len(b.owned()) == 6 and a.owned()


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    for binary in (REDIS_SERVER, REDIS_SENTINEL):
        if not os.access(binary, os.X_OK):
            pytest.skip(f"{binary} not found (scripts/setup installs redis-sentinel)")
    ha = SentinelSet(tmp_path / "ha")
    ha.start()
    yield ha
    ha.stop()


@pytest.mark.redis
@pytest.mark.slow
def test_a_failover_during_alerts_loses_none_and_keeps_their_order(
    tmp_path: Path, sentinels: SentinelSet
) -> None:
    url = sentinels.url
    old_primary = sentinels.primary.port
    publisher = AlertPublisher(
        url,
        outbox_path=tmp_path / "outbox.sqlite",
        timeout_s=0.5,
        retry_interval_s=0.1,
        max_retry_interval_s=0.5,
        wait_replicas=1,
        wait_timeout_ms=100,
    )
    leases = LeaseManager(connect(url, timeout_s=0.5), "w1", ["gate", "roof"], ttl_ms=3000)
    leases.start(lambda change: None)
    published: list[str] = []
    stored: list[str] = []
    stop = threading.Event()

    def store() -> None:  # reads like the store does: a consumer group, ack after saving
        consumer: AlertConsumer | None = None
        while not stop.is_set():
            try:
                consumer = consumer or AlertConsumer(
                    connect(url, timeout_s=0.5), group="store", consumer="s1", min_idle_ms=500
                )
                got = consumer.read(count=100, block_ms=100)
                stored.extend(d.alert.id for d in got)
                consumer.ack(*(d.entry_id for d in got))
            except (redis.RedisError, OSError):
                time.sleep(0.1)  # the primary is gone: Sentinel names the next one

    reader = threading.Thread(target=store, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            published.append(publisher.publish(make_alert(track_id=len(published))).alert.id)
            time.sleep(0.02)
        sentinels.primary.kill()  # during alerts
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            published.append(publisher.publish(make_alert(track_id=len(published))).alert.id)
            time.sleep(0.02)
        assert publisher.flush(timeout_s=15), f"{len(publisher.outbox)} alerts still queued"
        new_primary = sentinels.primary_port()
        assert new_primary == sentinels.replica.port != old_primary
        after = redis.Redis(port=new_primary, decode_responses=True)
        assert cast("str", after.info("replication")["role"]) == "master"
        # every alert, each first seen in the order it was published
        ids = [a.id for a in stream_alerts(after)]
        lost = [i for i, a in enumerate(published) if a not in set(ids)]
        assert not lost, f"lost {len(lost)} of {len(published)}: #{lost} {publisher.stats}"
        assert list(dict.fromkeys(ids)) == published
        # the store followed the new primary and got them all
        end = time.monotonic() + 15
        while set(stored) != set(published) and time.monotonic() < end:
            time.sleep(0.2)
        assert set(stored) == set(published)
        assert list(dict.fromkeys(stored)) == published
        # the worker's leases live on, renewed on the new primary
        time.sleep(1.5)
        assert after.get(keys.camera_lease("gate")) == "w1"
        assert leases.owned() == {"gate", "roof"}
        print(
            f"failover: {len(published)} alerts, {len(ids) - len(set(ids))} sent twice "
            f"(at-least-once), {publisher.stats.queued} went through the outbox"
        )
    finally:
        stop.set()
        reader.join(timeout=5)
        leases.stop(release=False)
        publisher.close()
