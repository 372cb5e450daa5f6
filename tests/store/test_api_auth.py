"""The web service: health, login, cookies, CSRF, roles, compound scope, 409s."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from alerts.store.consumer import StoreConsumer
from api.deps import CSRF_HEADER
from tests.alerts.factory import make_alert
from tests.store.conftest import LiveServer, login, make_user
from tests.store.helpers import xadd

pytestmark = pytest.mark.redis


def test_healthz_answers_without_login(app_client: httpx.Client) -> None:
    res = app_client.get("/healthz")
    assert res.status_code == 200
    assert res.json()["database"] == "ok" and res.json()["redis"] == "ok"


def test_login_sets_httponly_strict_session_and_readable_csrf(
    app_client: httpx.Client, factory: sessionmaker[Session]
) -> None:
    make_user(factory, "wang", "operator", ["lijing"])
    assert app_client.get("/api/incidents").status_code == 401
    bad = app_client.post("/api/auth/login", json={"name": "wang", "password": "nope nope"})
    assert bad.status_code == 401
    res = app_client.post(
        "/api/auth/login", json={"name": "wang", "password": "correct horse battery"}
    )
    assert res.status_code == 200
    cookies = res.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("shouwang_session="))
    csrf = next(c for c in cookies if c.startswith("csrf="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert "HttpOnly" not in csrf
    assert app_client.get("/api/auth/me").json()["name"] == "wang"
    # logout without the CSRF header is refused, with it the session ends
    assert app_client.post("/api/auth/logout").status_code == 403
    app_client.headers[CSRF_HEADER] = app_client.cookies["csrf"]
    assert app_client.post("/api/auth/logout").status_code == 200
    assert app_client.get("/api/auth/me").status_code == 401


def _stored(factory: sessionmaker[Session], r: redis.Redis, compound_cams: list[str]) -> list[str]:
    ids = []
    for cam in compound_cams:
        a = make_alert(camera_id=cam)
        a = a.model_copy(update={"compound": "other" if cam == "far" else "lijing"})
        xadd(r, a)
        ids.append(a.id)
    sc = StoreConsumer(factory, r, consumer="t")
    while sc.step(block_ms=50):
        pass
    return ids


def test_operators_see_only_their_compounds_auditors_only_audit(
    live: LiveServer, app_client: httpx.Client, factory: sessionmaker[Session], r: redis.Redis
) -> None:
    near, far = _stored(factory, r, ["gate-north", "far"])
    make_user(factory, "wang", "operator", ["lijing"])
    make_user(factory, "zhao", "supervisor")
    make_user(factory, "qian", "auditor")
    login(app_client, "wang")
    assert [i["id"] for i in app_client.get("/api/incidents").json()["items"]] == [near]
    assert app_client.get(f"/api/incidents/{far}").status_code == 404
    sup = login(live.client(), "zhao")
    assert {i["id"] for i in sup.get("/api/incidents").json()["items"]} == {near, far}
    aud = login(live.client(), "qian")
    assert aud.get("/api/incidents").status_code == 403


def test_two_conflicting_claims_one_wins_the_other_gets_409_naming_the_winner(
    live: LiveServer, app_client: httpx.Client, factory: sessionmaker[Session], r: redis.Redis
) -> None:
    (inc,) = _stored(factory, r, ["gate-north"])
    make_user(factory, "wang", "operator", ["lijing"])
    make_user(factory, "li", "operator", ["lijing"])
    a = login(app_client, "wang")
    b = login(live.client(), "li")
    v = a.get(f"/api/incidents/{inc}").json()["version"]
    first = a.post(
        f"/api/incidents/{inc}/transitions", json={"action": "acknowledge", "version": v}
    )
    second = b.post(
        f"/api/incidents/{inc}/transitions", json={"action": "acknowledge", "version": v}
    )
    assert first.status_code == 200, first.text
    assert first.json()["assignee"] == "wang"
    assert second.status_code == 409
    body = second.json()
    assert body["changed_by"] == "wang" and body["action"] == "acknowledge"
    assert "wang" in body["detail"]
    # without the CSRF header an unsafe call is refused before anything happens
    del b.headers[CSRF_HEADER]
    res = b.post(
        f"/api/incidents/{inc}/transitions",
        json={"action": "close", "version": 2, "close": {"reason": "test"}},
    )
    assert res.status_code == 403 and "X-CSRF-Token" in res.json()["detail"]


def test_only_healthz_is_open_metrics_want_the_token_openapi_a_login(
    db_url: str, tmp_path: Path, r: redis.Redis, factory: sessionmaker[Session]
) -> None:
    from api.app import create_app
    from tests.store.conftest import settings_for

    app = create_app(settings_for(db_url, tmp_path, metrics_token="s3cret-token"))
    make_user(factory, "wang", "operator", ["lijing"])
    with LiveServer(app) as srv:
        c = srv.client()
        assert c.get("/healthz").status_code == 200
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and "shouwang_http_requests" in ok.text
        # counted by route template and status, timed per route
        assert 'method="GET",route="/healthz",status="200"} 1.0' in ok.text
        assert 'route="/metrics",status="401"} 2.0' in ok.text
        assert 'shouwang_http_request_seconds_count{route="/healthz"} 1.0' in ok.text
        assert "s3cret-token" not in ok.text
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/docs").status_code == 404  # no Swagger page (it would load a CDN)
        login(c, "wang")
        assert c.get("/openapi.json").json()["info"]["title"] == "Shouwang security centre"
        assert c.get("/metrics").status_code == 403  # operators do not read metrics
