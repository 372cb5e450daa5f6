"""Who may watch: the compound scope, before anything is opened; and no public STUN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from aiortc import RTCIceGatherer

from alerts.store.audit import AuditEntry
from api.live.hub import rtc_configuration
from api.live.settings import IceServer, LiveSettings
from api.settings import Settings
from tests.live.conftest import Site, serve_site
from tests.store.conftest import login

OFFER = {"sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", "type": "offer"}


@pytest.mark.rtsp
@pytest.mark.redis
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/live/gate/offer", OFFER),
        ("GET", "/api/live/gate/snapshot.jpg", None),
        ("GET", "/api/live/events?cameras=gate", None),
        ("GET", "/live/gate", None),
        ("GET", "/live?cameras=gate", None),
    ],
)
def test_a_viewer_without_rights_gets_403_and_nothing_is_opened(
    site: Site, method: str, path: str, body: dict[str, str] | None
) -> None:
    client = login(site.server.client(), "stranger")
    res = client.request(method, path, json=body)
    assert res.status_code == 403, res.text
    assert "lijing" in res.json()["detail"] or "gate" in res.json()["detail"]
    assert site.hub.opened == 0
    assert not site.hub.upstreams and not site.hub.sessions


@pytest.mark.rtsp
@pytest.mark.redis
@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (None, "/api/live/events?cameras=gate", 401),
        (None, "/live/gate", 303),  # pages send the browser to log in
        ("op", "/api/live/nowhere/offer", 404),
        ("op", "/api/live/gate/offer", 422),  # the camera answers; the offer is no WebRTC offer
    ],
)
def test_unknown_users_and_cameras(site: Site, who: str | None, path: str, status: int) -> None:
    client = site.server.client()
    if who:
        login(client, who)
    if path.endswith("/offer"):
        res = client.post(path, json=OFFER)
    else:
        res = client.get(path, follow_redirects=False)
    assert res.status_code == status, res.text
    assert site.hub.opened == (1 if status == 422 else 0)
    assert not site.hub.sessions


@pytest.mark.rtsp
@pytest.mark.redis
def test_a_refusal_is_audited(site: Site) -> None:
    login(site.server.client(), "stranger").post("/api/live/gate/offer", json=OFFER)
    with site.server.app.state.services.tx() as s:
        rows = s.execute(sa.select(AuditEntry).where(AuditEntry.action == "live.denied")).scalars()
        assert [(e.actor, e.target) for e in rows] == [("stranger", "gate")]


@pytest.mark.parametrize(
    ("servers", "stun"),
    [
        ([], None),
        ([IceServer(urls=["stun:10.0.0.1:3478"])], ("10.0.0.1", 3478)),
    ],
)
def test_no_public_stun_unless_configured(servers: list[IceServer], stun: object) -> None:
    cfg = rtc_configuration(servers)
    gatherer = RTCIceGatherer(iceServers=cfg.iceServers)
    assert gatherer._connection.stun_server == stun
    # what aiortc does without our configuration: a public STUN server
    assert RTCIceGatherer()._connection.stun_server is not None


@pytest.mark.redis
def test_configured_stun_and_turn_servers_reach_the_page(
    tmp_path: Path, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    turn = '[{"urls": ["turn:10.0.0.1:3478"], "username": "u", "credential": "s3cret"}]'
    monkeypatch.setenv("SHOUWANG_LIVE__ICE_SERVERS", turn)
    live = Settings(database_url="sqlite://").live  # read from the environment
    with serve_site(tmp_path, "rtsp://127.0.0.1:1/none", "rtsp://127.0.0.1:1/none", live) as server:
        page = login(server.client(), "op").get("/live/gate")
        assert page.status_code == 200
        ice = json.loads(re.search(r'data-ice="([^"]*)"', page.text)[1].replace("&quot;", '"'))  # type: ignore[index]
        assert ice == [{"urls": ["turn:10.0.0.1:3478"], "username": "u", "credential": "s3cret"}]
        assert server.app.state.live_hub.opened == 0  # the page alone opens no camera


@pytest.mark.redis
def test_a_camera_whose_credentials_are_unset_is_503_naming_the_variable(
    tmp_path: Path, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATE_PASS", raising=False)
    url = "rtsp://admin:${GATE_PASS}@127.0.0.1:1/none"
    with serve_site(tmp_path, url, url, LiveSettings()) as server:
        res = login(server.client(), "op").post("/api/live/gate/offer", json=OFFER)
        assert res.status_code == 503
        assert "GATE_PASS" in res.json()["detail"]
        assert server.app.state.live_hub.opened == 0
