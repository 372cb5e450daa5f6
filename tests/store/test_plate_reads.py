"""The composition root publishes every gate read with its crop on PLATE_READS."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import redis

from alerts import keys
from alerts.evidence import evidence_path
from alerts.plate_reads import parse_read
from detectors.objects import ObjectDetector
from pipeline.stages.plates import PassRead
from shouwang.config import load_site
from shouwang.runtime import Runtime, RuntimeConfig
from streams.frame import Frame
from tests.alerts.factory import TEST_REDIS_URL, stream_entries

pytestmark = pytest.mark.redis
REPO = Path(__file__).resolve().parents[2]


def test_a_gate_read_goes_to_the_stream_with_its_crop_in_the_evidence_store(
    r: redis.Redis, tmp_path: Path
) -> None:
    site = load_site(REPO / "configs" / "demo-site.yaml")
    cfg = RuntimeConfig(redis_url=TEST_REDIS_URL, state_dir=tmp_path, plates=False, faces=False)
    # No frame is detected here: the runtime only needs a detector object to hold.
    rt = Runtime(site, REPO / "configs", cfg, detector=cast(ObjectDetector, object()))
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[300:340, 500:640] = 255  # the "plate"
    read = PassRead(
        camera_id="north-gate",
        text="宁A12345",
        confidence=0.93,
        low_confidence=False,
        n_frames=3,
        captured_at=1_764_000_000.0,
        box=(500.0, 300.0, 640.0, 340.0),
        track_id=None,
        list_id=None,
        list_kind=None,
    )
    try:
        rt.record_read(Frame("north-gate", 1, None, read.captured_at, image), read)
    finally:
        rt.close()
    (entry,) = stream_entries(r, keys.PLATE_READS)
    got = parse_read(entry[1])
    assert (got.plate, got.camera, got.compound, got.gate) == (
        "宁A12345",
        "north-gate",
        "lijing",
        "north vehicle gate",
    )
    assert got.read_at.timestamp() == read.captured_at and got.list_id is None
    assert got.crop_sha256 is not None
    crop = evidence_path(tmp_path / "evidence", got.crop_sha256).read_bytes()
    assert hashlib.sha256(crop).hexdigest() == got.crop_sha256 and crop[:2] == b"\xff\xd8"
