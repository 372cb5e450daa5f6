"""Page helpers: what an operator does on the live view, in a few words each."""

from __future__ import annotations

import time
from typing import Any

from tests.store.conftest import PASSWORD

STATE_JS = """() => window.shouwangLive.map(t => ({
  camera: t.camera, mode: t.mode, online: t.cameraOnline, reason: t.reason,
  width: t.video.videoWidth, height: t.video.videoHeight, time: t.video.currentTime,
  paused: t.video.paused, state: t.stateEl.textContent, banner: t.banner.hidden ? '' : t.banner.textContent,
  firstFrameMs: t.firstFrameMs, session: t.session,
}))"""


def logged_in_page(browser: Any, base_url: str, name: str) -> Any:
    """A fresh browser context logged in as ``name``; returns its page."""
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 760})
    page = ctx.new_page()
    res = page.request.post("/api/auth/login", data={"name": name, "password": PASSWORD})
    if res.status != 200:
        raise AssertionError(f"login as {name}: {res.status} {res.text()}")
    return page


def tiles(page: Any) -> list[dict[str, Any]]:
    """What every tile of the page shows now."""
    return list(page.evaluate(STATE_JS))


def wait_for(page: Any, check: Any, timeout: float = 30.0, what: str = "") -> list[dict[str, Any]]:
    """Poll the tiles until ``check(tiles)`` holds; fail saying what was seen."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = tiles(page)
        if seen and check(seen):
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}: tiles {seen}")


def playing(t: dict[str, Any]) -> bool:
    return bool(t["mode"] == "webrtc" and t["width"] > 0 and t["time"] > 0)
