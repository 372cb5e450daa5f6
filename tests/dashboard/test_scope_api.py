"""Compound scope and CSRF through the HTTP surface of a real ``shouwang serve``, on
SQLite and PostgreSQL: pages, the live stream, evidence and the REST API agree.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.dashboard.fixtures import Server
from tests.dashboard.scene import Scene
from tests.dashboard.test_desk_browser import wait_stored
from tests.store.conftest import PASSWORD

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def page_client(server: Server, user: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, timeout=20)
    res = c.post("/ui/login", data={"name": user, "password": PASSWORD})
    assert res.status_code == 303, res.text
    return c


def sse_events(c: httpx.Client, since: str, want: str, limit_s: float = 15) -> list[dict[str, Any]]:
    """Read the desk stream from ``since`` until an alert event for ``want`` arrives."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit_s
    with c.stream("GET", "/ui/stream", params={"since": since}) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        event: dict[str, Any] = {}
        for line in res.iter_lines():
            if line.startswith("id: "):
                event["id"] = line[4:]
            elif line.startswith("event: "):
                event["event"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and event:
                out.append(event)
                if event.get("event") == "alert" and event["data"]["id"] == want:
                    return out
                event = {}
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"no alert event for {want}; got {out}")


def test_an_operator_sees_only_their_compounds_everywhere(any_server: Server, rclient: Any) -> None:
    scene = Scene(any_server.site, rclient, any_server.data / "evidence")
    theirs = scene.alert(camera="b3-entrance", track_id=51)
    mine = scene.alert(camera="yuhua-gate", track_id=52, evidence=False)
    first = scene.publish(theirs)
    scene.publish(mine)
    wait_stored(any_server, theirs.id)
    wait_stored(any_server, mine.id)

    api = any_server.client("zhao")
    try:
        listed = [i["id"] for i in api.get("/api/incidents").json()["items"]]
        assert mine.id in listed and theirs.id not in listed
        assert api.get(f"/api/incidents/{theirs.id}").status_code == 404
    finally:
        api.close()

    page = page_client(any_server, "zhao")
    try:
        desk = page.get("/ui/desk").text
        assert mine.id in desk and theirs.id not in desk
        assert page.get(f"/ui/incidents/{theirs.id}/drawer").status_code == 404
        sha = theirs.evidence[0].sha256
        assert page.get(f"/ui/evidence/{sha}").status_code == 404
        start = str(int(first.split("-")[0]) - 1) + "-0"
        events = sse_events(page, start, mine.id)
        shown = [e["data"]["id"] for e in events if e.get("event") == "alert"]
        assert shown == [mine.id], "the stream never carries another compound's alert"
        assert events[-1]["id"] != first
    finally:
        page.close()

    wang = page_client(any_server, "wang")
    try:
        img = wang.get(f"/ui/evidence/{theirs.evidence[0].sha256}")
        assert img.status_code == 200 and img.content[:2] == b"\xff\xd8"
    finally:
        wang.close()


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, 403), ("wrong", 403), ("cookie", 200)],
)
def test_form_posts_need_the_csrf_token(
    any_server: Server, rclient: Any, header: str | None, expected: int
) -> None:
    server = any_server
    scene = Scene(server.site, rclient, server.data / "evidence")
    a = scene.alert(camera="b3-entrance", track_id=60, evidence=False)
    scene.publish(a)
    wait_stored(server, a.id)
    c = page_client(server, "wang")
    try:
        headers = {}
        if header == "cookie":
            headers["X-CSRF-Token"] = c.cookies["csrf"]
        elif header:
            headers["X-CSRF-Token"] = header
        res = c.post(f"/ui/incidents/{a.id}/comment", data={"text": "checked"}, headers=headers)
        assert res.status_code == expected, res.text
    finally:
        c.close()


def test_login_cookies_are_httponly_and_samesite(any_server: Server) -> None:
    server = any_server
    res = httpx.post(server.url + "/ui/login", data={"name": "wang", "password": PASSWORD})
    cookies = res.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("shouwang_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    bad = httpx.post(server.url + "/ui/login", data={"name": "wang", "password": "nope"})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
