"""The composition root: build a site's worker from every package and run it.

Nothing below ``shouwang`` imports ``alerts``; this module is where the layers meet:

* ``detectors``: the batched object detector (provider from ``SHOUWANG_PROVIDER``);
* ``pipeline``: the :class:`~pipeline.worker.Worker`, a tracker per camera (frame rate =
  the camera's analysis fps) and the stages the camera's site config asks for
  (``rules`` → anomaly, ``watchlists`` → faces, ``plate_lists`` → plates);
* ``alerts``: :class:`AlertingSink` turns findings into ``AlertSink.emit`` calls, and
  :class:`~alerts.leases.LeaseManager` shares the cameras among workers.

Reuse (benchmarks, tests)::

    rt = Runtime(site, site_dir, RuntimeConfig(redis_url=url, state_dir=tmp))
    worker = rt.build_worker(sources)          # a Worker over any FrameSource mapping
    worker.run(stop)                           # or worker.step() in a loop
    rt.close()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis
from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

from alerts.camera_health import HealthReporter
from alerts.connection import is_sentinel_url
from alerts.errors import EvidenceError
from alerts.keys import POLICE_FACE_LIST, POLICE_PLATE_LIST
from alerts.leases import LeaseManager
from alerts.live_tracks import TrackPublisher
from alerts.model import FaceSubject, PlateSubject, SceneSubject, TrackSubject
from alerts.plate_reads import PlateRead, publish_read
from alerts.publisher import DEFAULT_REDIS_URL, PublishResult, connect
from alerts.sink import AlertSink, SubjectT
from detectors.detections import Detections
from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from detectors.runtime import Provider
from pipeline.anomaly import RuleEngine
from pipeline.anomaly.scene import SceneScorer
from pipeline.anomaly.tamper import TamperDetector
from pipeline.events import Finding
from pipeline.stages import AnomalyStage, FaceStage, MainStream, PlateStage
from pipeline.stages.plates import PassRead
from pipeline.tracking import Tracker, TrackerConfig
from pipeline.worker import CameraStage, FrameSource, FrameTracker, Worker, WorkerConfig
from shouwang.config.loader import resolve_url
from shouwang.config.site import Camera, Site
from shouwang.ownership import Ownership
from streams import Source, SourceOptions, StreamError, open_source
from streams.frame import Frame

log = logging.getLogger(__name__)

SUBJECTS: dict[str, type[SubjectT]] = {
    "plate": PlateSubject,
    "face": FaceSubject,
    "track": TrackSubject,
    "scene": SceneSubject,
}


class RuntimeConfig(BaseModel):
    """How ``shouwang run`` builds and runs a worker (all from the environment by default)."""

    model_config = ConfigDict(extra="forbid")

    redis_url: str = Field(default=DEFAULT_REDIS_URL, description="REDIS_URL")
    state_dir: Path = Field(default=Path(".shouwang"), description="SHOUWANG_DATA_DIR")
    provider: Provider = Field(default="cpu", description="SHOUWANG_PROVIDER: cpu, cuda, tensorrt")
    worker_id: str = Field(default="", description="lease owner id; host-pid-random if empty")
    leases: bool = Field(default=True, description="share cameras with other workers")
    redis_wait_replicas: int = Field(
        default=0,
        ge=0,
        le=5,
        description="SHOUWANG_REDIS_WAIT_REPLICAS: replicas that confirm each alert (WAIT); "
        "1 by default with a redis+sentinel:// URL",
    )
    lease_ttl_ms: int = Field(
        default=10_000, ge=100, le=600_000, description="SHOUWANG_LEASE_TTL_MS: lease TTL"
    )
    cooldown_s: float = Field(
        default=60.0, ge=0, le=86_400, description="same incident within this is an update"
    )
    update_interval_s: float = Field(
        default=5.0, ge=0, le=3600, description="at most one published update this often"
    )
    faces: bool = Field(default=True, description="watchlist faces where cameras ask for it")
    plates: bool = Field(default=True, description="plate reading where cameras ask for it")
    tamper: bool = Field(default=True, description="camera tamper checks on every camera")
    scene: bool = Field(default=False, description="scene anomaly score on every camera")
    input_size: int | None = Field(default=None, description="detector input size")
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> RuntimeConfig:
        """``REDIS_URL``, ``SHOUWANG_DATA_DIR``, ``SHOUWANG_PROVIDER``, ``SHOUWANG_WORKER_ID``,
        ``SHOUWANG_LEASE_TTL_MS``, ``SHOUWANG_REDIS_WAIT_REPLICAS``."""
        e = os.environ if env is None else env
        values: dict[str, Any] = {
            "redis_url": e.get("REDIS_URL") or DEFAULT_REDIS_URL,
            "state_dir": Path(e.get("SHOUWANG_DATA_DIR") or ".shouwang"),
            "provider": e.get("SHOUWANG_PROVIDER") or "cpu",
            "worker_id": e.get("SHOUWANG_WORKER_ID") or "",
        }
        if e.get("SHOUWANG_REDIS_WAIT_REPLICAS"):
            values["redis_wait_replicas"] = int(e["SHOUWANG_REDIS_WAIT_REPLICAS"])
        elif is_sentinel_url(values["redis_url"]):
            values["redis_wait_replicas"] = 1
        if e.get("SHOUWANG_LEASE_TTL_MS"):
            values["lease_ttl_ms"] = int(e["SHOUWANG_LEASE_TTL_MS"])
        values.update(overrides)
        return cls(**values)


class AlertingSink:
    """The worker's sink: every finding becomes one ``AlertSink.emit`` call.

    Counts alerts per camera and the glass-to-alert latency of each published one
    (frame captured → alert handed to Redis or the outbox), for the live table.
    """

    def __init__(self, sink: AlertSink, tracks: TrackPublisher | None = None) -> None:
        self.sink = sink
        self.tracks = tracks  # the live view's overlay (alerts/live_tracks.py)
        self.alerts: dict[str, int] = defaultdict(int)
        self.by_type: dict[str, int] = defaultdict(int)
        self.latency_ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=1024))
        # The last publications (new alerts and updates), newest last; bounded.
        self.recent: deque[PublishResult] = deque(maxlen=4096)
        # With leases: whether this worker still owns a camera. A batch in flight when
        # its lease went elsewhere must not publish beside the new owner.
        self.serving: Callable[[str], bool] = lambda camera: True

    def __call__(self, frame: Frame, dets: Detections, findings: list[Finding]) -> None:
        if findings and not self.serving(frame.camera_id):
            log.info(
                "camera %s: %d finding(s) dropped: no longer ours", frame.camera_id, len(findings)
            )
            return
        if self.tracks is not None:
            self.tracks.publish(frame, dets)
        for f in findings:
            subject = SUBJECTS[str(f.subject["kind"])].model_validate(f.subject)
            label = f.kind
            res = self.sink.emit(
                frame,
                type=f.kind,  # type: ignore[arg-type]  # stages emit AlertType names
                subject=subject,
                box=f.box,
                severity=f.severity,
                dedup_key=f.key(),
                label=label,
            )
            if res.action == "suppressed":
                continue
            self.recent.append(res)
            self.alerts[frame.camera_id] += 1
            self.by_type[f.kind] += 1
            self.latency_ms[frame.camera_id].append((time.time() - frame.captured_at) * 1000)
            log.info(
                "alert %s %s on camera %s (%s)",
                res.action,
                f.kind,
                frame.camera_id,
                res.alert.id,
                extra={"camera": frame.camera_id, "alert_id": str(res.alert.id)},
            )

    def percentiles(self, camera: str) -> tuple[float | None, float | None]:
        """Glass-to-alert p50 and p95 (ms) of the camera's alerts."""
        lat = np.asarray(self.latency_ms.get(camera, ()), dtype=np.float64)
        if not lat.size:
            return None, None
        return float(np.percentile(lat, 50)), float(np.percentile(lat, 95))


def default_worker_id() -> str:
    """``host-pid-xxxx``: unique per process, readable in ``redis-cli``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


class Runtime:
    """Everything one worker process needs for a site: models, stages, sink, leases.

    Models are loaded in the constructor (so errors surface before cameras open);
    :meth:`run` is the ``worker(sources, stop)`` callable ``shouwang run`` drives.

    An unreachable Redis is no error here: alerts then wait in the outbox.

    Raises:
        ModelError: the object detector, a face or plate model, or a plate list cannot
            be loaded.
        AnomalyError: a camera's rules cannot run (unknown time zone or class).
    """

    def __init__(
        self,
        site: Site,
        site_dir: Path,
        config: RuntimeConfig | None = None,
        *,
        detector: ObjectDetector | None = None,
    ) -> None:
        self.site = site
        self.site_dir = site_dir
        self.config = config or RuntimeConfig.from_env()
        cfg = self.config
        self.cameras: dict[str, Camera] = {c.id: c for c in site.cameras if c.enabled}
        self.detector = detector or load_object_detector(
            ObjectDetectorConfig(provider=cfg.provider, input_size=cfg.input_size)
        )
        self.worker_id = cfg.worker_id or default_worker_id()
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.face_analyzer: Any = None
        self.watchlists: Any = None
        self._poi = {w.id for w in site.watchlists if w.kind == "persons_of_interest"}
        # Face cameras (any watchlist) also watch for the police's face orders.
        if cfg.faces and any(c.watchlists for c in self.cameras.values()):
            self._load_faces()
        self.plate_reader: Any = None
        self.plate_lists: Any = None
        self._voter: Callable[[], Any] | None = None
        if cfg.plates and any(c.plate_lists for c in self.cameras.values()):
            self._load_plates()
        for cam in self.cameras.values():  # rule problems surface now, not in the worker
            if cam.rules:
                RuleEngine(cam, timezone=site.timezone)
        self.alert_sink = AlertSink(
            site,
            state_dir=cfg.state_dir,
            redis_url=cfg.redis_url,
            cooldown_s=cfg.cooldown_s,
            update_interval_s=cfg.update_interval_s,
            wait_replicas=cfg.redis_wait_replicas,
        )
        names = getattr(self.detector, "names", {})
        tracks = TrackPublisher(self.alert_sink.publisher.redis, self.cameras, names)
        self.sink = AlertingSink(self.alert_sink, tracks)
        self.main_streams: dict[str, MainStream] = {}
        self._main_sources: dict[str, Source] = {}
        self.worker: Worker | None = None
        self.leases: LeaseManager | None = None
        self.ownership: Ownership | None = None
        self.health: HealthReporter | None = None

    # -- models --------------------------------------------------------------------------

    def _load_faces(self) -> None:
        from detectors.faces import FaceAnalyzer, WatchlistMatcher, WatchlistStore

        self.face_analyzer = FaceAnalyzer()
        store = WatchlistStore(self.config.state_dir)
        for ref in self.site.watchlists:
            store.ensure_list(ref)
        self.watchlists = WatchlistMatcher.from_store(store, self.face_analyzer.embedder.name)

    def _load_plates(self) -> None:
        from detectors.plates.lists import PlateLists
        from detectors.plates.reader import PlateReader
        from detectors.plates.voting import PlateVoter

        self.plate_lists = PlateLists.from_site(self.site, self.site_dir)
        self.plate_reader = PlateReader()
        self._voter = PlateVoter

    # -- per camera ----------------------------------------------------------------------

    def make_tracker(self, camera_id: str) -> FrameTracker:
        """A fresh tracker at the camera's analysis frame rate."""
        cam = self.cameras[camera_id]
        return Tracker(TrackerConfig(frame_rate=cam.fps))

    def make_stages(self, camera_id: str) -> list[CameraStage]:
        """The stages the camera's site config asks for, in the order they run."""
        cam = self.cameras[camera_id]
        main = self.main_streams.get(camera_id)
        stages: list[CameraStage] = []
        if self._voter is not None and cam.plate_lists:
            from alerts.police.watch import PolicePlateLists

            # The compound's live police watch orders (Redis) ride along the site's lists.
            police = PolicePlateLists(
                self.plate_lists, self.alert_sink.publisher.redis, cam.compound
            )
            stages.append(
                PlateStage(
                    self.plate_reader,
                    self._voter,
                    police,
                    [*cam.plate_lists, POLICE_PLATE_LIST],
                    gate=cam.placement.gate is not None,
                    main=main,
                    on_read=self.record_read,
                )
            )
        if self.watchlists is not None and cam.watchlists:
            from alerts.police.faces import PoliceFaceLists
            from detectors.faces import TrackFaceMatcher

            # The compound's live police face orders (Redis) ride along the site's lists.
            police_faces = PoliceFaceLists(
                self.watchlists,
                self.alert_sink.publisher.redis,
                cam.compound,
                model=self.face_analyzer.embedder.name,
            )
            poi = set(cam.watchlists) & self._poi
            stages.append(
                FaceStage(
                    self.face_analyzer,
                    TrackFaceMatcher(police_faces),
                    [*poi, POLICE_FACE_LIST],
                    main=main,
                    # A residents-only camera alerts on police orders only: idle without.
                    idle=None if poi else police_faces.idle,
                )
            )
        tamper = TamperDetector(camera=camera_id) if self.config.tamper else None
        scene = SceneScorer(camera=camera_id) if self.config.scene else None
        if cam.rules or tamper is not None or scene is not None:
            engine = RuleEngine(cam, timezone=self.site.timezone)
            stages.append(AnomalyStage(engine, self.detector.names, tamper=tamper, scene=scene))
        return stages

    def record_read(self, frame: Frame, read: PassRead) -> None:
        """A gate camera's plate read → its crop in the evidence store → ``PLATE_READS``."""
        cam = self.cameras[read.camera_id]
        crop_sha = None
        if read.box is not None:
            h, w = frame.image.shape[:2]
            x1, y1, x2, y2 = read.box
            mx, my = (x2 - x1) * 0.2, (y2 - y1) * 0.4
            cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
            cx2, cy2 = min(w, round(x2 + mx)), min(h, round(y2 + my))
            if cx2 > cx1 and cy2 > cy1:
                ev = self.alert_sink.evidence
                try:
                    crop = frame.image[cy1:cy2, cx1:cx2]
                    crop_sha = ev.put(
                        ev.encode(np.ascontiguousarray(crop)),
                        kind="crop",
                        width=cx2 - cx1,
                        height=cy2 - cy1,
                    ).sha256
                except EvidenceError as exc:
                    log.warning("camera %s: plate crop not stored: %s", cam.id, exc)
        publish_read(
            self.alert_sink.publisher.redis,
            PlateRead(
                id=str(ULID()),
                plate=read.text[:16],
                confidence=read.confidence,
                low_confidence=read.low_confidence,
                camera=cam.id,
                compound=cam.compound,
                gate=cam.placement.gate,
                read_at=datetime.fromtimestamp(read.captured_at, UTC),
                crop_sha256=crop_sha,
                list_id=read.list_id,
                list_kind=read.list_kind,
                track_id=read.track_id,
            ),
        )

    def open_main_stream(self, camera_id: str, env: Mapping[str, str] | None = None) -> None:
        """Open the camera's main stream if it detects on a sub-stream (else nothing)."""
        cam = self.cameras.get(camera_id)
        if cam is None or cam.detect_url is None or cam.detect_url == cam.url:
            return
        if camera_id in self._main_sources:
            return
        try:
            url = resolve_url(cam.url, env, base=self.site_dir)
            is_file = not url.lower().startswith(("rtsp://", "rtsps://"))
            opts = SourceOptions(realtime=True, loop=True) if is_file else None
            src = open_source(f"{cam.id}-main", url, opts)
            src.start()
        except (KeyError, StreamError) as exc:
            log.warning("camera %s: main stream not used: %s", cam.id, exc)
            return
        self._main_sources[camera_id] = src
        self.main_streams[camera_id] = MainStream(src)

    def close_main_stream(self, camera_id: str) -> None:
        """Stop the camera's main stream (its lease went elsewhere); returns at once."""
        self.main_streams.pop(camera_id, None)
        src = self._main_sources.pop(camera_id, None)
        if src is not None:
            src.stop(timeout=0)

    def open_main_streams(self, env: Mapping[str, str] | None = None) -> None:
        """Open the main stream of every camera that detects on a sub-stream."""
        for cam in self.cameras:
            self.open_main_stream(cam, env)

    # -- the worker ----------------------------------------------------------------------

    def build_worker(
        self, sources: Mapping[str, FrameSource], *, active: set[str] | None = None
    ) -> Worker:
        """A :class:`Worker` over ``sources`` with this site's trackers, stages and sink."""
        self.worker = Worker(
            sources,
            self.detector,
            self.make_tracker,
            self.make_stages,
            self.sink,
            fps={cid: self.cameras[cid].fps for cid in sources if cid in self.cameras},
            config=self.config.worker,
            active=active,
        )
        return self.worker

    def run(self, sources: Mapping[str, FrameSource], stop: threading.Event) -> None:
        """Serve the cameras this worker owns until ``stop``; then shut down gracefully.

        With leases, the worker starts with no camera and serves what its leases give
        it; cameras given as :class:`~shouwang.ownership.LeasedSource` (``shouwang run``)
        are connected and decoded only while owned, their main streams too. If Redis
        cannot be reached at start it serves every camera (watching beats exclusivity)
        and the lease thread trims that once Redis answers.
        """
        if not self.config.leases:  # stages are built at once: main streams first
            self.open_main_streams()
        worker = self.build_worker(sources, active=set() if self.config.leases else None)
        self.ownership = Ownership(
            sources, worker, open_extra=self.open_main_stream, close_extra=self.close_main_stream
        )
        if self.config.leases:
            ownership = self.ownership
            self.sink.serving = lambda camera: camera in ownership.served
            self._start_leases(self.ownership, list(sources))
        else:
            self.ownership.serve(sources)
        self._start_health(sources, worker)
        try:
            worker.run(stop)
        finally:
            self.close()

    def _start_leases(self, ownership: Ownership, cameras: list[str]) -> None:
        client = connect(self.config.redis_url, timeout_s=1.0)
        self.leases = LeaseManager(client, self.worker_id, cameras, self.config.lease_ttl_ms)
        try:
            self.leases.clear_drain()
            ownership.apply(self.leases.tick())
        except (redis.RedisError, OSError) as exc:
            log.warning("Redis unreachable at start (%s): serving every camera", exc)
            ownership.serve(cameras)
        self.leases.start(ownership.apply)

    def _start_health(self, sources: Mapping[str, FrameSource], worker: Worker) -> None:
        """Report the served cameras' stream health to Redis about once a second."""
        probes: dict[str, Callable[[], Any]] = {}
        for cid, src in sources.items():
            probe = getattr(src, "health", None)
            if callable(probe):
                probes[cid] = probe

        def analysed() -> dict[str, float]:
            return {c: float(r["fps"]) for c, r in worker.stats().per_camera.items()}

        self.health = HealthReporter(
            connect(self.config.redis_url, timeout_s=1.0),
            self.worker_id,
            lambda: {cid: probe() for cid, probe in probes.items()},
            analysed,
            worker.active,
        )
        self.health.start()

    def close(self) -> int:
        """Give leases back, stop main streams, publish or keep what is in flight.

        Returns how many alerts stayed in the outbox (published on the next start).
        """
        if self.health is not None:
            self.health.stop()
            self.health = None
        if self.leases is not None:
            try:
                self.leases.stop(release=True)
            except (redis.RedisError, OSError) as exc:
                log.warning("could not release leases (%s); they expire by themselves", exc)
            self.leases = None
        if self.ownership is not None:
            self.ownership.close_all()
        for src in self._main_sources.values():
            src.stop(timeout=2.0)
        self._main_sources.clear()
        self.main_streams.clear()
        left = self.alert_sink.close()
        if left:
            log.warning("%d alert(s) kept in the outbox; published on the next start", left)
        return left

    # -- display -------------------------------------------------------------------------

    def rows(self) -> dict[str, dict[str, Any]]:
        """Per camera: processed, fps, drops, faults, alerts, glass-to-alert p50/p95."""
        if self.worker is None:
            return {}
        per = self.worker.stats().per_camera
        out: dict[str, dict[str, Any]] = {}
        for cid, s in per.items():
            p50, p95 = self.sink.percentiles(cid)
            out[cid] = {
                **s,
                "alerts": self.sink.alerts.get(cid, 0),
                "alert_ms_p50": p50,
                "alert_ms_p95": p95,
            }
        return out
