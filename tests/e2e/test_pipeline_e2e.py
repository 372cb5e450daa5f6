"""End to end with real parts: RTSP camera → worker → Redis → a consumer group.

Each test runs the real detector, tracker, stages and alert sink, on the b3 demo clip
served over RTSP, against a redis-server of its own.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import av
import numpy as np
import pytest
import redis

from alerts import keys
from alerts.consumer import AlertConsumer, Delivery
from alerts.model import Alert
from detectors.objects import ObjectDetector
from shouwang.config import load_site
from shouwang.runtime import Runtime, RuntimeConfig
from streams import State, open_site_sources
from tests.alerts.conftest import RedisServer
from tests.e2e.conftest import b3_camera, plain_camera, write_site
from tests.streams.conftest import RtspServer, free_port, make_clip

pytestmark = [pytest.mark.rtsp, pytest.mark.redis, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def db14(server: RedisServer) -> str:
    return server.url.rsplit("/", 1)[0] + "/14"


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()


@contextmanager
def running(runtime: Runtime, site_file: Path) -> Iterator[dict[str, object]]:
    """Open the site's cameras and run ``runtime`` in a thread until the block ends."""
    site = load_site(site_file)
    stop = threading.Event()
    with open_site_sources(site, site_file.parent) as sources:
        thread = threading.Thread(target=runtime.run, args=(sources, stop), daemon=True)
        thread.start()
        yield {"sources": sources, "stop": stop}
        stop.set()
        thread.join(timeout=20)
        assert not thread.is_alive()


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def test_alerts_reach_a_consumer_group_with_location_and_evidence(
    tmp_path: Path, rtsp: RtspServer, redis_server: RedisServer, detector: ObjectDetector,
    poi_state: Path,
) -> None:  # fmt: skip
    url = db14(redis_server)
    site_file = write_site(tmp_path, [b3_camera("b3", rtsp.url("cam"), faces=True)])
    cfg = RuntimeConfig(redis_url=url, state_dir=poi_state, worker_id="w1", lease_ttl_ms=3000)
    runtime = Runtime(load_site(site_file), tmp_path, cfg, detector=detector)
    r = client(url)
    first = AlertConsumer(r, group="police-liaison", consumer="c1", min_idle_ms=300)
    seen: dict[str, Delivery] = {}
    with running(runtime, site_file):

        def got_both() -> bool:
            for d in first.read(count=50, block_ms=200):
                seen.setdefault(d.alert.type, d)
            return {"zone.intrusion", "face.watchlist"} <= set(seen)

        assert wait_for(got_both, timeout=60), f"alerts seen: {sorted(seen)}"
    for d in seen.values():
        a = d.alert
        assert a.camera == "b3" and a.compound == "lijing"
        # on the calibrated ground in front of building 3 (the calibration spans ~10 m)
        assert abs(a.location.lat - 38.48697) < 0.0002 and abs(a.location.lon - 106.2312) < 0.0002
        assert a.evidence, f"{a.type} has no evidence"
        for ev in a.evidence:
            path = poi_state / "evidence" / ev.sha256[:2] / f"{ev.sha256}.jpg"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == ev.sha256
        assert a.times.published is not None and a.times.captured <= a.times.published
    face = seen["face.watchlist"].alert.subject
    assert face.kind == "face" and face.watchlist_id == "persons-of-interest"
    # JSON contract downstream: type and location.lat/lon
    doc = seen["zone.intrusion"].alert.model_dump(mode="json")
    assert doc["type"] == "zone.intrusion" and {"lat", "lon"} <= set(doc["location"])

    # The first consumer dies before XACK: another member of the group gets them again.
    unacked = {d.entry_id for d in seen.values()}
    time.sleep(0.4)
    second = AlertConsumer(r, group="police-liaison", consumer="c2", min_idle_ms=300)
    again = {d.entry_id for d in second.read(count=1000)}
    assert unacked <= again
    second.ack(*again)
    while rest := second.read(count=1000):  # whatever c1 read beyond the first of a type
        second.ack(*(d.entry_id for d in rest))
    assert second.pending() == 0


def test_redis_down_for_10_s_loses_no_alert(
    tmp_path: Path, rtsp: RtspServer, redis_server: RedisServer, detector: ObjectDetector
) -> None:
    url = db14(redis_server)
    site_file = write_site(tmp_path, [b3_camera("b3", rtsp.url("cam"))])
    cfg = RuntimeConfig(
        redis_url=url, state_dir=tmp_path / "state", worker_id="w1", update_interval_s=1.0
    )
    runtime = Runtime(load_site(site_file), tmp_path, cfg, detector=detector)
    with running(runtime, site_file):
        assert wait_for(lambda: len(runtime.sink.recent) >= 1, timeout=30)
        redis_server.stop()
        # The camera drops out too and comes back: its people get new tracks, so new
        # intrusion alerts are raised while Redis is away.
        rtsp.kill()
        time.sleep(2)
        rtsp.start()
        time.sleep(8)
        queued_during = sum(1 for res in runtime.sink.recent if res.queued)
        redis_server.start()
        time.sleep(3)
    published = {(str(res.alert.id), res.alert.update_count) for res in runtime.sink.recent}
    assert queued_during >= 1, "no alert was raised while Redis was down"
    r = client(url)
    rows = cast("list[tuple[str, dict[str, str]]]", r.xrange(keys.ALERT_STREAM))
    stored = {
        (str(a.id), a.update_count)
        for a in (Alert.model_validate_json(f["alert"]) for _, f in rows)
    }
    assert published <= stored, f"lost: {sorted(published - stored)}"


def test_a_killed_worker_s_cameras_are_taken_over_within_the_lease_time(
    tmp_path: Path, rtsp: RtspServer, redis_server: RedisServer
) -> None:
    url = db14(redis_server)
    cams = [plain_camera("cam-a", rtsp.url("cam")), plain_camera("cam-b", rtsp.url("cam"))]
    site_file = write_site(tmp_path, cams)
    ttl_ms = 3000
    r = client(url)

    def start(worker_id: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ, "REDIS_URL": url, "SHOUWANG_WORKER_ID": worker_id,
            "SHOUWANG_LEASE_TTL_MS": str(ttl_ms), "SHOUWANG_DATA_DIR": str(tmp_path / worker_id),
        }  # fmt: skip
        cmd = [sys.executable, "-m", "shouwang.cli.main", "run", str(site_file),
               "--metrics-port", "0", "--for", "60"]  # fmt: skip
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def owners() -> dict[str, str | None]:
        return {c["id"]: cast("str | None", r.get(keys.camera_lease(c["id"]))) for c in cams}

    a = start("worker-a")
    b = None
    try:
        assert wait_for(lambda: set(owners().values()) == {"worker-a"}, timeout=40), owners()
        b = start("worker-b")
        # balance: b takes one camera from a
        assert wait_for(lambda: set(owners().values()) == {"worker-a", "worker-b"}, 40), owners()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        killed = time.monotonic()
        assert wait_for(lambda: set(owners().values()) == {"worker-b"}, timeout=ttl_ms / 1000 + 3)
        took = time.monotonic() - killed
        print(f"takeover after SIGKILL: {took:.2f} s (lease TTL {ttl_ms / 1000:g} s)")
        # the lease expires after the TTL; the next tick (TTL/3) takes it
        assert took <= ttl_ms / 1000 + ttl_ms / 3000 + 1.0, took
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=20)
    assert b is not None and b.returncode == 0  # SIGTERM: a graceful exit


def _ts_clip(path: Path, w: int, h: int, seconds: float) -> bytes:
    with av.open(str(path), "w", format="mpegts") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "g": "25"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(round(seconds * 25)):
            img = np.empty((h, w, 3), np.uint8)
            img[..., 0], img[..., 1], img[..., 2] = (
                (xx + 4 * i) % 256,
                (yy + 2 * i) % 256,
                3 * i % 256,
            )
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path.read_bytes()


def test_bad_cameras_are_reported_and_the_good_one_goes_on(
    tmp_path: Path, rtsp: RtspServer, redis_server: RedisServer, detector: ObjectDetector
) -> None:
    # a camera reconfigured to another resolution: its RTSP server comes back smaller
    small = {"long": make_clip(tmp_path / "a.mp4", 20, 320, 180)}
    small["short"] = small["long"]
    resize = RtspServer(small)
    resize.start()
    try:
        _bad_cameras(tmp_path, rtsp, resize, small, redis_server, detector)
    finally:
        resize.kill()


def _bad_cameras(
    tmp_path: Path,
    rtsp: RtspServer,
    resize: RtspServer,
    small: dict[str, Path],
    redis_server: RedisServer,
    detector: ObjectDetector,
) -> None:
    # a file with corrupt packets: payloads of the middle third overwritten
    bad = bytearray(_ts_clip(tmp_path / "a.ts", 320, 180, 4))
    rng = np.random.default_rng(1)
    for k in range(len(bad) // 3, 2 * len(bad) // 3, 188):
        bad[k + 4 : k + 188] = rng.integers(0, 256, 184, dtype=np.uint8).tobytes()
    (tmp_path / "corrupt.ts").write_bytes(bytes(bad))
    cams = [
        b3_camera("good", rtsp.url("cam")),
        plain_camera("never", f"rtsp://127.0.0.1:{free_port()}/cam"),
        plain_camera("resize", resize.url("cam")),
        plain_camera("corrupt", str(tmp_path / "corrupt.ts")),
    ]
    site_file = write_site(tmp_path, cams)
    cfg = RuntimeConfig(redis_url=db14(redis_server), state_dir=tmp_path / "s", leases=False)
    runtime = Runtime(load_site(site_file), tmp_path, cfg, detector=detector)
    with running(runtime, site_file) as ctx:

        def rows() -> dict[str, dict[str, object]]:
            return runtime.rows()

        def processed(cam: str) -> int:
            return int(str(rows().get(cam, {}).get("processed", 0)))

        def fault(cam: str) -> str:
            return str(rows().get(cam, {}).get("last_fault", ""))

        assert wait_for(lambda: processed("resize") > 0, 30)
        resize.kill()
        small["long"] = make_clip(tmp_path / "b.mp4", 20, 256, 144)
        resize.start()
        assert wait_for(lambda: "resolution" in fault("resize"), 30)
        before = processed("good")
        assert wait_for(lambda: processed("good") > before + 3, 20)
        health = ctx["sources"].health()  # type: ignore[attr-defined]
    final = runtime.rows()
    assert final["never"]["processed"] == 0
    assert health["never"].state in (State.CONNECTING, State.RECONNECTING)
    assert health["never"].last_error  # e.g. connection refused, with the redacted URL
    assert "320x180 → 256x144" in str(final["resize"]["last_fault"])
    assert int(str(final["corrupt"]["processed"])) > 0  # what decodes is still analysed
    # ... and the damage is reported, not hidden by FFmpeg's error concealment
    assert health["corrupt"].decode_errors > 0, health["corrupt"]
    assert "decode" in (health["corrupt"].last_error or ""), health["corrupt"]
    assert final["good"]["faults"] == 0
