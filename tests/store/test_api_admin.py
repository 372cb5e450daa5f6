"""Cameras (snooze), users, plate lists and the audit log through REST, as the roles see them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from tests.store.conftest import LiveServer, login, make_user, settings_for

pytestmark = pytest.mark.redis
REPO = Path(__file__).resolve().parents[2]


def test_snooze_users_lists_and_audit(
    db_url: str, tmp_path: Path, r: redis.Redis, factory: sessionmaker[Session]
) -> None:
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    app = create_app(settings_for(db_url, tmp_path, site=tmp_path / "configs" / "demo-site.yaml"))
    make_user(factory, "wang", "operator", ["lijing"])
    make_user(factory, "root", "admin")
    make_user(factory, "qian", "auditor")
    with LiveServer(app) as srv:
        op = login(srv.client(), "wang")
        cams = {c["id"]: c for c in op.get("/api/cameras").json()}
        assert set(cams) == {"north-gate", "b3-entrance"} and cams["north-gate"]["gate"]
        res = op.put("/api/cameras/north-gate/snooze", json={"minutes": 30, "reason": "lens"})
        assert res.status_code == 200 and res.json()["snoozed_by"] == "wang"
        assert op.put("/api/cameras/nowhere/snooze", json={"minutes": 5}).status_code == 404
        assert op.delete("/api/cameras/north-gate/snooze").json()["snoozed_until"] is None
        assert op.get("/api/users").status_code == 403  # operators do not manage users

        admin = login(srv.client(), "root")
        new = admin.post(
            "/api/users",
            json={
                "name": "li",
                "password": "long enough pw",
                "role": "operator",
                "compounds": ["lijing"],
            },
        )
        assert new.status_code == 201
        assert (
            admin.post(
                "/api/users", json={"name": "li", "password": "long enough pw", "role": "auditor"}
            ).status_code
            == 409
        )
        assert (
            admin.post(
                "/api/users",
                json={
                    "name": "x",
                    "password": "long enough pw",
                    "role": "operator",
                    "compounds": [],
                },
            ).status_code
            == 422
        )
        assert admin.patch("/api/users/li", json={"active": False}).json()["active"] is False
        li = srv.client()
        assert (
            li.post(
                "/api/auth/login", json={"name": "li", "password": "long enough pw"}
            ).status_code
            == 401
        )

        lists = admin.get("/api/lists").json()
        assert {p["id"] for p in lists["plate_lists"]} == {"residents", "blacklist"}
        added = admin.post(
            "/api/lists/plates/blacklist/entries", json={"plate": "宁a 88888", "comment": "stolen"}
        )
        assert (
            added.status_code == 201 and {"plate": "宁A88888", "comment": "stolen"} in added.json()
        )
        assert "宁A88888,stolen" in (
            tmp_path / "configs" / "demo-lists" / "blacklist-plates.txt"
        ).read_text(encoding="utf-8")
        assert (
            admin.post(
                "/api/lists/plates/blacklist/entries", json={"plate": "宁A88888"}
            ).status_code
            == 409
        )
        assert admin.delete("/api/lists/plates/blacklist/entries/宁A88888").status_code == 200
        assert admin.delete("/api/lists/plates/blacklist/entries/宁A88888").status_code == 404

        aud = login(srv.client(), "qian")
        assert aud.get("/api/incidents").status_code == 403
        page = aud.get("/api/audit", params={"limit": 100}).json()
        actions = [e["action"] for e in page["items"]]
        for a in (
            "camera.snooze",
            "camera.unsnooze",
            "user.add",
            "user.change",
            "list.add",
            "list.remove",
            "login",
            "login.failed",
        ):
            assert a in actions, a
        assert aud.get("/api/audit/verify").json()["ok"] is True
