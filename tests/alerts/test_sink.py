"""AlertSink: what a worker calls per alert, end to end against the real Redis."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import redis

from alerts.model import SceneSubject, TrackSubject
from alerts.sink import AlertSink
from shouwang.config.site import Site
from shouwang.geo import haversine_m
from streams.frame import Frame
from tests.alerts.factory import COMPOUND, camera, stream_alerts, truth_latlon

pytestmark = pytest.mark.redis


def _site() -> Site:
    return Site.model_validate(
        {"name": "t", "compounds": [COMPOUND.model_dump()], "cameras": [camera().model_dump()]}
    )


def _frame(seq: int) -> Frame:
    now = time.time()
    image = np.random.default_rng(seq).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    return Frame(
        camera_id="gate-north",
        seq=seq,
        pts=None,
        captured_at=now - 0.2,
        image=image,
        stamps={"decoded": now - 0.15, "inferred": now - 0.1, "tracked": now - 0.05},
    )


def test_emit_locates_keeps_evidence_and_publishes(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    sink = AlertSink(_site(), state_dir=tmp_path, redis_url=redis_url, update_interval_s=60)
    subject = TrackSubject(track_id=3, class_name="person", rule="intrusion", zone="roof")
    box = (900.0, 500.0, 980.0, 700.0)
    first = sink.emit(_frame(1), type="zone.intrusion", subject=subject, box=box, label="person 3")
    again = sink.emit(_frame(2), type="zone.intrusion", subject=subject, box=box)
    scene = sink.emit(_frame(3), type="camera.tamper", subject=SceneSubject(rule="covered"))
    assert sink.close() == 0
    assert (first.action, again.action, scene.action) == ("new", "suppressed", "new")
    assert again.alert.evidence == []  # suppressed: no JPEG encoded for nothing
    stored = stream_alerts(r)
    assert [a.id for a in stored] == [first.alert.id, scene.alert.id]
    a = stored[0]
    assert haversine_m(a.location.lat, a.location.lon, *truth_latlon(940.0, 700.0)) < 0.5
    assert [e.kind for e in a.evidence] == ["snapshot", "crop", "frame"]
    snap, frame = a.evidence[0], a.evidence[2]
    assert snap.box == frame.box and frame.box is not None, "both carry the box in their pixels"
    assert snap.sha256 != frame.sha256, "the frame is clean, the snapshot has the box burnt in"
    assert all(sink.evidence.verify(e) for e in a.evidence)
    assert {
        "captured",
        "decoded",
        "inferred",
        "tracked",
        "evidence",
        "alerted",
        "published",
    } <= set(a.times.stages)
    assert a.times.glass_to_alert_s is not None and 0.2 <= a.times.glass_to_alert_s < 5
    t = stored[1]
    assert t.location.source == "camera" and "whole-scene" in t.location.note
    assert [e.kind for e in t.evidence] == ["snapshot"]
