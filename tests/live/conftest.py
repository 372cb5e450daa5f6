"""Fixtures for the live-view tests: a real RTSP camera, a real app, real Chromium.

The camera is GStreamer's RTSP server on loopback (``tests/streams``), the app a real
uvicorn server on SQLite and the test Redis database, the browser Debian's Chromium
driven by Playwright (never a downloaded browser).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import redis

from api.app import create_app
from api.live.settings import LiveSettings
from tests.store.conftest import LiveServer, make_user, settings_for
from tests.store.conftest import r as r
from tests.streams.conftest import RtspServer, _gi_missing, make_clip

CHROMIUM = os.environ.get("SHOUWANG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # headless has no user gesture; the page's video is muted anyway
    "--autoplay-policy=no-user-gesture-required",
]
CAMERA_SIZE = (640, 360)
SUB_SIZE = (320, 180)

SITE = """\
version: 1
name: live-view test site
timezone: Asia/Shanghai
compounds:
  - {{id: lijing, name: 丽景湾, lat: 38.4872, lon: 106.2309}}
  - {{id: other, name: 别的小区, lat: 38.5, lon: 106.3}}
cameras:
  - id: gate
    name: 北门 North gate
    compound: lijing
    url: {main}
    detect_url: {sub}
    lat: 38.488
    lon: 106.2308
    zones:
      - {{id: lane, kind: watch, polygon: [[0, 0], [320, 0], [320, 360], [0, 360]]}}
  - id: far
    compound: other
    url: {main}
    lat: 38.5
    lon: 106.3
"""


@pytest.fixture(scope="session")
def live_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The camera's main (640x360) and sub (320x180) streams, 30 s each (a session that
    outlives its clip is reopened, as a camera reboot would be)."""
    problem = _gi_missing()
    if problem:
        pytest.fail(f"{problem}: run `bash scripts/setup` as root")
    d = tmp_path_factory.mktemp("live-clips")
    return {
        "long": make_clip(d / "main.mp4", 30, *CAMERA_SIZE),
        "short": make_clip(d / "sub.mp4", 30, *SUB_SIZE),
    }


@pytest.fixture
def camera(live_clips: dict[str, Path]) -> Iterator[RtspServer]:
    """A real RTSP camera on loopback: ``/cam`` main stream, ``/short`` sub-stream."""
    server = RtspServer(live_clips)
    server.start()
    yield server
    server.kill()


@dataclass
class Site:
    server: LiveServer
    camera: RtspServer | None

    @property
    def hub(self) -> Any:
        return self.server.app.state.live_hub


@contextlib.contextmanager
def serve_site(tmp_path: Path, main: str, sub: str, live: LiveSettings) -> Iterator[LiveServer]:
    """The app on a site whose camera ``gate`` (compound lijing) plays ``main``/``sub``.

    Users: ``op`` (operator of lijing), ``stranger`` (operator of another compound).
    """
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(main=main, sub=sub), "utf-8")
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    app = create_app(settings_for(db, tmp_path, site=path, live=live))
    with LiveServer(app) as server:
        factory = app.state.services.factory
        make_user(factory, "op", "operator", ["lijing"])
        make_user(factory, "stranger", "operator", ["other"])
        yield server


@pytest.fixture
def site(camera: RtspServer, tmp_path: Path, r: redis.Redis) -> Iterator[Site]:
    """The site on the real RTSP camera; grace period 1 s, so its close is seen in a test."""
    with serve_site(
        tmp_path, camera.url("cam"), camera.url("short"), LiveSettings(grace_s=1.0)
    ) as s:
        yield Site(s, camera)


def make_hevc_clip(path: Path, seconds: float, width: int = 320, height: int = 180) -> Path:
    """An H.265 MP4 (libx265): a stream browsers cannot take as it is."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx265", rate=25, options={"preset": "ultrafast", "x265-params": "log-level=error"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * 25)):
            img = np.full((height, width, 3), (i * 5) % 256, np.uint8)
            img[:, (i * 4) % width :, 1] = 200
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def chromium(browser: Any) -> Any:
    """Debian's Chromium, headless, through Playwright: the run's one browser
    (tests/dashboard/fixtures.py), since Playwright's sync API runs one instance per thread."""
    return browser
