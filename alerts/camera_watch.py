"""A camera that goes offline raises an incident.

Workers report a camera by holding its lease (``keys.camera_lease``) while they
heartbeat in ``keys.WORKERS``; that is all they leave in Redis about cameras. A camera
is *online* while a live worker holds its lease. When a camera this process saw online
loses its live holder (the worker died, or gave the camera up because its stream
failed), :meth:`CameraWatch.check` publishes a ``camera.tamper`` alert with the scene
rule ``offline`` at the camera's own position, through the normal publisher (dedup,
outbox), so it reaches the store, the desk and the police feed like any alert.

Several web services may watch the same site: ``keys.camera_offline`` (SET NX) lets only
the first one raise the incident for an outage.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import redis

from alerts import keys
from alerts.location import Locator
from alerts.model import Alert, SceneSubject
from alerts.publisher import AlertPublisher
from shouwang.config.site import Site

log = logging.getLogger(__name__)

#: Seconds one outage's marker lives: a camera flapping within it raises one incident.
OFFLINE_TTL_S = 600


def online_cameras(client: redis.Redis, camera_ids: list[str]) -> dict[str, str | None]:
    """camera id → the live worker holding it, or None when no live worker does."""
    if not camera_ids:
        return {}
    owners = client.mget([keys.camera_lease(c) for c in camera_ids])
    now_ms = int(float(client.time()[0]) * 1000)
    alive = {str(w) for w in client.zrangebyscore(keys.WORKERS, now_ms, "+inf")}
    return {
        c: (str(o) if o is not None and str(o) in alive else None)
        for c, o in zip(camera_ids, owners, strict=True)
    }


class CameraWatch:
    """Turns a camera's loss of its live worker into one incident."""

    def __init__(self, site: Site, client: redis.Redis, redis_url: str, data_dir: Path) -> None:
        self.site = site
        self.redis = client
        self.redis_url = redis_url
        self.outbox = data_dir / "camera-watch-outbox.sqlite"
        self.seen_online: set[str] = set()
        self._publisher: AlertPublisher | None = None

    def check(self) -> list[Alert]:
        """One round: the alerts raised for cameras that went offline since the last."""
        cams = [c for c in self.site.cameras if c.enabled]
        try:
            holders = online_cameras(self.redis, [c.id for c in cams])
        except (redis.RedisError, OSError) as exc:
            log.warning("camera watch: Redis unavailable (%s)", exc)
            return []
        raised = []
        for cam in cams:
            if holders.get(cam.id):
                self.seen_online.add(cam.id)
                continue
            if cam.id not in self.seen_online:
                continue
            self.seen_online.discard(cam.id)
            if not self.redis.set(keys.camera_offline(cam.id), "1", nx=True, ex=OFFLINE_TTL_S):
                continue  # another service raised it
            loc = Locator(cam, self.site.compound(cam.compound)).fallback(
                0.0, 0.0, f"camera {cam.id!r} went offline: no worker holds its stream"
            )
            alert = Alert.new(
                type="camera.tamper",
                camera=cam.id,
                compound=cam.compound,
                subject=SceneSubject(rule="offline"),
                location=loc,
                captured=time.time(),
                severity="high",
            )
            self.publisher().publish(alert)
            log.warning("camera %s went offline; incident %s raised", cam.id, alert.id)
            raised.append(alert)
        return raised

    def publisher(self) -> AlertPublisher:
        if self._publisher is None:
            self._publisher = AlertPublisher(self.redis_url, outbox_path=self.outbox)
        return self._publisher

    def close(self) -> None:
        """Close the publisher (its outbox keeps what Redis did not take)."""
        if self._publisher is not None:
            self._publisher.close()
