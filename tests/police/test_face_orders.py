"""``POST /watch-orders/faces`` through the real app: a usable photo becomes a live face
order (the photo not kept), an unusable one answers 422 saying why and naming the field,
with nothing written; read, list and revoke show face orders; the photo's size limit."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis
from sqlalchemy import select

from alerts import keys
from alerts.police.models import WatchOrder
from alerts.store.audit import AuditEntry
from detectors.faces.embedder import DEFAULT_EMBEDDER
from tests.police.conftest import World, make_world, sample_photo
from tests.store.conftest import url_for

pytestmark = pytest.mark.redis
P = "/api/police/v1"
LATER = (datetime.now(UTC) + timedelta(days=2)).isoformat()


def body(photo: bytes | str, **extra: Any) -> dict[str, Any]:
    text = photo if isinstance(photo, str) else base64.b64encode(photo).decode()
    return {
        "photo": text,
        "reason": "涉嫌诈骗, 在逃",
        "case_number": "2026-YC-0101",
        "legal_basis": "《刑事诉讼法》第54条",
        "expires_at": LATER,
        "compounds": ["lijing"],
    } | extra


def jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def post(w: World, payload: dict[str, Any]) -> Any:
    return w.http.post(P + "/watch-orders/faces", json=payload, headers=w.auth("full"))


def test_a_usable_photo_becomes_a_live_face_order_without_keeping_the_photo(
    world: World, face_jpeg: bytes
) -> None:
    w = world
    res = post(w, body(face_jpeg))
    assert res.status_code == 201, res.text
    o = res.json()
    assert o["kind"] == "face" and o["plate"] is None and o["active"] is True
    assert o["face"]["model"] == DEFAULT_EMBEDDER
    assert o["face"]["photo_sha256"] == hashlib.sha256(face_jpeg).hexdigest()
    assert 0 < o["face"]["quality"] <= 1 and o["face"]["threshold"] > 0
    assert o["legal_basis"] == "《刑事诉讼法》第54条" and o["case_number"] == "2026-YC-0101"
    # live for the workers of the target compound, at once
    entry = json.loads(w.redis.hget(keys.police_faces("lijing"), o["id"]) or "{}")
    assert entry["model"] == DEFAULT_EMBEDDER and entry["client"] == w.clients["full"].id
    # listed and readable, without the template or the photo
    listed = w.http.get(P + "/watch-orders", headers=w.auth("full"))
    assert [x["id"] for x in listed.json()] == [o["id"]]
    one = w.http.get(f"{P}/watch-orders/{o['id']}", headers=w.auth("full"))
    assert one.status_code == 200 and one.json() == o
    for text in (listed.text, one.text):
        assert "embedding" not in text and base64.b64encode(face_jpeg[:64]).decode() not in text
    with w.factory() as s:
        row = s.get(WatchOrder, o["id"])
        assert row is not None and row.face is not None
        assert face_jpeg[:64] not in json.dumps(row.face).encode()
        calls = [
            json.loads(e.detail)
            for e in s.execute(select(AuditEntry).where(AuditEntry.action == "police.call"))
            .scalars()
            .all()
        ]
    posted = next(c for c in calls if c["endpoint"] == "POST /api/police/v1/watch-orders/faces")
    assert posted["status"] == 201 and posted["case_number"] == "2026-YC-0101"
    assert posted["legal_basis"] == "《刑事诉讼法》第54条"
    assert posted["params"]["photo_sha256"] == o["face"]["photo_sha256"]
    # revoked: off the live list, the template dropped from the row
    gone = w.http.delete(f"{P}/watch-orders/{o['id']}", headers=w.auth("full"))
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert gone.json()["end_reason"] == "revoked" and gone.json()["face"] == o["face"]
    assert w.redis.hlen(keys.police_faces("lijing")) == 0
    with w.factory() as s:
        row = s.get(WatchOrder, o["id"])
        assert row is not None and row.face is not None and "embedding" not in row.face


def test_a_data_url_is_accepted(world: World, face_jpeg: bytes) -> None:
    url = "data:image/jpeg;base64," + base64.b64encode(face_jpeg).decode()
    res = post(world, body(url))
    assert res.status_code == 201, res.text


def _unusable(kind: str, face: np.ndarray) -> bytes | str:
    if kind == "no face":
        return jpeg(np.full((480, 640, 3), 127, np.uint8))
    if kind == "two faces":
        img = cv2.imread(str(sample_photo("zidane.jpg")))
        assert img is not None
        return jpeg(img)
    if kind == "blurred":
        return jpeg(cv2.GaussianBlur(face, (0, 0), 5))
    if kind == "too small":
        return jpeg(cv2.resize(face, None, fx=0.15, fy=0.15))
    if kind == "cut off":
        return jpeg(np.ascontiguousarray(face[:, :250]))
    if kind == "not an image":
        return b"%PDF-1.7 not a photo at all" * 10
    if kind == "truncated":
        data = jpeg(face)
        return data[: len(data) // 3]
    if kind == "not base64":
        return "this is not base64 at all!!"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no face", "photo: no face found"),
        ("two faces", "photo: 2 faces found; a photo of exactly one person"),
        ("blurred", "photo: the face is not good enough to watch for: it is blurred"),
        ("too small", "not good enough to watch for: it is too small"),
        ("cut off", "cut off by the photo's border"),
        ("not an image", "photo: not an image file"),
        ("truncated", "photo: corrupt or truncated"),
        ("not base64", "photo: not base64"),
    ],
)
def test_an_unusable_photo_is_refused_saying_why_and_nothing_is_written(
    shared_world: World, face_jpeg: bytes, kind: str, message: str
) -> None:
    w = shared_world
    face = np.asarray(cv2.imdecode(np.frombuffer(face_jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
    before = w.redis.hlen(keys.police_faces("lijing"))
    with w.factory() as s:
        n = len(s.execute(select(WatchOrder).where(WatchOrder.kind == "face")).all())
    res = post(w, body(_unusable(kind, face)))
    assert res.status_code == 422, res.text
    (err,) = res.json()["detail"]
    assert err["loc"] == ["body", "photo"]
    assert message in err["msg"]
    assert w.redis.hlen(keys.police_faces("lijing")) == before
    with w.factory() as s:
        assert len(s.execute(select(WatchOrder).where(WatchOrder.kind == "face")).all()) == n


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"legal_basis": ""}, ["body", "legal_basis"]),
        ({"case_number": "x"}, ["body", "case_number"]),
        ({"expires_at": "2020-01-01T00:00:00Z"}, ["body", "expires_at"]),
        ({"compounds": []}, ["body", "compounds"]),
    ],
)
def test_the_other_fields_are_checked_before_the_photo(
    shared_world: World, face_jpeg: bytes, change: dict[str, Any], loc: list[str]
) -> None:
    res = post(shared_world, body(face_jpeg, **change))
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["loc"] == loc
    assert base64.b64encode(face_jpeg[:300]).decode()[:400] not in res.text  # not echoed


def test_a_body_without_a_field_is_refused_without_echoing_the_photo(
    shared_world: World, face_jpeg: bytes
) -> None:
    payload = {k: v for k, v in body(face_jpeg).items() if k != "legal_basis"} | {"x": 1}
    res = post(shared_world, payload)
    assert res.status_code == 422
    assert {tuple(e["loc"]) for e in res.json()["detail"]} == {
        ("body", "legal_basis"),
        ("body", "x"),
    }
    assert len(res.content) < 2000  # FastAPI would echo the whole body, photo included


@pytest.fixture
def small_limit(tmp_path: Path, r: redis.Redis) -> Iterator[World]:
    """A world whose photo limit is 20 kB."""
    from alerts.police.config import PoliceSettings

    yield from make_world(
        url_for("sqlite", tmp_path), tmp_path, r, police=PoliceSettings(max_photo_bytes=20_000)
    )


def test_the_photo_size_limit(small_limit: World) -> None:
    w = small_limit
    # the route's body limit: the photo limit in base64 plus 64 KiB, refused unread
    over = base64.b64encode(b"\xff" * 100_000).decode()
    big = w.http.post(P + "/watch-orders/faces", json=body(over), headers=w.auth("full"))
    assert big.status_code == 413 and "over the limit" in big.json()["detail"]
    # within the body limit but over the photo's own: 422 naming the field and the limit
    blob = base64.b64encode(b"\xff" * 30_000).decode()
    res = w.http.post(P + "/watch-orders/faces", json=body(blob), headers=w.auth("full"))
    assert res.status_code == 422
    assert res.json()["detail"][0]["msg"] == (
        "photo: 30,000 bytes, over the limit of 20,000 bytes; resize it"
    )
