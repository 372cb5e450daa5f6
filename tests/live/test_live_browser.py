"""An operator watches a real RTSP camera through the relay in Debian's Chromium."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import sqlalchemy as sa

from alerts.live_tracks import TrackPublisher
from alerts.store.audit import AuditEntry
from detectors.detections import Detections
from shouwang.config import load_site
from streams.frame import Frame
from tests.alerts.factory import TEST_REDIS_URL
from tests.live.conftest import CAMERA_SIZE, SUB_SIZE, Site
from tests.live.pages import logged_in_page, playing, tiles, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.rtsp, pytest.mark.redis, pytest.mark.slow]


def audit_rows(site: Site, action: str) -> list[AuditEntry]:
    with site.server.app.state.services.tx() as s:
        rows = s.execute(sa.select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return list(rows)


def wait_until(check: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_operator_watches_then_leaves_and_the_camera_is_closed_after_the_grace(
    site: Site, chromium: Any
) -> None:
    page = logged_in_page(chromium, site.server.url, "op")
    page.goto("/live/gate")
    t = wait_for(page, lambda ts: playing(ts[0]), what="the video to play")[0]
    assert (t["width"], t["height"]) == CAMERA_SIZE  # the main stream, as the camera sends it
    first = t["time"]
    page.wait_for_timeout(1500)
    assert tiles(page)[0]["time"] > first, "currentTime does not advance"
    assert "H.264" in page.inner_text(".mode")  # passed through, said on the page
    hub = site.hub
    assert hub.opened == 1 and len(hub.sessions) == 1
    feed = hub.upstreams[("gate", "main")].feed

    page.goto("about:blank")  # the operator leaves (pagehide closes the session)
    assert wait_until(lambda: not hub.sessions), "the session did not end"
    assert ("gate", "main") in hub.upstreams, "closed before the grace period"
    assert wait_until(lambda: not hub.upstreams and feed.closed), "camera still open"

    (start,) = audit_rows(site, "live.start")
    (end,) = audit_rows(site, "live.end")
    assert (start.actor, start.target, end.actor, end.target) == ("op", "gate", "op", "gate")
    detail = json.loads(end.detail)
    assert detail["from"] < detail["to"] and detail["mode"] == "passthrough"
    page.context.close()


def test_camera_dies_mid_view_and_plays_again_by_itself(site: Site, chromium: Any) -> None:
    page = logged_in_page(chromium, site.server.url, "op")
    page.goto("/live/gate")
    wait_for(page, lambda ts: playing(ts[0]), what="the video to play")
    camera = site.camera
    assert camera is not None
    camera.kill()
    t = wait_for(page, lambda ts: ts[0]["online"] is False, what="the page to show offline")[0]
    assert "offline" in t["state"] and "offline" in t["banner"]
    stalled = t["time"]
    camera.start()  # same port: the camera comes back
    wait_for(
        page,
        lambda ts: (
            ts[0]["online"] and ts[0]["time"] > stalled + 1.0 and ts[0]["state"].endswith("live")
        ),
        timeout=40,
        what="the picture to come back",
    )
    assert site.hub.opened == 1  # the same camera connection, reopened underneath
    page.context.close()


def test_grid_tiles_use_the_sub_stream(site: Site, chromium: Any) -> None:
    page = logged_in_page(chromium, site.server.url, "op")
    page.goto("/live?layout=4")
    t = wait_for(page, lambda ts: playing(ts[0]), what="the grid tile to play")[0]
    assert (t["width"], t["height"]) == SUB_SIZE
    assert ("gate", "sub") in site.hub.upstreams and ("gate", "main") not in site.hub.upstreams
    page.context.close()


def test_without_webrtc_the_page_shows_snapshots_and_says_why(site: Site, chromium: Any) -> None:
    page = logged_in_page(chromium, site.server.url, "op")
    page.add_init_script("delete window.RTCPeerConnection")
    page.goto("/live/gate")
    t = wait_for(page, lambda ts: ts[0]["mode"] == "snapshot", what="the snapshot fallback")[0]
    assert "no WebRTC" in t["banner"]
    page.wait_for_function(
        f"() => document.querySelector('img.snapshot').naturalWidth === {CAMERA_SIZE[0]}",
        timeout=20_000,
    )
    (start,) = audit_rows(site, "live.start")
    assert '"mode":"snapshot"' in start.detail
    page.context.close()


@pytest.fixture
def worker_tracks(site: Site) -> Iterator[None]:
    """The worker's overlay stream for camera ``gate``: a person walking in its zone."""
    cfg = load_site(site.server.app.state.services.settings.site)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    pub = TrackPublisher(client, {c.id: c for c in cfg.cameras}, {0: "person"})
    stop = threading.Event()

    def run() -> None:
        k = 0
        while not stop.is_set():
            x = 40 + (k * 4) % 200
            dets = Detections(
                xyxy=np.array([[x, 60, x + 60, 160], [500, 80, 560, 200]], np.float32),
                confidence=np.array([0.9, 0.8], np.float32),
                class_id=np.array([0, 0]),
                tracker_id=np.array([7, 8]),
            )
            # boxes in the analysed stream's pixels (640x360 here); the page scales them
            frame = Frame(
                camera_id="gate",
                seq=k,
                pts=None,
                captured_at=time.time(),
                image=np.zeros((CAMERA_SIZE[1], CAMERA_SIZE[0], 3), np.uint8),
            )
            pub.publish(frame, dets)
            k += 1
            stop.wait(0.2)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    yield
    stop.set()
    th.join()
    client.close()


def test_the_worker_tracks_are_drawn_over_the_video(
    site: Site, chromium: Any, worker_tracks: None
) -> None:
    page = logged_in_page(chromium, site.server.url, "op")
    page.goto("/live/gate")
    wait_for(page, lambda ts: playing(ts[0]), what="the video to play")
    painted = page.wait_for_function(
        """() => { const c = document.querySelector('canvas.overlay');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
                   return n > 200 ? n : 0; }""",
        timeout=20_000,
    ).json_value()
    assert painted > 200
    shot = os.environ.get("SHOUWANG_LIVE_SCREENSHOT")
    page.screenshot(
        path=shot or str(Path(site.server.app.state.services.settings.data_dir) / "live.png")
    )
    page.context.close()
