"""The access matrix of /api/police/v1: every route against no token, an expired token,
a revoked client, a missing scope and another jurisdiction, each with its status code;
plus tokens, JWKS, key rotation, rate and size limits, and the audit of every call."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from ulid import ULID

from alerts.police.models import Subscription
from alerts.police.push import new_secret
from alerts.police.signing import KeyRing
from alerts.police.tokens import issue
from alerts.police.watch import add_plate_order
from alerts.store.audit import AuditEntry
from alerts.store.audit import verify as verify_chain
from alerts.store.db import transaction
from tests.police.conftest import LEGAL, World, revoke

pytestmark = pytest.mark.redis

P = "/api/police/v1"


@dataclass(frozen=True)
class Route:
    """One route: how to call it inside the jurisdiction, and outside (None: n/a)."""

    method: str
    path: str  # with {mine}/{theirs}/{sub}/{peer_sub}/{order}/{peer_order} placeholders
    scope: str
    body: dict[str, Any] | None = None
    other_path: str | None = None
    other_body: dict[str, Any] | None = None
    ok: int = 200


LATER = (datetime.now(UTC) + timedelta(days=2)).isoformat()
ORDER = {"plate": "宁B54321", "reason": "涉嫌盗窃", "case_number": "2026-YC-0042"}
FACE_ORDER = {
    "photo": "{photo}",  # a real one-face JPEG, base64 (the matrix fixture fills it in)
    "reason": "涉嫌盗窃",
    "case_number": "2026-YC-0042",
    "legal_basis": "《刑事诉讼法》第54条",
}
ROUTES = [
    Route("GET", P + "/alerts", "alerts:read", other_path=P + "/alerts?compound=other"),
    Route("GET", P + "/alerts/{mine}", "alerts:read", other_path=P + "/alerts/{theirs}"),
    Route(
        "GET",
        P + "/vehicles?plate=宁A12345",
        "vehicles:read",
        other_path=P + "/vehicles?plate=宁A12345&compound=other",
    ),
    Route("GET", P + "/faces/hits", "faces:read", other_path=P + "/faces/hits?compound=other"),
    Route(
        "POST",
        P + "/evidence",
        "evidence:export",
        body={"incident_ids": ["{mine}"]},
        other_body={"incident_ids": ["{theirs}"]},
    ),
    Route(
        "POST",
        P + "/subscriptions",
        "subscriptions:write",
        body={"url": "http://127.0.0.1:9/hook", "compounds": ["lijing"]},
        other_body={"url": "http://127.0.0.1:9/hook", "compounds": ["other"]},
        ok=201,
    ),
    Route("GET", P + "/subscriptions", "subscriptions:write"),
    Route(
        "GET",
        P + "/subscriptions/{sub}",
        "subscriptions:write",
        other_path=P + "/subscriptions/{peer_sub}",
    ),
    Route(
        "GET",
        P + "/subscriptions/{sub}/deliveries",
        "subscriptions:write",
        other_path=P + "/subscriptions/{peer_sub}/deliveries",
    ),
    Route(
        "POST",
        P + "/subscriptions/{sub}/replay",
        "subscriptions:write",
        body={"ids": []},
        other_path=P + "/subscriptions/{peer_sub}/replay",
    ),
    Route(
        "DELETE",
        P + "/subscriptions/{sub}",
        "subscriptions:write",
        other_path=P + "/subscriptions/{peer_sub}",
        ok=204,
    ),
    Route(
        "POST",
        P + "/watch-orders",
        "dispositions:write",
        body={**ORDER, "expires_at": LATER, "compounds": ["lijing"]},
        other_body={**ORDER, "expires_at": LATER, "compounds": ["other"]},
        ok=201,
    ),
    Route(
        "POST",
        P + "/watch-orders/faces",
        "dispositions:write",
        body={**FACE_ORDER, "expires_at": LATER, "compounds": ["lijing"]},
        other_body={**FACE_ORDER, "expires_at": LATER, "compounds": ["other"]},
        ok=201,
    ),
    Route("GET", P + "/watch-orders", "dispositions:write"),
    Route(
        "GET",
        P + "/watch-orders/{order}",
        "dispositions:write",
        other_path=P + "/watch-orders/{peer_order}",
    ),
    Route(
        "DELETE",
        P + "/watch-orders/{order}",
        "dispositions:write",
        other_path=P + "/watch-orders/{peer_order}",
    ),
    Route("GET", P + "/audit", "audit:read"),
]
CASES = ["no token", "expired", "revoked client", "wrong scope", "other jurisdiction", "valid"]
EXPECTED = {
    "no token": 401,
    "expired": 401,
    "revoked client": 401,
    "wrong scope": 403,
    "other jurisdiction": 404,
}


@pytest.fixture(scope="module")
def matrix(shared_world: World, face_jpeg: bytes) -> dict[str, Any]:
    """Ids the routes refer to, and the tokens of each case (fetched once)."""
    w = shared_world
    now = datetime.now(UTC)
    ids: dict[str, str] = {
        "mine": w.mine.id,
        "theirs": w.theirs.id,
        "photo": base64.b64encode(face_jpeg).decode(),
    }
    with transaction(w.factory) as s:
        for key, client in (("sub", "full"), ("peer_sub", "peer")):
            sub = Subscription(
                id=str(ULID()),
                client_id=w.clients[client].id,
                url="http://127.0.0.1:9/hook",
                secret=new_secret(),
                types=[],
                compounds=[],
                min_severity="info",
                active=True,
                created_at=now,
            )
            s.add(sub)
            ids[key] = sub.id
        for key, client, area in (("order", "full", "lijing"), ("peer_order", "peer", "other")):
            o = add_plate_order(
                s,
                w.redis,
                client_id=w.clients[client].id,
                plate="宁C11111",
                reason="test",
                case_number="2026-1",
                compounds=[area],
                expires_at=now + timedelta(days=1),
            )
            ids[key] = o.id
    ring = KeyRing(w.data_dir / "police" / "keys")
    expired, _ = issue(
        ring, w.clients["full"].id, ["alerts:read"], ttl_s=600, now=time.time() - 3600
    )
    gone = w.token("gone")
    revoke(w, "gone")
    return {
        "ids": ids,
        "tokens": {
            "expired": expired,
            "revoked client": gone,
            "valid": w.token("full"),
            "scoped": {s: w.token("full", scope=s) for s in ("alerts:read", "audit:read")},
        },
    }


def _fill(v: Any, ids: dict[str, str]) -> Any:
    if isinstance(v, str):
        return v.format(**ids)
    if isinstance(v, list):
        return [_fill(x, ids) for x in v]
    if isinstance(v, dict):
        return {k: _fill(x, ids) for k, x in v.items()}
    return v


def call(w: World, route: Route, case: str, m: dict[str, Any]) -> httpx.Response | None:
    ids, toks = m["ids"], m["tokens"]
    headers = dict(LEGAL)
    path, body = route.path, route.body
    if case == "other jurisdiction":
        if route.other_path is None and route.other_body is None:
            return None
        path = route.other_path or path
        body = route.other_body if route.other_body is not None else body
    if case == "wrong scope":
        other = "alerts:read" if route.scope != "alerts:read" else "audit:read"
        headers["Authorization"] = f"Bearer {toks['scoped'][other]}"
    elif case != "no token":
        headers["Authorization"] = (
            f"Bearer {toks['valid' if case == 'other jurisdiction' else case]}"
        )
    return w.http.request(route.method, _fill(path, ids), json=_fill(body, ids), headers=headers)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
def test_access_matrix(
    shared_world: World, matrix: dict[str, Any], route: Route, case: str
) -> None:
    res = call(shared_world, route, case, matrix)
    if res is None:
        # A list of the caller's own records: another client's never appear in it.
        res = call(shared_world, route, "valid", matrix)
        assert res is not None and res.status_code == 200, res
        peer = shared_world.clients["peer"].id
        if route.path.endswith("/audit"):  # the peer's own order is not in our trail
            own = [(e["action"], e["target"]) for e in res.json()["items"]]
            assert own and ("police.watch_added", matrix["ids"]["peer_order"]) not in own
            return
        for key in ("peer_sub", "peer_order"):
            assert matrix["ids"][key] not in res.text
        assert peer not in res.text
        return
    want = route.ok if case == "valid" else EXPECTED[case]
    assert res.status_code == want, res.text
    if want == 401:
        assert res.headers["www-authenticate"].startswith("Bearer")
    if want == 403:
        assert route.scope in res.json()["detail"]
    if want == 404:
        assert "not found" in res.json()["detail"]


def test_every_police_route_is_in_the_matrix(shared_world: World) -> None:
    import re

    def norm(p: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", p.split("?")[0])

    paths = shared_world.live.app.openapi()["paths"]
    served = {
        (m.upper(), norm(p))
        for p, ops in paths.items()
        if p.startswith(P) and not p.endswith("/oauth/token")
        for m in ops
    }
    assert served == {(r.method, norm(r.path)) for r in ROUTES}


def test_token_errors_follow_rfc6749(shared_world: World) -> None:
    w, c = shared_world, shared_world.clients["full"]
    cases = [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "client_id": c.id, "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": w.clients["narrow"].id,
                "client_secret": w.clients["narrow"].secret,
                "scope": "evidence:export",
            },
            400,
            "invalid_scope",
        ),
    ]
    for form, code, err in cases:
        res = w.http.post(P + "/oauth/token", data=form)
        assert (res.status_code, res.json()["error"]) == (code, err)
    basic = httpx.BasicAuth(c.id, c.secret)
    res = w.http.post(P + "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic)
    assert res.status_code == 200
    tok = res.json()
    assert tok["token_type"] == "Bearer" and 300 <= tok["expires_in"] <= 900


def test_token_is_eddsa_with_a_kid_from_the_jwks(shared_world: World) -> None:
    import jwt

    w = shared_world
    token = w.token("full")
    header = jwt.get_unverified_header(token)
    jwks = w.http.get("/.well-known/jwks.json").json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    pub = jwt.PyJWK(key).key
    claims = jwt.decode(token, pub, algorithms=["EdDSA"], audience="shouwang-police")
    assert header["alg"] == "EdDSA" and claims["sub"] == w.clients["full"].id
    assert claims["exp"] - claims["iat"] <= 900


def test_key_rotation_keeps_old_tokens_working(shared_world: World) -> None:
    w = shared_world
    old = w.token("full")
    ring = KeyRing(w.data_dir / "police" / "keys")
    new = ring.rotate(ahead_s=0)
    time.sleep(1.1)  # the app re-reads the ring at most once a second for an unknown kid
    kids = {k["kid"] for k in w.http.get("/.well-known/jwks.json").json()["keys"]}
    assert new.kid in kids and len(kids) >= 2
    fresh = w.token("full")
    import jwt

    assert jwt.get_unverified_header(fresh)["kid"] == new.kid
    for tok in (old, fresh):
        res = w.http.get(P + "/alerts", headers={"Authorization": f"Bearer {tok}"})
        assert res.status_code == 200


def test_personal_data_needs_case_number_and_legal_basis(shared_world: World) -> None:
    w = shared_world
    h = w.auth("full")
    for missing in ("X-Case-Number", "X-Legal-Basis"):
        headers = {k: v for k, v in LEGAL.items() if k != missing} | h
        res = w.http.get(P + "/vehicles", params={"plate": "宁A12345"}, headers=headers)
        assert res.status_code == 422 and missing.lower() in res.text


def test_every_call_is_audited_with_its_case_number(shared_world: World) -> None:
    w = shared_world
    res = w.http.get(P + "/vehicles", params={"plate": "宁A12345"}, headers=w.auth("full") | LEGAL)
    assert res.status_code == 200
    with w.factory() as s:
        e = s.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "police.call")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).scalar_one()
        detail = json.loads(e.detail)
        assert e.actor == w.clients["full"].id
        assert detail["endpoint"] == "GET /api/police/v1/vehicles"
        assert detail["params"] == {"plate": "宁A12345"}
        assert detail["records"] == 1
        assert detail["case_number"] == "2026-YC-0042"
        assert detail["legal_basis"] == "《刑事诉讼法》第54条"
        assert detail["status"] == 200
        assert verify_chain(s).ok


def test_body_over_the_limit_is_refused_before_reading(shared_world: World) -> None:
    w = shared_world
    big = b"{" + b" " * (2 << 20) + b"}"
    res = w.http.post(
        P + "/subscriptions",
        content=big,
        headers=w.auth("full") | {"content-type": "application/json"},
    )
    assert res.status_code == 413


def test_rate_limit_answers_429_with_retry_after(world: World) -> None:
    from alerts.police.models import PoliceClient

    with transaction(world.factory) as s:
        c = s.get(PoliceClient, world.clients["narrow"].id)
        assert c is not None
        c.rate_per_minute = 3
    h = world.auth("narrow")
    codes = [world.http.get(P + "/alerts", headers=h).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    res = world.http.get(P + "/alerts", headers=h)
    assert 1 <= int(res.headers["retry-after"]) <= 60
