"""A worker reports its cameras' stream health to Redis; the offline watch reads it.

Real parts: the worker runtime (detector, tracker) on a real video file and on an RTSP
camera that does not answer (credentials in its URL), against a redis-server of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts import keys
from alerts.camera_health import HEALTH_TTL_S, read_health
from alerts.camera_watch import CameraWatch
from detectors.objects import ObjectDetector
from shouwang.config import load_site
from shouwang.runtime import Runtime, RuntimeConfig
from tests.alerts.conftest import RedisServer
from tests.e2e.conftest import plain_camera, write_site
from tests.e2e.test_pipeline_e2e import client, db14, running, wait_for
from tests.streams.conftest import free_port, make_clip

pytestmark = [pytest.mark.rtsp, pytest.mark.redis, pytest.mark.slow]

SECRET = "s3cret-pw"


def test_a_worker_reports_stream_health_and_a_silent_camera_goes_offline(
    tmp_path: Path,
    redis_server: RedisServer,
    detector: ObjectDetector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATE_PASS", SECRET)
    url = db14(redis_server)
    clip = make_clip(tmp_path / "yard.mp4", 4)
    dead = "rtsp://admin:${GATE_PASS}@127.0.0.1:"
    dead += f"{free_port()}/Streaming/101"
    site_file = write_site(tmp_path, [plain_camera("yard", str(clip)), plain_camera("gate", dead)])
    cfg = RuntimeConfig(redis_url=url, state_dir=tmp_path / "state", worker_id="w1")
    runtime = Runtime(load_site(site_file), tmp_path, cfg, detector=detector)
    r = client(url)
    watch = CameraWatch(load_site(site_file), r, url, tmp_path / "watch")
    (tmp_path / "watch").mkdir()
    try:
        with running(runtime, site_file):

            def reported() -> bool:
                got = read_health(r, ["yard", "gate"])
                yard, gate = got["yard"], got["gate"]
                return (
                    yard is not None
                    and yard.state == "streaming"
                    and yard.fps_analysed > 0
                    and gate is not None
                    and gate.last_error is not None
                )

            assert wait_for(reported, timeout=60), read_health(r, ["yard", "gate"])
            got = read_health(r, ["yard", "gate"])
            yard, gate = got["yard"], got["gate"]
            assert yard is not None and gate is not None
            assert yard.worker == gate.worker == "w1"
            assert yard.fps_decoded > 0 and yard.last_frame_at is not None
            assert gate.state in ("reconnecting", "failed") and gate.reconnects >= 0
            assert gate.last_error is not None and "127.0.0.1" in gate.last_error
            for cam in ("yard", "gate"):
                raw = r.hgetall(keys.camera_health(cam))
                assert SECRET not in str(raw), f"{cam}'s report carries the password"
                assert 0 < r.ttl(keys.camera_health(cam)) <= HEALTH_TTL_S
            assert watch.check() == [], "yard is streaming, gate was never seen online"
        # The worker is gone: its reports expire and the camera it streamed goes offline.
        assert wait_for(lambda: read_health(r, ["yard"])["yard"] is None, HEALTH_TTL_S + 3)
        raised = watch.check()
        assert [(a.type, a.camera) for a in raised] == [("camera.tamper", "yard")]
        assert "no worker reports on its stream" in raised[0].location.note
    finally:
        watch.close()
