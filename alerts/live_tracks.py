"""The worker's side of the live overlay: each analysed frame's tracks, to Redis.

:class:`TrackPublisher` writes one small entry per analysed frame to the camera's
bounded stream (:func:`alerts.keys.live_tracks`); the live view reads it and draws the
boxes over the untouched video. It is best effort: a Redis that does not answer costs
the worker one failed call, then the overlay is paused for ``retry_s`` (counted in
:attr:`failures`) — alerts have their own outbox, the overlay of a moment ago has no
value later.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import redis

from alerts import keys
from detectors.detections import Detections
from pipeline.anomaly.events import AnomalyError
from pipeline.anomaly.geometry import inside as points_inside
from pipeline.anomaly.geometry import zone_pixels
from shouwang.config import Camera
from streams.frame import Frame

log = logging.getLogger(__name__)


def track_payload(
    frame: Frame, dets: Detections, names: Mapping[int, str], zones: Mapping[str, Any]
) -> dict[str, Any]:
    """The overlay entry of one analysed frame: boxes, class, track id, zone hits.

    A zone hit is the box's foot point (bottom centre, where a person stands) inside an
    area zone; line zones have no inside.
    """
    w, h = frame.size
    n = len(dets)
    hits: dict[str, np.ndarray] = {}
    if n and zones:
        feet = np.column_stack([(dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2, dets.xyxy[:, 3]]).astype(
            np.float64
        )
        hits = {zid: points_inside(feet, poly) for zid, poly in zones.items()}
    tracks = []
    for i in range(n):
        cid = int(dets.class_id[i])
        tracks.append(
            {
                "id": int(dets.tracker_id[i]) if len(dets.tracker_id) else -1,
                "cls": names.get(cid, str(cid)),
                "conf": round(float(dets.confidence[i]), 3),
                "box": [round(float(v), 1) for v in dets.xyxy[i]],
                "zones": [z for z, inside in hits.items() if inside[i]],
            }
        )
    return {"t": frame.captured_at, "w": w, "h": h, "tracks": tracks}


class TrackPublisher:
    """Publishes each analysed frame's tracks for the cameras it knows.

    Args:
        client: the worker's Redis client.
        cameras: camera id → camera (its area zones are checked for hits).
        names: detector class id → class name.
    """

    def __init__(
        self,
        client: redis.Redis,
        cameras: Mapping[str, Camera],
        names: Mapping[int, str],
        *,
        retry_s: float = 5.0,
    ) -> None:
        self.redis = client
        self.names = dict(names)
        self.retry_s = retry_s
        self.failures = 0
        self.published = 0
        self._paused_until = 0.0
        self._zones: dict[str, dict[str, Any]] = {}
        for cam in cameras.values():
            zones: dict[str, Any] = {}
            for z in cam.zones:
                if z.kind == "line":
                    continue
                try:
                    zones[z.id] = zone_pixels(z, cam.calibration)
                except AnomalyError as exc:  # the rule engine reports it
                    log.debug("overlay: zone %s of camera %s skipped: %s", z.id, cam.id, exc)
            self._zones[cam.id] = zones

    def publish(self, frame: Frame, dets: Detections) -> None:
        """Write the frame's tracks to the camera's overlay stream (never raises)."""
        now = time.monotonic()
        if now < self._paused_until:
            return
        payload = track_payload(frame, dets, self.names, self._zones.get(frame.camera_id, {}))
        key = keys.live_tracks(frame.camera_id)
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(
                key,
                {"tracks": json.dumps(payload)},
                maxlen=keys.LIVE_TRACKS_MAXLEN,
                approximate=False,
            )
            pipe.expire(key, keys.LIVE_TRACKS_TTL_S)
            pipe.execute()
            self.published += 1
        except (redis.RedisError, OSError) as exc:
            self.failures += 1
            self._paused_until = now + self.retry_s
            log.warning("overlay: camera %s tracks not published: %s", frame.camera_id, exc)
