"""Small parts of the e2e harness: the rule stage adapter, a stand-in tracker, percentiles.

The production adapters (``pipeline/stages.py``) are written on another branch; the
harness needs only the intrusion rule, so it adapts ``RuleEngine`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections, box_iou
from pipeline.anomaly import RuleEngine
from pipeline.events import Finding
from shouwang.config import COCO_CLASSES
from shouwang.config.site import Camera
from streams.frame import Frame


class IntrusionStage:
    """The camera's rules (``RuleEngine``) as a worker stage: events become findings."""

    name = "rules"

    def __init__(self, camera: Camera) -> None:
        self.engine = RuleEngine(camera)
        self.camera_id = camera.id

    def update(self, frame: Frame, dets: Detections) -> list[Finding]:
        """Run the rules on one frame's tracked detections."""
        out: list[Finding] = []
        for e in self.engine.update(dets, frame.captured_at, frame.image):
            box = tuple(float(v) for v in e.boxes[0]) if len(e.boxes) else None
            tid = e.track_ids[0] if e.track_ids else None
            cls = "person"
            if tid is not None and len(dets):
                rows = np.flatnonzero(dets.tracker_id == tid)
                if rows.size:
                    cls = COCO_CLASSES[int(dets.class_id[rows[0]])]
            out.append(
                Finding(
                    kind="zone.intrusion",
                    severity="high",
                    camera_id=self.camera_id,
                    track_id=tid,
                    box=box,  # type: ignore[arg-type]
                    zone=e.zone,
                    subject={"rule": e.rule, "class_name": cls},
                    measured={"seconds": float(e.value)} if e.unit == "seconds" else {},
                )
            )
        return out


class IouTracker:
    """Greedy IoU matching frame to frame: a stand-in until ``pipeline.tracking`` is merged.

    Costs about what the association step of ByteTrack costs (one IoU matrix per frame),
    without its Kalman filter; ids are not as stable, so a few more alerts fire.
    """

    def __init__(self, min_iou: float = 0.3, max_age: int = 10) -> None:
        self.min_iou = min_iou
        self.max_age = max_age
        self._boxes = np.empty((0, 4), np.float32)
        self._ids = np.empty(0, np.int64)
        self._age = np.empty(0, np.int64)
        self._next = 1

    def update(
        self, dets: Detections, timestamp: float, image: NDArray[np.uint8] | None = None
    ) -> Detections:
        """Give each box the id of the best-overlapping recent track, or a new one."""
        n = len(dets)
        ids = np.full(n, -1, np.int64)
        used: set[int] = set()
        if n and len(self._boxes):
            iou = box_iou(dets.xyxy, self._boxes)
            for flat in np.argsort(-iou, axis=None):
                i, j = divmod(int(flat), iou.shape[1])
                if iou[i, j] < self.min_iou:
                    break
                if ids[i] == -1 and j not in used:
                    ids[i] = self._ids[j]
                    used.add(j)
        for i in np.flatnonzero(ids == -1):
            ids[i] = self._next
            self._next += 1
        keep = [j for j in range(len(self._ids)) if j not in used and self._age[j] < self.max_age]
        self._boxes = np.concatenate([dets.xyxy, self._boxes[keep]]).astype(np.float32)
        self._ids = np.concatenate([ids, self._ids[keep]])
        self._age = np.concatenate([np.zeros(n, np.int64), self._age[keep] + 1])
        return Detections(dets.xyxy, dets.confidence, dets.class_id, ids, dict(dets.data))


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 (linear interpolation), None for an empty list."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    a = np.asarray(values, np.float64)
    return {f"p{q}": round(float(np.percentile(a, q)), 1) for q in (50, 95, 99)}
