"""An operator watches a real RTSP camera through the relay in Debian's Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.live.conftest import CAMERA_SIZE, Site
from tests.live.pages import logged_in_page, playing, tiles, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.rtsp, pytest.mark.redis, pytest.mark.slow]


def test_operator_sees_the_camera_live(site: Site, chromium: Any) -> None:
    page = logged_in_page(chromium, site.server.url, "op")
    page.goto("/live/gate")
    t = wait_for(page, lambda ts: playing(ts[0]), what="the video to play")[0]
    assert (t["width"], t["height"]) == CAMERA_SIZE
    first = t["time"]
    page.wait_for_timeout(1500)
    later = tiles(page)[0]
    assert later["time"] > first, "currentTime does not advance"
    assert site.hub.opened == 1
