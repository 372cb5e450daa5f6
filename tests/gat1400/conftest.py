"""Fixtures of the GA/T 1400 tests: a site with national ids, the test view library,
the lower platform running in a thread with short keepalive/retry settings (0.5 s and
0.3 s, so an outage test takes seconds instead of minutes)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import yaml
from sqlalchemy.orm import Session, sessionmaker

from alerts.evidence import EvidenceStore
from alerts.gat1400.client import LowerPlatform
from alerts.gat1400.dispositions import disposition_of
from alerts.gat1400.outbox import Collector
from alerts.gat1400.records import evidence_loader
from alerts.store.db import open_store, session_factory
from shouwang.config import Site, load_site
from tests.e2e.test_pipeline_e2e import wait_for
from tests.gat1400.viid_server import ViewLibrary
from tests.store.conftest import r, url_for

PLATFORM_ID = "64010400002000000001"
GATE_DEVICE = "64010400001190000001"
GATE_CHANNEL = "64010400001320000001"
FACE_DEVICE = "64010400001190000002"
FACE_CHANNEL = "64010400001320000002"
USER, PASSWORD = "shouwang", "viid-test-pw"

__all__ = ["r", "wait_for"]


def gat_site(
    folder: Path, upper_url: str, cameras: list[dict[str, Any]] | None = None, **extra: Any
) -> Path:
    """A site file: compound lijing, a gate camera and a face camera with their ids."""
    cams = cameras or [
        {"id": "gate-north", "url": "file:///dev/null", "placement": {"gate": "north gate"}},
        {"id": "b3-entrance", "url": "file:///dev/null", "placement": {"building": "3号楼"}},
    ]
    ids = {
        "gate-north": (GATE_DEVICE, GATE_CHANNEL),
        "b3-entrance": (FACE_DEVICE, FACE_CHANNEL),
    }
    out = []
    for c in cams:
        dev, ch = ids[c["id"]]
        out.append(
            {"compound": "lijing", "lat": 38.4871, "lon": 106.2310, "heading_deg": 90.0}
            | c
            | {"gat1400": {"device_id": dev, "channel_id": ch}}
        )
    site = {
        "version": 1,
        "name": "GA/T 1400 test site",
        "compounds": [{"id": "lijing", "name": "丽景湾小区", "lat": 38.4872, "lon": 106.2309}],
        "cameras": out,
        "gat1400": {
            "platform_id": PLATFORM_ID,
            "upper_url": upper_url,
            "user": USER,
            "place_code": "640104",
            "keepalive_s": 0.5,
            "retry_s": 0.3,
            "timeout_s": 2,
        },
    }
    site.update(extra)
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOUWANG_GAT1400_PASSWORD", PASSWORD)


@pytest.fixture
def library() -> Iterator[ViewLibrary]:
    lib = ViewLibrary(USER, PASSWORD).start()
    yield lib
    lib.stop()


@pytest.fixture
def evidence(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


def jpeg(ev: EvidenceStore, w: int = 64, h: int = 48, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return ev.encode(img)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = open_store(url_for("sqlite", tmp_path))
    yield session_factory(engine)
    engine.dispose()


@contextmanager
def lower_platform(
    site: Site,
    r: redis.Redis,
    factory: sessionmaker[Session],
    evidence_root: Path,
    *,
    start_id: str = "0",
) -> Iterator[LowerPlatform]:
    """The lower platform (collector + sender) in a thread until the block ends."""

    def disp(compound: str, plate: str) -> tuple[str, str] | None:
        with factory() as s:
            return disposition_of(s, compound, plate)

    assert site.gat1400 is not None
    col = Collector(site, r, evidence_loader(evidence_root), disposition_of=disp, start_id=start_id)
    lower = LowerPlatform(site.gat1400, r, factory, collector=col, timezone=site.timezone)
    stop = threading.Event()
    t = threading.Thread(target=lower.run, args=(stop, 0.05), daemon=True)
    t.start()
    try:
        yield lower
    finally:
        stop.set()
        t.join(timeout=10)


def load(path: Path) -> Site:
    return load_site(path)
