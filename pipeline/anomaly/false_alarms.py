"""False alarms per camera-hour: every configured rule over footage with no incident in it.

A security centre judges an analytic by how often it cries wolf. :func:`run_footage`
plays a video file as one camera of a site file — detector, tracker, the camera's rule
engine, the scene score and the tamper check, exactly as the worker chains them — and
counts the events of each rule. Run on footage where nothing happens that a guard should
see, every event is a false alarm, so ``events / camera-hours`` is the false-alarm rate.

Frames are analysed at the camera's configured ``fps`` (every n-th frame of the file),
with timestamps from a fixed local start time (noon by default) so schedules decide the
same way on every run.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections
from pipeline.anomaly.det_cache import load_detections, save_detections
from pipeline.anomaly.engine import RuleEngine
from pipeline.anomaly.events import AnomalyError, AnomalyEvent
from pipeline.anomaly.scene import SceneConfig, SceneScorer
from pipeline.anomaly.tamper import TamperDetector
from shouwang.config import Site

Detect = Callable[[NDArray[np.uint8]], Detections]


def run_footage(
    site: Site,
    camera_id: str,
    video: Path,
    detect: Detect,
    *,
    start: time = time(12, 0),
    scene: SceneConfig | None = None,
    tamper: bool = True,
    max_seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Play ``video`` as camera ``camera_id`` of ``site`` and count every event.

    Args:
        site: the validated site file (zones, rules, calibration of the camera).
        camera_id: which camera of the site the footage stands for.
        video: a video file OpenCV can read.
        detect: frame → detections with COCO class ids (the project's object detector).
        start: local time of the first frame (schedules use it).
        scene: the scene score's settings, or None to leave it off.
        tamper: run the camera tamper check.
        max_seconds: stop after this much footage (None: the whole file).
        progress: called with (frames done, frames in the file).

    Raises:
        AnomalyError: unknown camera or unreadable video.
    """
    from pipeline.tracking import Tracker, TrackerConfig

    cam = next((c for c in site.cameras if c.id == camera_id), None)
    if cam is None:
        known = ", ".join(c.id for c in site.cameras)
        raise AnomalyError(f"no camera {camera_id!r} in the site file (cameras: {known})")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise AnomalyError(f"cannot open video {video}")
    src_fps = float(cap.get(cv2.CAP_PROP_FPS)) or cam.fps
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    stride = max(1, round(src_fps / cam.fps))
    tz = ZoneInfo(site.timezone)
    t0 = datetime.combine(datetime(2026, 6, 1).date(), start, tz).timestamp()
    engine = RuleEngine(cam, timezone=site.timezone)
    tracker = Tracker(TrackerConfig(frame_rate=src_fps / stride))
    scorer = SceneScorer(scene, camera=cam.id, ground=engine.ground) if scene else None
    tamperer = TamperDetector(camera=cam.id) if tamper else None
    events: list[tuple[AnomalyEvent, float]] = []
    scores: list[float] = []
    k = analysed = 0
    started = _time.perf_counter()
    try:
        while True:
            ok, raw = cap.read()
            if not ok or (max_seconds is not None and k >= max_seconds * src_fps):
                break
            k += 1
            if (k - 1) % stride:
                continue
            analysed += 1
            rel = (k - 1) / src_fps
            t = t0 + rel
            image: NDArray[np.uint8] = np.asarray(raw, dtype=np.uint8)
            tracked = tracker.update(detect(image), t, None)
            found = engine.update(tracked, t, image)
            if scorer is not None:
                result = scorer.update(image, t, tracked)
                scores.append(result.score)
                found += result.events
            if tamperer is not None:
                found += tamperer.update(image, t)
            events += [(e, rel) for e in found]
            if progress is not None:
                progress(k, total)
    finally:
        cap.release()
    if not analysed:
        raise AnomalyError(f"{video}: no frame could be decoded")
    seconds = k / src_fps
    hours = seconds / 3600
    counts = Counter(e.rule for e, _ in events)
    rules = [
        {
            "rule": r.id,
            "type": r.type,
            "zone": r.zone,
            "events": counts.get(r.id, 0),
            "per_camera_hour": round(counts.get(r.id, 0) / hours, 1),
        }
        for r in cam.rules
    ]
    extra = sorted({e.rule for e, _ in events} - {r.id for r in cam.rules})
    rules += [
        {
            "rule": name,
            "type": name.split("-")[0] if name.startswith("scene") else "tamper",
            "zone": None,
            "events": counts[name],
            "per_camera_hour": round(counts[name] / hours, 1),
        }
        for name in extra
    ]
    return {
        "camera": cam.id,
        "video": str(video),
        "calibrated": cam.calibration is not None,
        "frames": k,
        "analysed_frames": analysed,
        "analysis_fps": round(src_fps / stride, 2),
        "seconds": round(seconds, 1),
        "camera_hours": round(hours, 5),
        "rules": rules,
        "scene": None
        if scorer is None
        else {
            "threshold": scorer.config.threshold,
            "max_score": round(max(scores, default=0.0), 3),
            "p99_score": round(float(np.percentile(scores, 99)), 3) if scores else None,
        },
        "tamper": tamperer is not None,
        "events": [_describe(e, rel) for e, rel in events],
        "ms_per_frame": round(1000 * (_time.perf_counter() - started) / analysed, 1),
    }


def _describe(e: AnomalyEvent, rel: float) -> dict[str, Any]:
    return {
        "t_s": round(rel, 2),
        "rule": e.rule,
        "kind": e.kind,
        "zone": e.zone,
        "track_ids": list(e.track_ids),
        "value": round(e.value, 3),
        "unit": e.unit,
        "detail": {k: v for k, v in e.detail.items() if isinstance(v, int | float | str)},
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events and events per camera-hour per rule type, over every camera run."""
    hours = sum(r["camera_hours"] for r in runs)
    by_type: Counter[str] = Counter()
    for r in runs:
        for row in r["rules"]:
            by_type[row["type"]] += row["events"]
    types = sorted({row["type"] for r in runs for row in r["rules"]})
    return [
        {
            "type": t,
            "events": by_type[t],
            "camera_hours": round(hours, 5),
            "per_camera_hour": round(by_type[t] / hours, 1) if hours else None,
        }
        for t in types
    ]


class CachedDetector:
    """The object detector on a video's frames, its outputs kept in one ``.npz`` file.

    Call it frame by frame in order; a second run over the same footage reads the file
    instead of running the model (the trial of several rule settings costs no detector).
    """

    def __init__(self, detect: Detect | None, path: Path | None) -> None:
        self._detect = detect
        self.path = path
        self._k = 0
        self._stored: list[Detections] | None = None
        self._new: list[Detections] = []
        if path is not None and path.is_file():
            self._stored = load_detections(path)

    def __call__(self, image: NDArray[np.uint8]) -> Detections:
        k, self._k = self._k, self._k + 1
        if self._stored is not None and k < len(self._stored):
            return self._stored[k]
        if self._detect is None:
            raise AnomalyError(f"{self.path}: cached detections end at frame {k}")
        d = self._detect(image)
        self._new.append(d)
        return d

    def save(self) -> None:
        """Write the detections of this run (when it ran the model)."""
        if self.path is None or not self._new:
            return
        save_detections(self.path, self._new)
