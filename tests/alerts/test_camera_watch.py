"""A camera that loses its live worker raises one incident (real Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from alerts import keys
from alerts.camera_watch import CameraWatch, online_cameras
from shouwang.config import load_site
from tests.alerts.factory import TEST_REDIS_URL, stream_alerts
from tests.store.conftest import r  # noqa: F401  (the flushed test Redis)

pytestmark = pytest.mark.redis
SITE = Path(__file__).resolve().parents[2] / "configs" / "demo-site.yaml"


def holds(client: redis.Redis, camera: str, worker: str = "w1", alive: bool = True) -> None:
    now_ms = int(float(client.time()[0]) * 1000)
    client.set(keys.camera_lease(camera), worker, px=60_000)
    client.zadd(keys.WORKERS, {worker: now_ms + (60_000 if alive else -1_000)})


def test_going_offline_raises_one_incident_per_outage(
    r: redis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    watch = CameraWatch(load_site(SITE), r, TEST_REDIS_URL, tmp_path)
    try:
        assert watch.check() == [], "never seen online: nothing to report"
        holds(r, "north-gate")
        assert watch.check() == []
        r.delete(keys.camera_lease("north-gate"))
        raised = watch.check()
        assert [(a.type, a.camera, a.subject.kind) for a in raised] == [
            ("camera.tamper", "north-gate", "scene")
        ]
        assert raised[0].location.source == "camera"
        assert watch.check() == []
        holds(r, "north-gate")
        watch.check()
        r.delete(keys.camera_lease("north-gate"))
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
