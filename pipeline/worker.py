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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from detectors.detections import Detections
from pipeline.events import Finding
from streams.frame import Frame

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """A camera: the newest decoded frame, without blocking when ``timeout`` is 0."""

    camera_id: str

    def read(self, timeout: float) -> Frame | None: ...


class BatchDetector(Protocol):
    """Turns several images into one ``Detections`` each, in one model call."""

    @property
    def names(self) -> Mapping[int, str]:
        """Class id → name of the classes it reports."""
        ...

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]: ...


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
    size: tuple[int, int] | None = None
    processed: int = 0
    dropped_stale: int = 0
    faults: int = 0
    last_fault: str = ""
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2048))


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
        detector: BatchDetector,
        make_tracker: Callable[[str], FrameTracker],
        make_stages: Callable[[str], list[CameraStage]],
        sink: Sink,
        *,
        fps: Mapping[str, float] | None = None,
        config: WorkerConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or WorkerConfig()
        self.detector = detector
        self.sink = sink
        self._sources = dict(sources)
        self._make_tracker = make_tracker
        self._clock = clock
        self._cams = {
            cid: CameraState(
                camera_id=cid,
                fps=(fps or {}).get(cid, 5.0),
                tracker=make_tracker(cid),
                stages=make_stages(cid),
            )
            for cid in self._sources
        }
        self._order = list(self._sources)
        self._rr = 0
        self.frames = 0
        self.batches = 0

    # -- scheduling -----------------------------------------------------------------

    def _take(self, cam: CameraState, now: float) -> Frame | None:
        if now < cam.next_due:
            return None
        try:
            frame = self._sources[cam.camera_id].read(0.0)
        except Exception as exc:  # a broken source must not stop the others
            self._fault(cam, f"read failed: {exc}")
            return None
        if frame is None or frame.seq <= cam.last_seq:
            return None
        cam.last_seq = frame.seq
        if now - frame.captured_at > self.config.stale_after_s:
            cam.dropped_stale += 1
            return None
        cam.next_due = max(cam.next_due + 1.0 / cam.fps, now - 0.5 / cam.fps)
        return frame

    def collect(self) -> list[Frame]:
        """Gather up to ``max_batch`` due frames, waiting at most ``max_wait_ms``."""
        cfg = self.config
        deadline = self._clock() + cfg.max_wait_ms / 1000
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
            if len(batch) >= cfg.max_batch or len(taken) == n:
                break
            if self._clock() >= deadline and batch:
                break
            if self._clock() >= deadline + cfg.poll_ms / 1000 * 5 and not batch:
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
            cam = self._cams[frame.camera_id]
            try:
                if cam.size is not None and cam.size != frame.size:
                    self._fault(
                        cam,
                        f"resolution changed {cam.size[0]}x{cam.size[1]} → "
                        f"{frame.size[0]}x{frame.size[1]}; tracks reset",
                    )
                    cam.tracker = self._make_tracker(cam.camera_id)
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
                frame.stamps["alerted"] = self._clock()
                cam.latencies_ms.append((frame.stamps["alerted"] - frame.captured_at) * 1000)
                cam.processed += 1
                out.append((frame, tracked, findings))
            except Exception as exc:
                self._fault(cam, f"processing failed: {exc}")
        self.frames += len(batch)
        self.batches += 1
        return out

    def step(self) -> int:
        """Collect one batch and process it; returns how many frames were processed."""
        return len(self.process(self.collect()))

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set."""
        while not stop.is_set():
            self.step()

    # -- faults and stats -----------------------------------------------------------

    def _fault(self, cam: CameraState, message: str) -> None:
        cam.faults += 1
        cam.last_fault = message
        log.warning("camera %s: %s", cam.camera_id, message)

    def stats(self) -> WorkerStats:
        """Counters and latency percentiles per camera."""
        per: dict[str, dict[str, Any]] = {}
        for cid, cam in self._cams.items():
            lat = np.asarray(cam.latencies_ms, dtype=np.float64)
            per[cid] = {
                "processed": cam.processed,
                "dropped_stale": cam.dropped_stale,
                "faults": cam.faults,
                "last_fault": cam.last_fault,
                "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
                "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
            }
        return WorkerStats(
            frames=self.frames,
            batches=self.batches,
            dropped_stale=sum(c.dropped_stale for c in self._cams.values()),
            faults=sum(c.faults for c in self._cams.values()),
            mean_batch=self.frames / self.batches if self.batches else 0.0,
            per_camera=per,
        )
