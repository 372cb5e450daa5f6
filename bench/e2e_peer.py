"""The peer: the pipeline a user would write without Shouwang, against the same cameras.

One thread per camera, each with OpenCV's ``VideoCapture`` (FFmpeg backend, RTSP over
TCP like ours), its own ONNX Runtime session of the same model (the same
``ObjectDetector``: letterbox + yolov4-tiny + NMS), Roboflow's ``trackers`` ByteTrack
(the ByteTrack that left supervision) and supervision ``PolygonZone`` over the same
2x4 grid of intrusion zones, people only: a track id newly inside a zone is an alert,
as in :class:`pipeline.anomaly.RuleEngine`. The loop analyses every frame in order, as
such loops do; when it cannot keep up, frames wait in the socket and the decoder.

The peer's alert is the moment its zone check returns (it publishes nowhere, which
favours it by the ~1 ms Shouwang spends on XADD); glass-to-alert and per-frame
glass-to-done come from the same burned-in send time.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

import cv2
import numpy as np
import supervision as sv
from numpy.typing import NDArray
from trackers import ByteTrackTracker

from bench.clock import read_time
from bench.e2e_media import ClockServer
from bench.e2e_parts import percentiles
from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from shouwang.config.site import Site

PERSON = 0


@dataclass
class PeerResult:
    """Frames the peer processed inside the window, with their glass and done times."""

    streams: int
    seconds: float
    glass_to_done_ms: list[float]
    glass_to_alert_ms: list[float]
    cpu_ms_per_frame: float
    server_cpu_cores: float
    failed: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames processed per second, all cameras."""
        return len(self.glass_to_done_ms) / self.seconds

    def fresh_fps(self, goal_ms: float) -> float:
        """Frames per second whose glass-to-done stayed within ``goal_ms``."""
        return sum(1 for v in self.glass_to_done_ms if v <= goal_ms) / self.seconds

    def summary(self, goal_ms: float) -> dict[str, Any]:
        """Flat figures, prefixed ``peer_`` for the shouwang row's ``extra_info``."""
        a, d = percentiles(self.glass_to_alert_ms), percentiles(self.glass_to_done_ms)
        return {
            "peer_fps": round(self.fps, 2),
            "peer_fresh_fps": round(self.fresh_fps(goal_ms), 2),
            "peer_p50_ms": a["p50"],
            "peer_p95_ms": a["p95"],
            "peer_p99_ms": a["p99"],
            "peer_alerts": len(self.glass_to_alert_ms),
            "peer_frame_p50_ms": d["p50"],
            "peer_frame_p95_ms": d["p95"],
            "peer_cpu_ms_per_frame": round(self.cpu_ms_per_frame, 2),
            "peer_server_cpu_cores": round(self.server_cpu_cores, 2),
            "peer_failed_cameras": len(self.failed),
        }


def _camera_loop(
    url: str,
    zones: list[sv.PolygonZone],
    detector: ObjectDetector,
    fps: float,
    stop: threading.Event,
    rows: list[tuple[float, float, int]],
    failed: list[str],
) -> None:
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        failed.append(url)
        return
    tracker = ByteTrackTracker(frame_rate=fps)
    inside: list[set[int]] = [set() for _ in zones]
    try:
        while not stop.is_set():
            ok, raw = cap.read()
            if not ok:
                failed.append(url)
                return
            image = cast("NDArray[np.uint8]", raw)
            glass = read_time(image)
            dets = detector.detect([image])[0]
            svd = sv.Detections(xyxy=dets.xyxy, confidence=dets.confidence, class_id=dets.class_id)
            tracked = tracker.update(cast(sv.Detections, svd[svd.class_id == PERSON]))
            tids = tracked.tracker_id if tracked.tracker_id is not None else np.empty(0, int)
            fired = 0
            for z, zone in enumerate(zones):
                ids = {int(t) for t in tids[zone.trigger(tracked)] if t >= 0}
                fired += len(ids - inside[z])
                inside[z] = ids
            if glass is not None:
                rows.append((glass, time.time(), fired))
    finally:
        cap.release()


def run_peer(server: ClockServer, site: Site, *, seconds: float, warmup_s: float) -> PeerResult:
    """Run the peer on every camera of ``server``; frames *done* inside the window count.

    The peer lags its cameras by seconds, so a frame counts when it is processed in the
    window (whatever its send time), which is what its throughput means.
    """
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    n = server.cameras
    stop = threading.Event()
    rows: list[tuple[float, float, int]] = []
    failed: list[str] = []
    threads = []
    for i, cam in enumerate(site.cameras[:n]):
        zones = [
            sv.PolygonZone(np.asarray(z.polygon, np.int64), (sv.Position.BOTTOM_CENTER,))
            for z in cam.zones
            if z.polygon is not None
        ]
        det = load_object_detector(ObjectDetectorConfig())  # one session per camera
        t = threading.Thread(
            target=_camera_loop,
            args=(server.url(i), zones, det, server.clip.fps, stop, rows, failed),
            daemon=True,
            name=f"peer{i}",
        )
        threads.append(t)
        t.start()
    time.sleep(warmup_s)
    t0, cpu0, own0 = time.time(), server.cpu_seconds(), time.process_time()
    time.sleep(seconds)
    t1, cpu1, own1 = time.time(), server.cpu_seconds(), time.process_time()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    done = [(g, d, f) for g, d, f in list(rows) if t0 <= d < t1]
    return PeerResult(
        streams=n,
        seconds=t1 - t0,
        glass_to_done_ms=[1000 * (d - g) for g, d, _ in done],
        glass_to_alert_ms=[1000 * (d - g) for g, d, f in done for _ in range(f)],
        cpu_ms_per_frame=1000 * (own1 - own0) / max(1, len(done)),
        server_cpu_cores=(cpu1 - cpu0) / (t1 - t0),
        failed=failed,
    )
