"""Consumer groups: at-least-once delivery, takeover of a dead consumer's entries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from alerts import keys
from alerts.consumer import AlertConsumer
from alerts.publisher import AlertPublisher
from tests.alerts.factory import make_alert, stream_entries

pytestmark = pytest.mark.redis


def _publish(redis_url: str, tmp_path: Path, n: int) -> list[str]:
    with AlertPublisher(redis_url, outbox_path=tmp_path / "o.sqlite") as pub:
        return [pub.publish(make_alert(track_id=i)).alert.id for i in range(n)]


def test_consumer_dying_before_ack_hands_entries_to_another(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    crashing = AlertConsumer(r, group="police", consumer="host-a", min_idle_ms=200)
    survivor = AlertConsumer(r, group="police", consumer="host-b", min_idle_ms=200)
    ids = _publish(redis_url, tmp_path, 3)
    taken = crashing.read(count=2)  # host-a reads two, then dies without XACK
    assert [d.alert.id for d in taken] == ids[:2]
    fresh = survivor.read(count=10)  # too early to claim: only the third
    assert [d.alert.id for d in fresh] == ids[2:]
    assert not fresh[0].claimed
    survivor.ack(fresh[0].entry_id)
    time.sleep(0.3)  # longer than min_idle_ms
    claimed = survivor.read(count=10)
    assert [d.alert.id for d in claimed] == ids[:2]
    assert all(d.claimed for d in claimed)
    assert survivor.ack(*(d.entry_id for d in claimed)) == 2
    assert survivor.pending() == 0


def test_restarted_consumer_gets_its_own_backlog_first(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    first = AlertConsumer(r, group="sms", consumer="gw-1", min_idle_ms=60_000)
    ids = _publish(redis_url, tmp_path, 5)
    assert len(first.read(count=3)) == 3  # crash here: 3 pending, unacked
    again = AlertConsumer(r, group="sms", consumer="gw-1", min_idle_ms=60_000)
    got = again.read(count=2) + again.read(count=2) + again.read(count=2)
    assert [d.alert.id for d in got] == ids  # backlog paged once, then new entries
    again.ack(*(d.entry_id for d in got))
    assert again.read(count=10) == []


def test_groups_are_independent(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    a = AlertConsumer(r, group="dashboard", consumer="x")
    b = AlertConsumer(r, group="police", consumer="x")
    ids = _publish(redis_url, tmp_path, 2)
    assert [d.alert.id for d in a.read()] == ids
    assert [d.alert.id for d in b.read()] == ids


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"junk": "1"}, "no 'alert' field"),
        ({"alert": '{"type": "zone.intrusion"}'}, "not a valid alert"),
    ],
)
def test_unreadable_entries_go_to_dead_letters(
    r: redis.Redis, fields: dict[str, str], error: str
) -> None:
    c = AlertConsumer(r, group="g", consumer="c")
    bad = r.xadd(keys.ALERT_STREAM, fields)  # type: ignore[arg-type]
    assert c.read() == []
    assert c.pending() == 0
    dead = stream_entries(r, keys.DEAD_STREAM)
    assert len(dead) == 1
    assert dead[0][1]["source_id"] == bad
    assert error in dead[0][1]["error"]


def test_blocking_read_wakes_on_new_alert(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    c = AlertConsumer(r, group="g", consumer="c", start_id="$")
    t0 = time.monotonic()
    assert c.read(block_ms=200) == []
    assert time.monotonic() - t0 >= 0.15
    ids = _publish(redis_url, tmp_path, 1)
    assert [d.alert.id for d in c.read(block_ms=1000)] == ids


_DYING_CONSUMER = """
import os, signal, sys
import redis
from alerts.consumer import AlertConsumer
c = AlertConsumer(redis.Redis.from_url(sys.argv[1], decode_responses=True),
                  group="police", consumer="doomed", min_idle_ms=200)
got = c.read(count=2)
print(",".join(d.alert.id for d in got), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # dies before XACK
"""


@pytest.mark.slow
def test_killed_consumer_process_entries_are_redelivered(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """A real consumer process is SIGKILLed after reading; a survivor gets its entries."""
    import subprocess
    import sys

    ids = _publish(redis_url, tmp_path, 3)
    AlertConsumer(r, group="police", consumer="survivor", min_idle_ms=200)  # group exists
    proc = subprocess.run(
        [sys.executable, "-c", _DYING_CONSUMER, redis_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.strip().split(",") == ids[:2]
    survivor = AlertConsumer(r, group="police", consumer="survivor", min_idle_ms=200)
    time.sleep(0.3)
    got = survivor.read(count=10)
    assert sorted(d.alert.id for d in got) == sorted(ids)  # 2 claimed + 1 new
    assert {d.alert.id for d in got if d.claimed} == set(ids[:2])
    survivor.ack(*(d.entry_id for d in got))
    assert survivor.pending() == 0
