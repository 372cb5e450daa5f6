"""The worker's overlay stream: bounded, expiring, with zone hits; never in the way."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from alerts import keys
from alerts.live_tracks import TrackPublisher
from detectors.detections import Detections
from shouwang.config import parse_site
from streams.frame import Frame

pytestmark = [pytest.mark.redis]

SITE = {
    "version": 1,
    "name": "overlay",
    "compounds": [{"id": "c", "name": "c", "lat": 38.0, "lon": 106.0}],
    "cameras": [
        {
            "id": "cam",
            "compound": "c",
            "url": "rtsp://127.0.0.1/x",
            "lat": 38.0,
            "lon": 106.0,
            "zones": [
                {
                    "id": "left",
                    "kind": "watch",
                    "polygon": [[0, 0], [100, 0], [100, 200], [0, 200]],
                },
                {"id": "door", "kind": "line", "polygon": [[0, 50], [200, 50]]},
            ],
        }
    ],
}


def frame(k: int) -> Frame:
    return Frame(
        camera_id="cam",
        seq=k,
        pts=None,
        captured_at=1000.0 + k,
        image=np.zeros((200, 300, 3), np.uint8),
    )


DETS = Detections(
    xyxy=np.array([[10, 10, 60, 150], [150, 10, 200, 150]], np.float32),
    confidence=np.array([0.9, 0.7], np.float32),
    class_id=np.array([0, 2]),
    tracker_id=np.array([3, 4]),
)


def publisher(client: redis.Redis) -> TrackPublisher:
    site = parse_site(SITE, "test")
    return TrackPublisher(client, {c.id: c for c in site.cameras}, {0: "person", 2: "car"})


def test_each_frame_s_tracks_go_to_a_bounded_expiring_stream(r: redis.Redis) -> None:
    pub = publisher(r)
    for k in range(keys.LIVE_TRACKS_MAXLEN + 10):
        pub.publish(frame(k), DETS)
    key = keys.live_tracks("cam")
    assert r.xlen(key) == keys.LIVE_TRACKS_MAXLEN
    assert 0 < r.ttl(key) <= keys.LIVE_TRACKS_TTL_S
    newest: Any = r.xrevrange(key, count=1)
    doc = json.loads(newest[0][1]["tracks"])
    assert (doc["w"], doc["h"], doc["t"]) == (300, 200, 1000.0 + keys.LIVE_TRACKS_MAXLEN + 9)
    assert [(t["id"], t["cls"], t["zones"]) for t in doc["tracks"]] == [
        (3, "person", ["left"]),  # foot point (35, 150) inside the area zone; lines have none
        (4, "car", []),
    ]


def test_an_unreachable_redis_pauses_the_overlay_without_raising() -> None:
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    pub = publisher(dead)
    pub.publish(frame(0), DETS)
    pub.publish(frame(1), DETS)  # paused: not even tried
    assert (pub.failures, pub.published) == (1, 0)
