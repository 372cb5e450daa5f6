"""Stream health of every camera, published by the worker that serves it, read by the web.

A worker writes one hash per camera it serves (``keys.camera_health``) about once a
second: the stream's state, decoded and analysed fps, drops, reconnects, decode errors
and the last error (the stream's own redacted text: URLs with credentials masked). The
hash expires a few seconds after the last write, so a camera no worker reports on is
*offline* by itself, whatever way its worker died.

Writer (in the worker; :class:`~shouwang.runtime.Runtime` starts it)::

    reporter = HealthReporter(client, "worker-a", streams_health, analysed, owned)
    reporter.start()            # a daemon thread, one report per interval_s
    reporter.stop()

Readers: :func:`read_health` (the Cameras page, the offline watch).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts import keys
from streams.health import Health
from streams.redact import redact_url

log = logging.getLogger(__name__)

#: Seconds a report lives after its last write: a few missed reports, then offline.
HEALTH_TTL_S = 5
#: Seconds between two reports of one worker.
REPORT_INTERVAL_S = 1.0


class CameraHealth(BaseModel):
    """One camera's stream health as its worker last reported it (no secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str = Field(min_length=1, description="the site's camera id")
    worker: str = Field(min_length=1, description="the worker serving the camera")
    state: str = Field(description="streams.health.State value: streaming, reconnecting, …")
    fps_decoded: float = Field(ge=0, description="frames per second out of the decoder")
    fps_analysed: float = Field(ge=0, description="frames per second the worker analysed")
    frames_dropped: int = Field(ge=0, description="decoded frames replaced before read")
    reconnects: int = Field(ge=0, description="times the stream was lost and reopened")
    decode_errors: int = Field(default=0, ge=0, description="damaged packets or frames")
    last_error: str | None = Field(default=None, description="latest error, redacted")
    last_frame_at: float | None = Field(default=None, description="epoch s of last frame")
    reported_at: float = Field(description="epoch seconds of this report")

    @classmethod
    def of(
        cls, health: Health, worker: str, analysed_fps: float = 0.0, now: float | None = None
    ) -> CameraHealth:
        """The report of one stream's health snapshot."""
        err = health.last_error
        return cls(
            camera=health.camera_id,
            worker=worker,
            state=health.state.value,
            fps_decoded=round(max(0.0, health.fps_decoded), 2),
            fps_analysed=round(max(0.0, analysed_fps), 2),
            frames_dropped=health.frames_dropped,
            reconnects=health.reconnects,
            decode_errors=health.decode_errors,
            # The stream redacts its own messages; masking again costs nothing.
            last_error=None if err is None else " ".join(redact_url(w) for w in err.split(" ")),
            last_frame_at=health.last_frame_at,
            reported_at=time.time() if now is None else now,
        )

    def fields(self) -> dict[str, str]:
        """The hash fields (strings; absent values as empty strings)."""
        return {k: "" if v is None else str(v) for k, v in self.model_dump().items()}

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> CameraHealth:
        """Parse a hash read back from Redis (bytes or str keys and values)."""
        text = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode() if isinstance(v, bytes) else str(v)
            )
            for k, v in raw.items()
        }
        return cls.model_validate({k: (v if v != "" else None) for k, v in text.items()})


def publish_health(
    client: redis.Redis, reports: Iterable[CameraHealth], ttl_s: int = HEALTH_TTL_S
) -> int:
    """Write each report as its camera's hash with a fresh TTL; returns how many."""
    pipe = client.pipeline(transaction=False)
    n = 0
    for rep in reports:
        key = keys.camera_health(rep.camera)
        pipe.delete(key)
        fields: Mapping[Any, Any] = rep.fields()
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl_s)
        n += 1
    if n:
        pipe.execute()
    return n


def read_health(client: redis.Redis, camera_ids: list[str]) -> dict[str, CameraHealth | None]:
    """camera id → its latest report, or None when no worker reports on it."""
    if not camera_ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for cid in camera_ids:
        pipe.hgetall(keys.camera_health(cid))
    out: dict[str, CameraHealth | None] = {}
    for cid, raw in zip(camera_ids, pipe.execute(), strict=True):
        try:
            out[cid] = CameraHealth.from_fields(raw) if raw else None
        except ValidationError as exc:
            log.warning("camera %s: unreadable health report (%s)", cid, exc.error_count())
            out[cid] = None
    return out


class HealthReporter:
    """Publishes the health of the cameras a worker serves, every ``interval_s``.

    ``streams`` gives each open stream's health snapshot, ``analysed`` the worker's
    analysed fps per camera, ``served`` the cameras this worker serves now (its leases);
    only those are reported, so two workers with the same streams open never both speak
    for one camera.
    """

    def __init__(
        self,
        client: redis.Redis,
        worker_id: str,
        streams: Callable[[], Mapping[str, Health]],
        analysed: Callable[[], Mapping[str, float]],
        served: Callable[[], Iterable[str]],
        interval_s: float = REPORT_INTERVAL_S,
    ) -> None:
        self.redis = client
        self.worker_id = worker_id
        self.streams = streams
        self.analysed = analysed
        self.served = served
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report_once(self) -> int:
        """One round: publish the served cameras' reports; returns how many."""
        served = set(self.served())
        fps = self.analysed()
        now = time.time()
        reports = [
            CameraHealth.of(h, self.worker_id, fps.get(cid, 0.0), now)
            for cid, h in self.streams().items()
            if cid in served
        ]
        return publish_health(self.redis, reports)

    def start(self) -> None:
        """Report in a daemon thread until :meth:`stop`; Redis faults are logged, not fatal."""
        if self._thread is not None:
            return

        def loop() -> None:
            failing = False  # log an outage once, and its end, not every second
            while not self._stop.is_set():
                try:
                    self.report_once()
                    if failing:
                        log.warning("health reports of %s resumed", self.worker_id)
                    failing = False
                except (redis.RedisError, OSError) as exc:
                    if not failing:
                        log.warning("health report of %s failed: %s", self.worker_id, exc)
                    failing = True
                except Exception:  # a report must never end the reporter
                    log.exception("health report of %s failed", self.worker_id)
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=loop, name=f"health-{self.worker_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting (the reports expire by themselves within ``HEALTH_TTL_S``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 1)
            self._thread = None
