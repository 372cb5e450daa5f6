"""Fixtures for the end-to-end tests: real RTSP cameras, a private Redis, the real models.

The camera is the b3-entrance demo clip (real photo, two people) composed at test time
and served by the streams tests' gst-rtsp-server; Redis is a redis-server of the test's
own on a free port (DB 14), so stopping it for an outage test disturbs nobody.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from shouwang.demo import SHOTS, compose, enrol_demo_face
from tests.alerts.conftest import REDIS_SERVER, RedisServer
from tests.streams.conftest import RtspServer, _gi_missing

# The b3-entrance demo camera's calibration (1280x720 pixels ↔ ground).
B3_CALIBRATION = {
    "points": [
        {"pixel": [0, 719], "lat": 38.487000, "lon": 106.231170},
        {"pixel": [1279, 719], "lat": 38.487000, "lon": 106.231230},
        {"pixel": [1100, 300], "lat": 38.486930, "lon": 106.231240},
        {"pixel": [180, 300], "lat": 38.486930, "lon": 106.231160},
    ]
}
B3_ZONES = [
    {"id": "flower-bed", "kind": "intrusion", "classes": ["person"],
     "polygon": [[640, 560], [1279, 560], [1279, 719], [640, 719]]},
    {"id": "yard", "kind": "watch", "polygon": [[0, 0], [1279, 0], [1279, 719], [0, 719]]},
]  # fmt: skip
B3_RULES = [
    {"id": "flower-bed", "type": "intrusion", "zone": "flower-bed"},
    {"id": "two-people", "type": "crowding", "zone": "yard", "count": 2, "seconds": 0,
     "cooldown_s": 1},
]  # fmt: skip


def b3_camera(cam_id: str, url: str, *, faces: bool = False) -> dict[str, Any]:
    """A site-file camera playing the b3 clip, with its zones, rules (and watchlist)."""
    cam: dict[str, Any] = {
        "id": cam_id, "compound": "lijing", "url": url, "lat": 38.48702, "lon": 106.23120,
        "fps": 5, "calibration": B3_CALIBRATION, "zones": B3_ZONES, "rules": B3_RULES,
        "placement": {"building": "3号楼"},
    }  # fmt: skip
    if faces:
        cam["watchlists"] = ["persons-of-interest"]
    return cam


def plain_camera(cam_id: str, url: str) -> dict[str, Any]:
    """A camera with no rules, watchlists or plate lists (detection and tracking only)."""
    return {"id": cam_id, "compound": "lijing", "url": url, "lat": 38.4871, "lon": 106.2310}


def write_site(folder: Path, cameras: list[dict[str, Any]]) -> Path:
    """A site file with one compound, these cameras and the demo watchlist."""
    site = {
        "version": 1,
        "name": "e2e test site",
        "compounds": [
            {"id": "lijing", "name": "丽景湾小区 (test)", "lat": 38.4872, "lon": 106.2309}
        ],
        "cameras": cameras,
        "watchlists": [{"id": "persons-of-interest", "kind": "persons_of_interest"}],
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def b3_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The b3-entrance demo shot, 10 s (H.264 1280x720 25 fps)."""
    return compose(SHOTS["b3-entrance"], tmp_path_factory.mktemp("e2e") / "b3.mp4", seconds=10)


@pytest.fixture(scope="session")
def rtsp(b3_clip: Path) -> Iterator[RtspServer]:
    """A gst-rtsp-server serving the b3 clip at /cam (each client from the start)."""
    problem = _gi_missing()
    if problem:
        pytest.fail(f"{problem}: run `bash scripts/setup` as root")
    server = RtspServer({"long": b3_clip, "short": b3_clip})
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def detector() -> ObjectDetector:
    """The real object detector (yolov4-tiny, CPU), shared by the in-process tests."""
    return load_object_detector(ObjectDetectorConfig())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server (AOF on, so a restart keeps the stream)."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip(f"{REDIS_SERVER} not found")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def poi_state(tmp_path: Path) -> Path:
    """A state dir whose persons-of-interest list holds the demo person (zidane.jpg)."""
    state = tmp_path / "state"
    enrol_demo_face(tmp_path / "media", data_dir=state)
    return state
