"""Login CSRF: a page of another origin cannot log the browser in (REST and the form).

Against a real ``shouwang serve``; the browser case in Debian's Chromium, with the
attacker's page served from another origin (another port) by a real HTTP server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from api.deps import SESSION_COOKIE
from tests.dashboard.fixtures import Server
from tests.store.conftest import PASSWORD

pytestmark = [pytest.mark.redis]

HEADERS = [
    ({}, True),
    ({"Sec-Fetch-Site": "same-origin"}, True),
    ({"Sec-Fetch-Site": "none"}, True),
    ({"Origin": "SELF"}, True),
    ({"Origin": "http://evil.example"}, False),
    ({"Origin": "null"}, False),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-Fetch-Site": "same-site"}, False),
    ({"Origin": "SELF", "Sec-Fetch-Site": "cross-site"}, False),
]


def _headers(server: Server, headers: dict[str, str]) -> dict[str, str]:
    return {k: (server.url if v == "SELF" else v) for k, v in headers.items()}


@pytest.mark.parametrize(("headers", "allowed"), HEADERS)
@pytest.mark.parametrize(
    ("path", "as_json", "ok"),
    [("/api/auth/login", True, 200), ("/ui/login", False, 303)],
    ids=["rest", "form"],
)
def test_login_refuses_another_origin(
    server: Server, path: str, as_json: bool, ok: int, headers: dict[str, str], allowed: bool
) -> None:
    creds = {"name": "wang", "password": PASSWORD}
    with httpx.Client(base_url=server.url, timeout=20) as c:
        res = c.post(
            path,
            json=creds if as_json else None,
            data=None if as_json else creds,
            headers=_headers(server, headers),
        )
        assert res.status_code == (ok if allowed else 403), res.text
        assert (SESSION_COOKIE in res.cookies) is allowed
        if not allowed:
            assert "another" in res.json()["detail"]


@pytest.fixture
def attacker(server: Server) -> Iterator[str]:
    """A page on another origin that posts the attacker's credentials to the login form."""
    page = (
        f'<form id="f" method="post" action="{server.url}/ui/login">'
        '<input name="name" value="wang">'
        f'<input name="password" value="{PASSWORD}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.browser
def test_a_page_of_another_origin_cannot_log_the_browser_in(
    browser: Any, server: Server, attacker: str, contexts: list[Any]
) -> None:
    ctx = browser.new_context()
    contexts.append(ctx)
    page = ctx.new_page()
    with page.expect_response(f"{server.url}/ui/login") as answer:
        page.goto(attacker)
    assert answer.value.status == 403
    assert "another site" in page.content()
    assert not [c for c in ctx.cookies(server.url) if c["name"] == SESSION_COOKIE]
