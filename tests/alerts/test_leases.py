"""Camera leases: one owner per camera, balance, takeover after a worker dies."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from alerts import keys
from alerts.leases import LeaseManager

pytestmark = pytest.mark.redis

CAMERAS = [f"cam-{i}" for i in range(6)]


def _owners(r: redis.Redis) -> dict[str, str | None]:
    return {c: r.get(keys.camera_lease(c)) for c in CAMERAS}  # type: ignore[misc]


def _settle(managers: list[LeaseManager], rounds: int = 3) -> None:
    for _ in range(rounds):
        for m in managers:
            m.tick()


@pytest.mark.parametrize(
    ("n_workers", "expected_shares"),
    [(1, [6]), (2, [3, 3]), (3, [2, 2, 2]), (4, [2, 2, 1, 1])],
)
def test_each_camera_has_one_owner_and_load_is_balanced(
    r: redis.Redis, n_workers: int, expected_shares: list[int]
) -> None:
    managers = [LeaseManager(r, f"w{i}", CAMERAS, ttl_ms=2000) for i in range(n_workers)]
    for m in managers:
        m.heartbeat()  # all alive before anyone grabs
    _settle(managers)
    owned = [m.owned() for m in managers]
    assert sorted((len(o) for o in owned), reverse=True) == expected_shares
    union = set().union(*owned)
    assert union == set(CAMERAS) and sum(len(o) for o in owned) == len(CAMERAS)  # disjoint
    owners = _owners(r)
    for m in managers:
        assert all(owners[c] == m.worker_id for c in m.owned())


def test_new_worker_gets_its_share(r: redis.Redis) -> None:
    a = LeaseManager(r, "a", CAMERAS, ttl_ms=2000)
    assert not a.tick().gained  # the first tick announces a, takes nothing
    assert a.tick().gained == frozenset(CAMERAS)  # alone: everything
    b = LeaseManager(r, "b", CAMERAS, ttl_ms=2000)
    assert not b.tick().gained  # b announces itself; nothing free yet anyway
    change = a.tick()  # a sees two workers and sheds down to its share
    assert len(change.released) == 3 and len(a.owned()) == 3
    assert len(b.tick().gained) == 3
    assert set(Counter(_owners(r).values())) == {"a", "b"}


def test_dead_worker_cameras_taken_over_within_lease_ttl(r: redis.Redis) -> None:
    ttl_ms = 1000
    a = LeaseManager(r, "a", CAMERAS, ttl_ms=ttl_ms)
    b = LeaseManager(r, "b", CAMERAS, ttl_ms=ttl_ms)
    a.heartbeat()
    b.heartbeat()
    _settle([a, b])
    doomed = a.owned()
    assert len(doomed) == 3
    killed_at = time.monotonic()  # a stops renewing: killed
    taken_at = None
    while time.monotonic() - killed_at < 3 * ttl_ms / 1000:
        b.tick()
        if b.owned() == frozenset(CAMERAS):
            taken_at = time.monotonic()
            break
        time.sleep(b.renew_interval_s)
    assert taken_at is not None, "b never took a's cameras"
    # Leases expire ttl after a's last renewal; b notices on its next tick.
    # (+0.5 s of scheduling slack on a loaded CI machine)
    assert taken_at - killed_at <= ttl_ms / 1000 + b.renew_interval_s + 0.5
    lost = a.renew()  # a wakes up (e.g. a paused VM): it must learn it lost them
    assert lost == doomed and a.owned() == frozenset()


def test_cannot_extend_or_release_a_lease_held_by_another(r: redis.Redis) -> None:
    a = LeaseManager(r, "a", ["cam-0"], ttl_ms=5000)
    a.heartbeat()
    a.tick()
    intruder = LeaseManager(r, "b", ["cam-0"], ttl_ms=5000)
    intruder._owned.add("cam-0")  # b wrongly believes it owns cam-0
    assert intruder.renew() == frozenset({"cam-0"})
    intruder._owned.add("cam-0")
    intruder.release_all()
    assert r.get(keys.camera_lease("cam-0")) == "a"


def test_graceful_release_lets_others_take_over_at_once(r: redis.Redis) -> None:
    a = LeaseManager(r, "a", CAMERAS, ttl_ms=60_000)
    b = LeaseManager(r, "b", CAMERAS, ttl_ms=60_000)
    a.tick()
    b.tick()
    a.release_all()
    assert b.tick().owned == frozenset(CAMERAS)  # no need to wait out the 60 s TTL


def test_background_thread_reports_changes(r: redis.Redis) -> None:
    seen: list[frozenset[str]] = []
    m = LeaseManager(r, "solo", CAMERAS, ttl_ms=1000)
    m.start(lambda change: seen.append(change.gained))
    deadline = time.monotonic() + 2
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.5)  # several renewals (and one TTL) later it still owns them all
    assert m.owned() == frozenset(CAMERAS)
    m.stop()
    assert seen == [frozenset(CAMERAS)]
    assert all(v is None for v in _owners(r).values())


@pytest.mark.parametrize("ttl_ms", [0, 99])
def test_ttl_too_short_is_refused(r: redis.Redis, ttl_ms: int) -> None:
    with pytest.raises(ValueError, match="ttl_ms must be at least 100"):
        LeaseManager(r, "w", CAMERAS, ttl_ms=ttl_ms)


def test_late_joiner_is_not_left_idle(r: redis.Redis) -> None:
    """3 workers hold 2 cameras each (the ceiling for 4 too); a 4th joins and gets one."""
    first = [LeaseManager(r, f"w{i}", CAMERAS, ttl_ms=2000) for i in range(3)]
    for m in first:
        m.heartbeat()
    _settle(first)
    late = LeaseManager(r, "late", CAMERAS, ttl_ms=2000)
    _settle([*first, late], rounds=4)
    assert sorted(len(m.owned()) for m in [*first, late]) == [1, 1, 2, 2]
    assert set().union(*(m.owned() for m in [*first, late])) == set(CAMERAS)


_WORKER = """
import sys, time
import redis
from alerts.leases import LeaseManager
m = LeaseManager(redis.Redis.from_url(sys.argv[1], decode_responses=True), "proc",
                 sys.argv[2].split(","), ttl_ms=1000)
m.start(lambda change: print("owned", len(change.owned), flush=True))
time.sleep(60)
"""


@pytest.mark.slow
def test_killed_worker_process_cameras_taken_over(r: redis.Redis, redis_url: str) -> None:
    """A real worker process holding leases is SIGKILLed; the other worker takes over."""
    import subprocess
    import sys

    survivor = LeaseManager(r, "survivor", CAMERAS, ttl_ms=1000)
    survivor.heartbeat()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, redis_url, ",".join(CAMERAS)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            survivor.tick()
            if len(survivor.owned()) == 3 and list(_owners(r).values()).count("proc") == 3:
                break
            time.sleep(survivor.renew_interval_s)
        assert list(_owners(r).values()).count("proc") == 3, (
            "the worker process never got its share"
        )
    finally:
        proc.kill()
        proc.wait(timeout=10)
    killed_at = time.monotonic()
    while survivor.owned() != frozenset(CAMERAS) and time.monotonic() - killed_at < 5:
        time.sleep(survivor.renew_interval_s)
        survivor.tick()
    assert survivor.owned() == frozenset(CAMERAS)
    assert time.monotonic() - killed_at <= 1.0 + survivor.renew_interval_s + 0.5
