"""A camera browsers cannot play as it is (H.265) is transcoded, for a capped few."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from api.live.settings import LiveSettings
from tests.live.conftest import Site, make_hevc_clip, serve_site
from tests.live.pages import logged_in_page, playing, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def hevc_site(tmp_path: Path, r: redis.Redis) -> Iterator[Site]:
    clip = str(make_hevc_clip(tmp_path / "hevc.mp4", 30))
    with serve_site(tmp_path, clip, clip, LiveSettings(grace_s=1.0, transcode_cap=1)) as s:
        yield Site(s, None)


def test_an_h265_camera_is_transcoded_and_the_page_says_so(hevc_site: Site, chromium: Any) -> None:
    page = logged_in_page(chromium, hevc_site.server.url, "op")
    page.goto("/live/gate")
    t = wait_for(page, lambda ts: playing(ts[0]), what="the transcoded video to play")[0]
    assert (t["width"], t["height"]) == (320, 180)
    assert "transcoded" in page.inner_text(".mode") and "hevc" in page.inner_text(".mode")

    second = logged_in_page(chromium, hevc_site.server.url, "op")
    second.goto("/live/gate")
    t2 = wait_for(second, lambda ts: ts[0]["mode"] == "snapshot", what="the cap to refuse")[0]
    assert "409" in t2["banner"] and "at most 1" in t2["banner"]
    page.context.close()
    second.context.close()
