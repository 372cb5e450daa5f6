"""Scale-out with real parts: 3 worker processes share a 12-camera RTSP site through leases.

Each camera must be decoded by exactly one worker (read off every worker's
``shouwang_stream_frames_decoded_total``), a SIGKILLed worker's cameras must move to
the others within the lease time, and every camera's incident must go on as one alert
whose updates are all in the stream once each, in order (none lost, none doubled).

Small pictures (320x180, 5 fps, analysed at 1 fps) keep 12 cameras and 3 workers light
enough for a 2-core CI machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import av
import pytest
import redis

from alerts import keys
from alerts.model import Alert
from tests.alerts.conftest import RedisServer
from tests.e2e.conftest import B3_CALIBRATION, B3_ZONES, write_site
from tests.e2e.test_pipeline_e2e import client, db14, wait_for
from tests.streams.conftest import RtspServer, _gi_missing, free_port

pytestmark = [pytest.mark.rtsp, pytest.mark.redis, pytest.mark.slow]

CAMERAS = [f"c{i:02d}" for i in range(1, 13)]
WORKERS = ("w1", "w2", "w3")
TTL_MS = 3000
SCALE = 0.25  # 1280x720 → 320x180
DECODED = re.compile(r'^shouwang_stream_frames_decoded_total\{camera="([^"]+)"\} (\S+)$', re.M)


def small_clip(b3: Path, out: Path, seconds: int = 60) -> Path:
    """The b3 clip at 320x180 and 5 fps, looped to ``seconds`` (keyframe every second)."""
    frames = []
    with av.open(str(b3)) as src:
        for i, f in enumerate(src.decode(video=0)):
            if i % 5 == 0:
                frames.append(f.to_ndarray(format="bgr24", width=320, height=180))
    with av.open(str(out), "w", format="mp4") as dst:
        s = dst.add_stream("libx264", rate=5, options={"preset": "ultrafast", "g": "5"})
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        for k in range(seconds * 5):
            img = frames[k % len(frames)]
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                dst.mux(p)
        for p in s.encode():
            dst.mux(p)
    return out


def small_camera(cam_id: str, url: str) -> dict[str, Any]:
    """A b3 camera at a quarter of the size: calibration and zones scaled; a crowding rule.

    The rule's dedup key is per camera (no track id), so a camera that changes worker
    continues the same incident: any second alert id would be a duplicate.
    """
    calib = {
        "points": [
            {**p, "pixel": [round(p["pixel"][0] * SCALE), round(p["pixel"][1] * SCALE)]}
            for p in B3_CALIBRATION["points"]
        ]
    }
    zones = [
        {**z, "polygon": [[round(x * SCALE), round(y * SCALE)] for x, y in z["polygon"]]}
        for z in B3_ZONES
        if z["id"] == "yard"
    ]
    rules = [
        {"id": "two-people", "type": "crowding", "zone": "yard", "count": 2, "seconds": 0,
         "cooldown_s": 1},
    ]  # fmt: skip
    return {
        "id": cam_id, "compound": "lijing", "url": url, "lat": 38.48702, "lon": 106.23120,
        "fps": 1, "calibration": calib, "zones": zones, "rules": rules,
        "placement": {"building": "3号楼"},
    }  # fmt: skip


@pytest.fixture
def site_rtsp(b3_clip: Path, tmp_path: Path) -> Iterator[RtspServer]:
    problem = _gi_missing()
    if problem:
        pytest.fail(f"{problem}: run `bash scripts/setup` as root")
    clip = small_clip(b3_clip, tmp_path / "small.mp4")
    server = RtspServer({"long": clip, "short": clip})
    server.start()
    yield server
    server.kill()


def decoded(port: int) -> dict[str, float]:
    """Frames decoded per camera, as the worker's /metrics says."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {cam: float(v) for cam, v in DECODED.findall(text)}


def test_each_camera_is_decoded_by_one_worker_and_moves_whole_when_one_dies(
    tmp_path: Path, site_rtsp: RtspServer, redis_server: RedisServer
) -> None:
    url = db14(redis_server)
    site_file = write_site(tmp_path, [small_camera(c, site_rtsp.url("cam")) for c in CAMERAS])
    r = client(url)
    ports = {w: free_port() for w in WORKERS}
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(worker_id: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ, "REDIS_URL": url, "SHOUWANG_WORKER_ID": worker_id,
            "SHOUWANG_LEASE_TTL_MS": str(TTL_MS), "SHOUWANG_DATA_DIR": str(tmp_path / worker_id),
            "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        cmd = [sys.executable, "-m", "shouwang.cli.main", "run", str(site_file),
               "--metrics-port", str(ports[worker_id]), "--for", "110"]  # fmt: skip
        with open(tmp_path / f"{worker_id}.log", "wb") as log:  # the child keeps its copy
            return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def owners() -> dict[str, str | None]:
        vals = cast("list[str | None]", r.mget([keys.camera_lease(c) for c in CAMERAS]))
        return dict(zip(CAMERAS, vals, strict=True))

    def by_worker() -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for cam, w in owners().items():
            if w is not None:
                out[w].add(cam)
        return out

    def fair(alive: tuple[str, ...]) -> bool:
        held = by_worker()
        share = len(CAMERAS) // len(alive)
        return set(held) == set(alive) and all(len(held[w]) == share for w in alive)

    def deltas(alive: tuple[str, ...], seconds: float) -> dict[str, dict[str, float]]:
        before = {w: decoded(ports[w]) for w in alive}
        time.sleep(seconds)
        after = {w: decoded(ports[w]) for w in alive}
        return {w: {c: after[w].get(c, 0) - before[w].get(c, 0) for c in CAMERAS} for w in alive}

    try:
        for w in WORKERS:
            procs[w] = start(w)
        assert wait_for(lambda: fair(WORKERS), timeout=60, step=0.5), owners()
        time.sleep(2)  # let closed streams' threads end after the start-up rebalancing
        held = by_worker()
        d = deltas(WORKERS, 4.0)
        for cam in CAMERAS:
            decoding = sorted(w for w in WORKERS if d[w][cam] > 0)
            owner = next(w for w in WORKERS if cam in held[w])
            assert decoding == [owner], f"{cam}: decoded by {decoding}, leased to {owner}"

        # every camera has raised its incident before the kill
        def alerted() -> set[str]:
            rows = cast("list[tuple[str, dict[str, str]]]", r.xrange(keys.ALERT_STREAM))
            return {f["camera"] for _, f in rows}

        assert wait_for(lambda: alerted() == set(CAMERAS), timeout=40, step=0.5), alerted()

        victim = "w2"
        moved = by_worker()[victim]
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=10)
        killed, killed_wall = time.monotonic(), time.time()
        alive = ("w1", "w3")
        assert wait_for(lambda: not moved & by_worker().get(victim, set()) and
                        all(owners()[c] in alive for c in moved), timeout=TTL_MS / 1000 + 5,
                        step=0.1)  # fmt: skip
        took = time.monotonic() - killed
        print(f"12 cameras, 3 workers: {len(moved)} cameras moved {took:.2f} s after SIGKILL "
              f"(lease TTL {TTL_MS / 1000:g} s)")  # fmt: skip
        assert took <= TTL_MS / 1000 + TTL_MS / 3000 + 1.0, took
        assert wait_for(lambda: fair(alive), timeout=20, step=0.5), owners()
        time.sleep(2)
        held = by_worker()
        d = deltas(alive, 4.0)
        for cam in CAMERAS:
            decoding = sorted(w for w in alive if d[w][cam] > 0)
            owner = next(w for w in alive if cam in held[w])
            assert decoding == [owner], f"after the kill {cam}: decoded by {decoding}"

        def moved_alerted() -> bool:
            rows = cast("list[tuple[str, dict[str, str]]]", r.xrange(keys.ALERT_STREAM))
            late = {
                f["camera"] for _, f in rows
                if Alert.model_validate_json(f["alert"]).times.detected.timestamp() > killed_wall
            }  # fmt: skip
            return moved <= late

        assert wait_for(moved_alerted, timeout=40, step=1.0), "moved cameras raised nothing"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(timeout=30)
    assert procs["w1"].returncode == 0 and procs["w3"].returncode == 0
    _assert_one_incident_per_camera_none_lost_none_doubled(r, moved)


def _assert_one_incident_per_camera_none_lost_none_doubled(
    r: redis.Redis, moved: set[str]
) -> None:
    rows = cast("list[tuple[str, dict[str, str]]]", r.xrange(keys.ALERT_STREAM))
    alerts = [Alert.model_validate_json(f["alert"]) for _, f in rows]
    by_key: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_key[a.dedup_key].append(a)
    crowding = {k: v for k, v in by_key.items() if v[0].type == "zone.crowding"}
    assert {v[0].camera for v in crowding.values()} == set(CAMERAS)
    for key, seq in by_key.items():
        ids = {a.id for a in seq}
        counts = [a.update_count for a in seq]
        # one alert per incident, updates 0, 1, 2, ... each once, in stream order
        assert len(ids) == 1, f"{key}: {len(ids)} alerts for one incident (duplicated)"
        assert counts == list(range(len(counts))), f"{key}: update counts {counts}"
    for cam in moved:
        seq = next(v for v in crowding.values() if v[0].camera == cam)
        assert len(seq) >= 2, f"{cam}: its incident did not go on after the move"
