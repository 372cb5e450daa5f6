"""The alarm desk in Debian's Chromium against a real ``shouwang serve`` and Redis:
alerts appear live, two operators see each other's actions, a restart loses nothing.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.fixtures import Server
from tests.dashboard.operator import Operator
from tests.dashboard.scene import Scene

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]


def wait_stored(server: Server, incident_id: str, user: str = "admin") -> dict[str, Any]:
    """Wait until the store consumer has the incident (the drawer reads the store)."""
    c = server.client(user)
    try:
        for _ in range(200):
            res = c.get(f"/api/incidents/{incident_id}")
            if res.status_code == 200:
                return dict(res.json())
            time.sleep(0.05)
    finally:
        c.close()
    raise AssertionError(f"incident {incident_id} never reached the store")


def test_fifty_alerts_each_appear_on_the_desk(
    browser: Any, server: Server, scene: Scene, contexts: list[Any]
) -> None:
    wang = Operator(browser, server, "wang", contexts).logs_in().watches_the_desk()
    ids = []
    for i in range(50):
        a = scene.alert(track_id=1000 + i, evidence=False, severity="low")
        scene.publish(a)
        ids.append(a.id)
        time.sleep(0.02)
    for incident_id in ids:
        wang.sees_alert(incident_id)
    assert wang.page.locator("#rows tr").count() >= 50
    for incident_id in ids:
        assert wang.row(incident_id).count() == 1
    shown = wang.js("window.shouwang.latencies.length")
    assert shown >= 50, "every alert event measured its publish-to-visible latency"
    assert wang.page.title().startswith("("), "the unread count is in the title"


def test_claim_is_seen_by_the_other_operator_whose_close_names_the_holder(
    browser: Any, server: Server, scene: Scene, contexts: list[Any]
) -> None:
    wang = Operator(browser, server, "wang", contexts).logs_in().watches_the_desk()
    li = Operator(browser, server, "li", contexts).logs_in().watches_the_desk()
    a = scene.alert(track_id=2001, severity="high")
    scene.publish(a)
    wang.sees_alert(a.id)
    li.sees_alert(a.id)
    wait_stored(server, a.id)
    li.opens(a.id)

    wang.opens(a.id)
    wang.claims()
    t0 = time.monotonic()
    expect(li.row(a.id)).to_have_attribute("data-state", "acknowledged", timeout=10_000)
    print(f"\nclaim by wang visible on li's desk after {time.monotonic() - t0:.3f} s")
    expect(li.row(a.id).locator(".assignee")).to_have_text("wang")
    expect(li.page.locator("#drawer .holder")).to_contain_text("wang")

    li.closes("confirmed", "seen from the other desk")
    expect(li.drawer_message()).to_contain_text("wang")
    assert wait_stored(server, a.id)["state"] == "acknowledged", "li's close changed nothing"


def test_the_keyboard_claims_the_selected_alert(
    browser: Any, server: Server, scene: Scene, contexts: list[Any]
) -> None:
    wang = Operator(browser, server, "wang", contexts).logs_in().watches_the_desk()
    a = scene.alert(track_id=2501, severity="critical", evidence=False)
    scene.publish(a)
    wang.sees_alert(a.id)
    wait_stored(server, a.id)
    wang.page.locator("body").press("j")  # the newest row is the first
    expect(wang.row(a.id)).to_have_class(re.compile(r"\bsel\b"))
    wang.page.locator("body").press("Enter")
    expect(wang.page.locator(f'#drawer [data-incident="{a.id}"]')).to_be_visible()
    wang.page.locator("body").press("c")
    expect(wang.row(a.id)).to_have_attribute("data-state", "acknowledged")
    expect(wang.page.locator('#drawer [data-state="acknowledged"]')).to_be_visible()
    wang.page.locator("body").press("Escape")
    expect(wang.page.locator("#drawer .drawer-body")).to_have_count(0)


def test_the_page_reconnects_after_a_restart_and_shows_what_it_missed_once(
    browser: Any, server: Server, scene: Scene, contexts: list[Any]
) -> None:
    wang = Operator(browser, server, "wang", contexts).logs_in().watches_the_desk()
    before = [scene.alert(track_id=3000 + i, evidence=False) for i in range(3)]
    for a in before:
        scene.publish(a)
    for a in before:
        wang.sees_alert(a.id)

    server.stop()
    wang.page.wait_for_function("!window.shouwang.connected", timeout=15_000)
    meanwhile = [scene.alert(track_id=3100 + i, evidence=False) for i in range(4)]
    for a in meanwhile:
        scene.publish(a)
    server.start()

    wang.waits_until_live()
    for a in meanwhile:
        wang.sees_alert(a.id, timeout_ms=20_000)
    for a in before + meanwhile:
        assert wang.row(a.id).count() == 1, f"{a.id} shown once"
    received = wang.js("window.shouwang.received")
    assert received and max(received.values()) == 1, f"an event came twice: {received}"
    assert wang.js("window.shouwang.opens") >= 2


def test_an_operator_of_one_compound_never_sees_another_compounds_incident(
    browser: Any, server: Server, scene: Scene, contexts: list[Any]
) -> None:
    zhao = Operator(browser, server, "zhao", contexts).logs_in().watches_the_desk()
    theirs = scene.alert(camera="b3-entrance", track_id=4001, severity="critical")
    mine = scene.alert(camera="yuhua-gate", track_id=4002, severity="high", evidence=False)
    scene.publish(theirs)
    scene.publish(mine)
    zhao.sees_alert(mine.id)
    wait_stored(server, theirs.id)
    wait_stored(server, mine.id)
    expect(zhao.row(theirs.id)).to_have_count(0)

    zhao.page.reload()
    zhao.waits_until_live()
    zhao.sees_alert(mine.id)
    expect(zhao.row(theirs.id)).to_have_count(0)
    drawer = zhao.page.request.get(f"/ui/incidents/{theirs.id}/drawer")
    assert drawer.status == 404
    plan = zhao.page.request.get("/ui/plan")
    assert "lijing" not in plan.text() and theirs.id not in plan.text()


def test_a_page_without_a_session_goes_to_the_login_form(server: Server) -> None:
    res = httpx.get(server.url + "/ui/desk", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/ui/login"
    stream = httpx.get(server.url + "/ui/stream", follow_redirects=False)
    assert stream.status_code == 303
