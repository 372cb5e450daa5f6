"""A camera that goes offline raises an incident.

The worker serving a camera reports its stream health about once a second
(``alerts.camera_health``, a hash ``keys.camera_health`` that expires after a few
seconds). A camera is *online* while its report says ``streaming``; it is *down* when no
worker reports on it (the worker died, or gave the camera up), when its stream failed for
good, or when it has been reconnecting without a frame for ``RECONNECT_GRACE_S``. When a
camera this process saw online goes down, :meth:`CameraWatch.check` publishes a
``camera.tamper`` alert with the scene rule ``offline`` at the camera's own position,
through the normal publisher (dedup, outbox), so it reaches the store, the desk and the
police feed like any alert.

Several web services may watch the same site: ``keys.camera_offline`` (SET NX) lets only
the first one raise the incident for an outage.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import redis

from alerts import keys
from alerts.camera_health import CameraHealth, read_health
from alerts.location import Locator
from alerts.model import Alert, SceneSubject
from alerts.publisher import AlertPublisher
from shouwang.config.site import Site

log = logging.getLogger(__name__)

#: Seconds one outage's marker lives: a camera flapping within it raises one incident.
OFFLINE_TTL_S = 600
#: Seconds a stream may reconnect without a frame before its camera counts as down.
RECONNECT_GRACE_S = 30.0


def is_down(report: CameraHealth | None, now: float) -> bool:
    """No report, a failed or ended stream, or reconnecting past the grace period."""
    if report is None or report.state in ("failed", "stopped"):
        return True
    if report.state == "reconnecting":
        since = report.last_frame_at
        return since is None or now - since > RECONNECT_GRACE_S
    return False


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
            reports = read_health(self.redis, [c.id for c in cams])
        except (redis.RedisError, OSError) as exc:
            log.warning("camera watch: Redis unavailable (%s)", exc)
            return []
        now = time.time()
        raised = []
        for cam in cams:
            report = reports.get(cam.id)
            if report is not None and report.state == "streaming":
                self.seen_online.add(cam.id)
                continue
            if cam.id not in self.seen_online or not is_down(report, now):
                continue
            why = "no worker reports on its stream" if report is None else f"stream {report.state}"
            self.seen_online.discard(cam.id)
            if not self.redis.set(keys.camera_offline(cam.id), "1", nx=True, ex=OFFLINE_TTL_S):
                continue  # another service raised it
            loc = Locator(cam, self.site.compound(cam.compound)).fallback(
                0.0, 0.0, f"camera {cam.id!r} went offline: {why}"
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
