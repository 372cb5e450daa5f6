"""A camera whose worker stops reporting raises one incident (real Redis).

The reports here are written by hand; tests/e2e/test_camera_health_e2e.py has a real
worker write them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from alerts import keys
from alerts.camera_health import CameraHealth, publish_health
from alerts.camera_watch import RECONNECT_GRACE_S, CameraWatch, is_down, online_cameras
from shouwang.config import load_site
from tests.alerts.factory import TEST_REDIS_URL, stream_alerts
from tests.store.conftest import r  # noqa: F401  (the flushed test Redis)

pytestmark = pytest.mark.redis
SITE = Path(__file__).resolve().parents[2] / "configs" / "demo-site.yaml"


def holds(client: redis.Redis, camera: str, worker: str = "w1", alive: bool = True) -> None:
    now_ms = int(float(client.time()[0]) * 1000)
    client.set(keys.camera_lease(camera), worker, px=60_000)
    client.zadd(keys.WORKERS, {worker: now_ms + (60_000 if alive else -1_000)})


def report(camera: str, state: str = "streaming", frame_age_s: float = 0.0) -> CameraHealth:
    now = time.time()
    return CameraHealth(
        camera=camera,
        worker="w1",
        state=state,
        fps_decoded=25.0,
        fps_analysed=5.0,
        frames_dropped=0,
        reconnects=0,
        last_frame_at=now - frame_age_s,
        reported_at=now,
    )


def streams(client: redis.Redis, camera: str) -> None:
    publish_health(client, [report(camera)], ttl_s=60)


def stops_reporting(client: redis.Redis, camera: str) -> None:
    client.delete(keys.camera_health(camera))


def test_going_offline_raises_one_incident_per_outage(
    r: redis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    watch = CameraWatch(load_site(SITE), r, TEST_REDIS_URL, tmp_path)
    try:
        assert watch.check() == [], "never seen online: nothing to report"
        streams(r, "north-gate")
        assert watch.check() == []
        stops_reporting(r, "north-gate")
        raised = watch.check()
        assert [(a.type, a.camera, a.subject.kind) for a in raised] == [
            ("camera.tamper", "north-gate", "scene")
        ]
        assert raised[0].location.source == "camera"
        assert watch.check() == []
        streams(r, "north-gate")
        watch.check()
        stops_reporting(r, "north-gate")
        assert watch.check() == [], "a flap within the outage marker's TTL is the same outage"
        assert [a.id for a in stream_alerts(r)] == [raised[0].id]
    finally:
        watch.close()


@pytest.mark.parametrize(("alive", "expected"), [(True, "w1"), (False, None)])
def test_a_camera_is_online_only_while_its_holder_heartbeats(
    r: redis.Redis,  # noqa: F811
    alive: bool,
    expected: str | None,
) -> None:
    holds(r, "b3-entrance", alive=alive)
    assert online_cameras(r, ["b3-entrance", "north-gate"]) == {
        "b3-entrance": expected,
        "north-gate": None,
    }


@pytest.mark.parametrize(
    ("state", "frame_age_s", "down"),
    [
        (None, 0.0, True),
        ("streaming", 0.0, False),
        ("connecting", 0.0, False),
        ("reconnecting", 1.0, False),
        ("reconnecting", RECONNECT_GRACE_S + 5, True),
        ("failed", 0.0, True),
        ("stopped", 0.0, True),
    ],
)
def test_when_a_camera_counts_as_down(state: str | None, frame_age_s: float, down: bool) -> None:
    rep = None if state is None else report("gate", state, frame_age_s)
    assert is_down(rep, time.time()) is down


def test_a_failed_stream_raises_the_incident_with_its_state(
    r: redis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    watch = CameraWatch(load_site(SITE), r, TEST_REDIS_URL, tmp_path)
    try:
        streams(r, "b3-entrance")
        assert watch.check() == []
        publish_health(r, [report("b3-entrance", "failed")], ttl_s=60)
        raised = watch.check()
        assert [a.camera for a in raised] == ["b3-entrance"]
        assert "stream failed" in raised[0].location.note
    finally:
        watch.close()
