"""The worker: one process, many cameras, one batched detector.

Each camera's source decodes in its own thread and keeps only its newest frame. The
scheduler here wakes every few milliseconds, takes the newest frame of every camera
that is due (by its target analysis fps), and sends up to ``max_batch`` of them to the
detector in one call, waiting at most ``max_wait_ms`` for a batch to fill. Then, per
camera: tracking, the recognition and anomaly stages, and the sink that turns
findings into alerts.

A frame older than ``stale_after_s`` when its turn comes is dropped and counted: an
alert about the past is worth less than one about now. A camera that stalls, dies or
throws never holds up the others: sources are read without blocking, and every
camera's stages run inside their own error boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from detectors.detections import Detections
from pipeline.detector import Detector
from pipeline.events import Finding
from pipeline.metrics import WorkerMetrics
from streams.frame import Frame

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """A camera: the newest decoded frame, without blocking when ``timeout`` is 0."""

    @property
    def camera_id(self) -> str: ...

    def read(self, timeout: float) -> Frame | None: ...


class FrameTracker(Protocol):
    """Gives detections stable ``tracker_id`` values across one camera's frames."""

    def update(
        self, dets: Detections, timestamp: float, image: NDArray[np.uint8] | None = None
    ) -> Detections: ...


class CameraStage(Protocol):
    """A per-camera analysis stage after tracking (plates, faces, anomaly rules)."""

    name: str

    def update(self, frame: Frame, dets: Detections) -> list[Finding]: ...


Sink = Callable[[Frame, Detections, list[Finding]], None]


class WorkerConfig(BaseModel):
    """How the scheduler batches frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch: int = Field(default=8, ge=1, le=64, description="frames per detector call")
    max_wait_ms: float = Field(
        default=15.0, ge=0, le=1000, description="longest wait for a batch to fill"
    )
    stale_after_s: float = Field(
        default=2.0, gt=0, le=60, description="drop frames older than this when picked"
    )
    poll_ms: float = Field(default=2.0, gt=0, le=100, description="scheduler tick when idle")


@dataclass
class CameraState:
    """What the worker keeps per camera between batches."""

    camera_id: str
    fps: float
    tracker: FrameTracker
    stages: list[CameraStage]
    last_seq: int = -1
    next_due: float = 0.0
    read_error: str = ""
    size: tuple[int, int] | None = None
    processed: int = 0
    dropped_stale: int = 0
    faults: int = 0
    last_fault: str = ""
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2048))
    alerts: int = 0
    done_at: deque[float] = field(default_factory=lambda: deque(maxlen=32))

    def rate(self, now: float) -> float:
        """Frames processed per second over the last few seconds."""
        recent = [t for t in self.done_at if now - t <= 5.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """A snapshot for health displays and benchmarks."""

    frames: int
    batches: int
    dropped_stale: int
    faults: int
    mean_batch: float
    per_camera: dict[str, dict[str, Any]]


class Worker:
    """Batches the newest frames across cameras through detection, tracking and stages.

    Example:
        >>> worker = Worker(sources, detector, trackers, stages, sink)  # doctest: +SKIP
        >>> stop = threading.Event()
        >>> worker.run(stop)  # until stop.set()  # doctest: +SKIP
    """

    def __init__(
        self,
        sources: Mapping[str, FrameSource],
        detector: Detector,
        make_tracker: Callable[[str], FrameTracker],
        make_stages: Callable[[str], list[CameraStage]],
        sink: Sink,
        *,
        fps: Mapping[str, float] | None = None,
        config: WorkerConfig | None = None,
        clock: Callable[[], float] = time.time,
        active: Iterable[str] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self.detector = detector
        self.sink = sink
        self._sources = dict(sources)
        self._make_tracker = make_tracker
        self._make_stages = make_stages
        self._fps = dict(fps or {})
        self._clock = clock
        self._cams: dict[str, CameraState] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._wanted: frozenset[str] | None = None
        self._rr = 0
        self.frames = 0
        self.batches = 0
        self.metrics = WorkerMetrics.for_registry(registry)
        self.set_active(self._sources if active is None else active)
        self._apply_active()

    # -- which cameras this worker serves ---------------------------------------------

    def set_active(self, camera_ids: Iterable[str]) -> None:
        """Serve exactly these cameras from the next batch on (thread-safe).

        Scale-out calls this when leases change: a camera gained gets a fresh tracker
        and stages, a camera lost is dropped with its state. Ids without a source are
        ignored (another worker's site may list cameras this one cannot open).
        """
        wanted = frozenset(c for c in camera_ids if c in self._sources)
        with self._lock:
            self._wanted = wanted

    def active(self) -> frozenset[str]:
        """The cameras served now."""
        return frozenset(self._order)

    def _apply_active(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is None:
            return
        for cid in [c for c in self._order if c not in wanted]:
            del self._cams[cid]
            log.info("camera %s: no longer served by this worker", cid)
        for cid in sorted(wanted - set(self._cams)):
            try:
                tracker, stages = self._make_tracker(cid), self._make_stages(cid)
            except Exception:  # one camera's bad config must not stop the others
                log.exception("camera %s: cannot build its tracker and stages; not served", cid)
                continue
            self._cams[cid] = CameraState(
                camera_id=cid, fps=self._fps.get(cid, 5.0), tracker=tracker, stages=stages
            )
        self._order = [c for c in self._sources if c in self._cams]

    # -- scheduling -----------------------------------------------------------------

    def _take(self, cam: CameraState, now: float) -> Frame | None:
        if now < cam.next_due:
            return None
        try:
            frame = self._sources[cam.camera_id].read(0.0)
        except Exception as exc:  # a broken source must not stop the others
            # One fault per distinct error, then look again in a second (not every tick).
            message = f"read failed: {exc}"
            if message != cam.read_error:
                cam.read_error = message
                self._fault(cam, message)
            cam.next_due = now + 1.0
            return None
        cam.read_error = ""
        if frame is None or frame.seq <= cam.last_seq:
            return None
        cam.last_seq = frame.seq
        if now - frame.captured_at > self.config.stale_after_s:
            cam.dropped_stale += 1
            self.metrics.stale.labels(cam.camera_id).inc()
            return None
        # Keep the cadence when a little late; after a stall restart it from now (at
        # least half a period away), never bursting to catch up.
        cam.next_due = max(cam.next_due + 1.0 / cam.fps, now + 0.5 / cam.fps)
        return frame

    def collect(self) -> list[Frame]:
        """Gather up to ``max_batch`` due frames, waiting at most ``max_wait_ms``."""
        self._apply_active()
        cfg = self.config
        # Waiting is measured on the monotonic clock; frame ages on ``clock`` (wall time,
        # the same clock as ``Frame.captured_at``).
        deadline = time.monotonic() + cfg.max_wait_ms / 1000
        batch: list[Frame] = []
        taken: set[str] = set()
        while True:
            now = self._clock()
            n = len(self._order)
            for i in range(n):
                cid = self._order[(self._rr + i) % n]
                if cid in taken:
                    continue
                frame = self._take(self._cams[cid], now)
                if frame is not None:
                    batch.append(frame)
                    taken.add(cid)
                    if len(batch) >= cfg.max_batch:
                        break
            if not n or len(batch) >= cfg.max_batch or len(taken) == n:
                break
            if time.monotonic() >= deadline and batch:
                break
            if time.monotonic() >= deadline + cfg.poll_ms / 1000 * 5 and not batch:
                break
            time.sleep(cfg.poll_ms / 1000)
        self._rr = (self._rr + 1) % max(1, len(self._order))
        return batch

    # -- one batch ------------------------------------------------------------------

    def process(self, batch: Sequence[Frame]) -> list[tuple[Frame, Detections, list[Finding]]]:
        """Detect on the batch in one call, then track and run stages per camera."""
        if not batch:
            return []
        results = self.detector.detect([f.image for f in batch])
        inferred = self._clock()
        out: list[tuple[Frame, Detections, list[Finding]]] = []
        for frame, dets in zip(batch, results, strict=True):
            frame.stamps["inferred"] = inferred
            cam = self._cams.get(frame.camera_id)
            if cam is None:  # dropped by set_active while this batch was collected
                continue
            try:
                if cam.size is not None and cam.size != frame.size:
                    self._fault(
                        cam,
                        f"resolution changed {cam.size[0]}x{cam.size[1]} → "
                        f"{frame.size[0]}x{frame.size[1]}; tracks reset",
                    )
                    # Pixel state (tracks, zones' rule timers, votes) is void at a new size.
                    cam.tracker = self._make_tracker(cam.camera_id)
                    cam.stages = self._make_stages(cam.camera_id)
                cam.size = frame.size
                tracked = cam.tracker.update(dets, frame.captured_at, frame.image)
                frame.stamps["tracked"] = self._clock()
                findings: list[Finding] = []
                for stage in cam.stages:
                    try:
                        findings.extend(stage.update(frame, tracked))
                    except Exception as exc:
                        self._fault(cam, f"stage {stage.name} failed: {exc}")
                    frame.stamps[stage.name] = self._clock()
                self.sink(frame, tracked, findings)
                cam.alerts += len(findings)
                frame.stamps["alerted"] = self._clock()
                cam.latencies_ms.append((frame.stamps["alerted"] - frame.captured_at) * 1000)
                cam.processed += 1
                cam.done_at.append(frame.stamps["alerted"])
                m = self.metrics
                m.processed.labels(cam.camera_id).inc()
                m.findings.labels(cam.camera_id).inc(len(findings))
                m.latency.labels(cam.camera_id).observe(frame.stamps["alerted"] - frame.captured_at)
                out.append((frame, tracked, findings))
            except Exception as exc:
                self._fault(cam, f"processing failed: {exc}")
        self.frames += len(batch)
        self.batches += 1
        self.metrics.batch.observe(len(batch))
        return out

    def step(self) -> int:
        """Collect one batch and process it; returns how many frames were processed."""
        return len(self.process(self.collect()))

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set."""
        while not stop.is_set():
            if not self._order and self._wanted is None:
                stop.wait(0.05)  # no camera to serve (yet): leases may give some
            self.step()

    # -- faults and stats -----------------------------------------------------------

    def _fault(self, cam: CameraState, message: str) -> None:
        cam.faults += 1
        cam.last_fault = message
        self.metrics.faults.labels(cam.camera_id).inc()
        log.warning("camera %s: %s", cam.camera_id, message)

    def stats(self) -> WorkerStats:
        """Counters and latency percentiles per camera."""
        per: dict[str, dict[str, Any]] = {}
        now = self._clock()
        for cid, cam in list(self._cams.items()):
            lat = np.asarray(cam.latencies_ms, dtype=np.float64)
            per[cid] = {
                "processed": cam.processed,
                "fps": cam.rate(now),
                "findings": cam.alerts,
                "dropped_stale": cam.dropped_stale,
                "faults": cam.faults,
                "last_fault": cam.last_fault,
                "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
                "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
            }
        return WorkerStats(
            frames=self.frames,
            batches=self.batches,
            dropped_stale=sum(c["dropped_stale"] for c in per.values()),
            faults=sum(c["faults"] for c in per.values()),
            mean_batch=self.frames / self.batches if self.batches else 0.0,
            per_camera=per,
        )
