"""Tracking accuracy on MOTChallenge-labelled video: CLEAR-MOT and IDF1.

The ground truth is a MOTChallenge 2D text file, one box per line:

- MOT15: ``frame,id,x,y,w,h,conf,wx,wy,wz``: rows with ``conf != 0`` are people to
  track; rows with ``conf == 0`` are marked "ignore";
- MOT16/17/20: ``frame,id,x,y,w,h,conf,class,visibility``: class 1 (pedestrian) rows with
  ``conf != 0`` are people to track; the distractor classes (2 person on vehicle,
  7 static person, 8 distractor, 12 reflection) are "ignore"; other classes are dropped.

"Ignore" boxes are don't-care, as in the MOTChallenge devkit's preprocessing (and
``motmetrics.preprocess``): a hypothesis that matches one (IoU >= 0.5, jointly with the
real ground truth) is removed before scoring, so it is neither a hit nor a false
positive. ``strict`` scoring skips that step and counts such hypotheses as false
positives (what TrackEval does for MOT15); the command reports both.

Frames are 1-based: ground-truth frame N is the video's N-th decoded frame. Scoring is
``motmetrics`` (the py-motmetrics implementation MOTChallenge's devkit was checked
against) with a detection matching a person when IoU >= 0.5. Its own
``distances.iou_matrix`` calls ``np.asfarray``, removed in NumPy 2, so the IoU distance
matrix is computed here and handed to its accumulator; everything else is motmetrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import motmetrics as mm
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from detectors.detections import Detections
from pipeline.detector import Detector
from pipeline.errors import PipelineError
from pipeline.motion import MotionConfig, MotionGate
from pipeline.tracking import Tracker, TrackerConfig

PERSON = 0  # COCO class id of a person
MOT_PEDESTRIAN = 1  # MOT16+ class id of a pedestrian
MOT_DISTRACTORS = frozenset({2, 7, 8, 12})  # person on vehicle, static person, ...
METRICS = [
    "mota",
    "motp",
    "idf1",
    "idp",
    "idr",
    "recall",
    "precision",
    "num_switches",
    "num_false_positives",
    "num_misses",
    "num_objects",
    "num_unique_objects",
    "mostly_tracked",
    "partially_tracked",
    "mostly_lost",
    "num_fragmentations",
]


@dataclass(frozen=True)
class GtFrame:
    """Ground truth of one frame: ids and xyxy boxes, and the don't-care boxes."""

    ids: NDArray[np.int64]
    xyxy: NDArray[np.float32]
    ignore: NDArray[np.float32]


def read_mot_gt(path: Path) -> dict[int, GtFrame]:
    """Read a MOTChallenge gt file into {1-based frame: boxes}.

    Raises:
        PipelineError: missing file or a malformed line (named with its number).
    """
    if not path.is_file():
        raise PipelineError(f"ground truth: no file at {path}")
    rows: dict[int, list[tuple[int, float, float, float, float]]] = {}
    ignored: dict[int, list[tuple[float, float, float, float]]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.replace(" ", "").split(",")
        try:
            frame, tid = int(float(cols[0])), int(float(cols[1]))
            x, y, w, h, conf = (float(c) for c in cols[2:7])
            mot16_class = int(float(cols[7])) if len(cols) == 9 else MOT_PEDESTRIAN
        except (ValueError, IndexError):
            raise PipelineError(
                f"{path}:{n}: expected frame,id,x,y,w,h,conf,... numbers, got {line!r}"
            ) from None
        if mot16_class == MOT_PEDESTRIAN and conf != 0:
            rows.setdefault(frame, []).append((tid, x, y, x + w, y + h))
        elif mot16_class == MOT_PEDESTRIAN or mot16_class in MOT_DISTRACTORS:
            ignored.setdefault(frame, []).append((x, y, x + w, y + h))
    out: dict[int, GtFrame] = {}
    for frame in sorted(set(rows) | set(ignored)):
        arr = np.asarray(rows.get(frame, []), dtype=np.float64).reshape(-1, 5)
        out[frame] = GtFrame(
            ids=arr[:, 0].astype(np.int64),
            xyxy=arr[:, 1:].astype(np.float32),
            ignore=np.asarray(ignored.get(frame, []), dtype=np.float32).reshape(-1, 4),
        )
    return out


def drop_ignored(
    gt_xyxy: NDArray[np.float32],
    ignore_xyxy: NDArray[np.float32],
    hyp_xyxy: NDArray[np.float32],
    min_iou: float = 0.5,
) -> NDArray[np.bool_]:
    """Mask of hypotheses to keep: False where one matches a don't-care box.

    Matching is one-to-one over the real and the don't-care boxes together (highest IoU
    first, Hungarian), so a hypothesis on a real person is never dropped for a
    don't-care box beside it.
    """
    keep = np.ones(len(hyp_xyxy), dtype=bool)
    if not len(ignore_xyxy) or not len(hyp_xyxy):
        return keep
    both = np.concatenate([gt_xyxy.reshape(-1, 4), ignore_xyxy]).astype(np.float32)
    dist = iou_distance(both, hyp_xyxy, min_iou)
    cost = np.where(np.isnan(dist), 1e6, dist)
    cost[len(gt_xyxy) :] += 1e-6  # on a tie the real person takes the hypothesis
    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols, strict=True):
        if r >= len(gt_xyxy) and not np.isnan(dist[r, c]):
            keep[c] = False
    return keep


def iou_distance(
    gt: NDArray[np.float32], hyp: NDArray[np.float32], min_iou: float = 0.5
) -> NDArray[np.float64]:
    """1 - IoU between every gt and hypothesis box; NaN (no match allowed) below ``min_iou``."""
    a = np.asarray(gt, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(hyp, dtype=np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    dist: NDArray[np.float64] = np.asarray(1.0 - iou, dtype=np.float64)
    dist[iou < min_iou] = np.nan
    return dist


class MotScorer:
    """Accumulates frames and computes CLEAR-MOT and IDF1 with motmetrics.

    Example:
        >>> s = MotScorer()
        >>> s.add(gt_ids, gt_xyxy, hyp_ids, hyp_xyxy)  # doctest: +SKIP
        >>> s.summary()["mota"]  # doctest: +SKIP
    """

    def __init__(self, min_iou: float = 0.5) -> None:
        self.min_iou = min_iou
        self._acc = mm.MOTAccumulator(auto_id=True)
        self.frames = 0

    def add(
        self,
        gt_ids: NDArray[np.int64],
        gt_xyxy: NDArray[np.float32],
        hyp_ids: NDArray[np.int64],
        hyp_xyxy: NDArray[np.float32],
    ) -> None:
        """Add one frame (call it for every frame, with or without boxes)."""
        dist = iou_distance(gt_xyxy, hyp_xyxy, self.min_iou)
        self._acc.update([int(i) for i in gt_ids], [int(i) for i in hyp_ids], dist)
        self.frames += 1

    def summary(self) -> dict[str, float]:
        """The metrics in :data:`METRICS`; counts as ints, rates as floats (NaN -> None)."""
        mh = mm.metrics.create()
        table = mh.compute(self._acc, metrics=METRICS, name="all")
        out: dict[str, Any] = {}
        for key in METRICS:
            v = float(table.loc["all", key])
            if key.startswith("num_") or key.endswith("tracked") or key == "mostly_lost":
                out[key] = int(v)
            else:
                out[key] = None if math.isnan(v) else v
        return out


def video_frames(path: Path, max_frames: int | None = None) -> Iterator[NDArray[np.uint8]]:
    """Decode BGR frames with OpenCV (its FFmpeg reads the XVID .avi PETS ships as).

    Raises:
        PipelineError: the file does not open.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise PipelineError(f"video: OpenCV could not open {path}")
    try:
        n = 0
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                return
            n += 1
            yield np.asarray(frame, dtype=np.uint8)
    finally:
        cap.release()


def video_info(path: Path) -> tuple[float, int]:
    """(frames per second, frame count) from the container; (0, 0) when unknown."""
    cap = cv2.VideoCapture(str(path))
    try:
        return float(cap.get(cv2.CAP_PROP_FPS) or 0.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()


def evaluate_tracking(
    video: Path,
    gt_path: Path,
    detector: Detector,
    tracker_config: TrackerConfig,
    *,
    motion: MotionConfig | None = None,
    max_frames: int | None = None,
    min_iou: float = 0.5,
    on_frame: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run detector + tracker over a video and score the person tracks against the gt.

    With ``motion`` set, the detector runs only on frames the :class:`MotionGate` passes;
    on the others the previous frame's tracks are reported unchanged (nothing moved).

    Returns:
        ``mota``, ``idf1``, ``recall``, ``precision``, ``frames``, ``fps`` (frames per
        second of decode + gate + detect + track on this machine) and the other
        :data:`METRICS`, plus ``detector_runs`` and motion figures; ``strict`` holds
        the headline figures again with hypotheses on don't-care boxes counted as false
        positives.
    """
    gt = read_mot_gt(gt_path)
    tracker = Tracker(tracker_config)
    gate = MotionGate(motion) if motion is not None else None
    scorer = MotScorer(min_iou)
    strict = MotScorer(min_iou)
    held = Detections.empty()
    runs = 0
    motion_fractions: list[float] = []
    empty_ids = np.zeros(0, np.int64)
    empty_boxes = np.zeros((0, 4), np.float32)
    busy = 0.0
    t_prev = time.perf_counter()
    for index, frame in enumerate(video_frames(video, max_frames)):
        ts = index / tracker_config.frame_rate
        run = True
        if gate is not None:
            decision = gate.check(frame, ts)
            run = decision.run
            motion_fractions.append(decision.motion.box_fraction)
        if run:
            runs += 1
            dets = detector.detect([frame])[0]
            people = dets[dets.class_id == PERSON]
            held = tracker.update(people, ts, image=None)
        now = time.perf_counter()
        busy += now - t_prev
        truth = gt.get(index + 1) or GtFrame(empty_ids, empty_boxes, empty_boxes)
        strict.add(truth.ids, truth.xyxy, held.tracker_id, held.xyxy)
        keep = drop_ignored(truth.xyxy, truth.ignore, held.xyxy, min_iou)
        scorer.add(truth.ids, truth.xyxy, held.tracker_id[keep], held.xyxy[keep])
        if on_frame is not None:
            on_frame()
        t_prev = time.perf_counter()
    if scorer.frames == 0:
        raise PipelineError(f"video: no frame could be decoded from {video}")
    result: dict[str, Any] = scorer.summary()
    result.update(
        frames=scorer.frames,
        fps=scorer.frames / busy if busy > 0 else None,
        detector_runs=runs,
        frames_skipped=scorer.frames - runs,
        id_switches=result["num_switches"],
    )
    strict_result = strict.summary()
    result["strict"] = {
        k: strict_result[k]
        for k in ("mota", "idf1", "recall", "precision", "num_false_positives", "num_switches")
    }
    if motion_fractions:
        result["motion_box_fraction_mean"] = float(np.mean(motion_fractions))
    return result
