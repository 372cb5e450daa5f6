#!/usr/bin/env python3
"""Show the anomaly rules firing on the PETS 2009 S2.L1 video with zones drawn for it.

Runs detection + tracking + the rule engine over the clip and writes, to a folder
OUTSIDE the repository (default /tmp/shouwang-pets-rules):

- ``annotated.mp4``: every frame with zones, tracks and the events of the last seconds;
- ``events/NNNN_<rule>.jpg``: the proving frame of each event (boxes in red);
- ``events.json``: every event (rule, zone, tracks, value + unit, frame, time).

Detection and tracking use the project's ``detectors.objects`` and
``pipeline.tracking`` when they are importable; otherwise YOLOv4-tiny through OpenCV's
Darknet loader (weights from the model registry) and a small IoU tracker here.

Usage:
    .venv/bin/python scripts/pets_rules_demo.py \
        --video ../shared/data/video/vtest_opencv_pets2009_s2l1_view001.avi
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors.detections import Detections, box_iou  # noqa: E402
from pipeline.anomaly import AnomalyEvent, RuleEngine  # noqa: E402
from shouwang.config import Camera  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "video" / "vtest_opencv_pets2009_s2l1_view001.avi"

# Zones drawn for the PETS09 S2L1 view (768x576), on the ground points (box bottoms).
PETS_CAMERA: dict[str, Any] = {
    "id": "pets-s2l1",
    "name": "PETS 2009 S2.L1 view 1",
    "compound": "demo",
    "url": "pets.avi",
    "lat": 51.4365,
    "lon": -0.9434,
    "zones": [
        {"id": "lawn", "kind": "intrusion", "classes": ["person"],
         "polygon": [[0, 370], [250, 370], [430, 430], [560, 575], [0, 575]]},
        {"id": "plaza", "kind": "watch",
         "polygon": [[180, 195], [560, 195], [640, 330], [180, 330]]},
        {"id": "crossing", "kind": "line", "polygon": [[450, 180], [450, 420]]},
    ],
    "rules": [
        {"id": "lawn-intrusion", "type": "intrusion", "zone": "lawn", "classes": ["person"]},
        {"id": "plaza-loitering", "type": "loitering", "zone": "plaza", "seconds": 10},
        {"id": "plaza-crowding", "type": "crowding", "zone": "plaza", "count": 4, "seconds": 2},
        {"id": "crossing-line", "type": "line_crossing", "zone": "crossing", "direction": "any",
         "classes": ["person"], "cooldown_s": 10},
    ],
}  # fmt: skip
COLOURS = {"lawn": (0, 200, 0), "plaza": (0, 200, 255), "crossing": (255, 0, 255)}


class DarknetDetector:
    """YOLOv4-tiny (COCO) through cv2.dnn: the fallback when detectors.objects is absent."""

    def __init__(self, conf: float = 0.5, nms: float = 0.45, size: int = 416) -> None:
        from detectors.registry import model_path

        self.net = cv2.dnn.readNetFromDarknet(
            str(model_path("yolov4-tiny.cfg")), str(model_path("yolov4-tiny.weights"))
        )
        self.layers = self.net.getUnconnectedOutLayersNames()
        self.conf, self.nms, self.size = conf, nms, size

    def detect(self, images: list[NDArray[np.uint8]]) -> list[Detections]:
        out = []
        for img in images:
            h, w = img.shape[:2]
            blob = cv2.dnn.blobFromImage(img, 1 / 255, (self.size, self.size), swapRB=True)
            self.net.setInput(blob)
            rows = np.vstack(self.net.forward(self.layers))
            scores = rows[:, 5:]
            cls = scores.argmax(axis=1)
            conf = scores[np.arange(len(rows)), cls] * rows[:, 4]
            keep = conf >= self.conf
            rows, cls, conf = rows[keep], cls[keep], conf[keep]
            cx, cy, bw, bh = rows[:, 0] * w, rows[:, 1] * h, rows[:, 2] * w, rows[:, 3] * h
            xywh = np.column_stack([cx - bw / 2, cy - bh / 2, bw, bh])
            kept = cv2.dnn.NMSBoxes(xywh.tolist(), conf.tolist(), self.conf, self.nms)
            idx = np.array(kept, dtype=int).reshape(-1)
            xyxy = np.column_stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + bw, xywh[:, 1] + bh])
            xyxy = np.clip(xyxy[idx], 0, [w - 1, h - 1, w - 1, h - 1])
            out.append(Detections(xyxy=xyxy, confidence=conf[idx], class_id=cls[idx]))
        return out


class IouTracker:
    """Greedy-optimal IoU matching with a short memory: the fallback tracker."""

    def __init__(self, iou: float = 0.3, max_missing: int = 10) -> None:
        self.iou, self.max_missing = iou, max_missing
        self.boxes: dict[int, NDArray[np.float32]] = {}
        self.missing: dict[int, int] = {}
        self.next_id = 1

    def update(self, dets: Detections, timestamp: float, image: Any) -> Detections:
        ids = list(self.boxes)
        tids = np.full(len(dets), -1, dtype=np.int64)
        if ids and len(dets):
            prev = np.array([self.boxes[i] for i in ids])
            cost = 1 - box_iou(prev, dets.xyxy)
            r, c = linear_sum_assignment(cost)
            for a, b in zip(r, c, strict=True):
                if 1 - cost[a, b] >= self.iou:
                    tids[b] = ids[a]
        for k in range(len(dets)):
            if tids[k] < 0:
                tids[k] = self.next_id
                self.next_id += 1
            self.boxes[int(tids[k])] = dets.xyxy[k]
            self.missing[int(tids[k])] = 0
        for i in ids:
            if i not in set(tids.tolist()):
                self.missing[i] += 1
                if self.missing[i] > self.max_missing:
                    del self.boxes[i], self.missing[i]
        return Detections(dets.xyxy, dets.confidence, dets.class_id, tracker_id=tids)


class GroundTruthTracks:
    """The MOTChallenge ground truth as tracked person boxes: the rules with perfect tracks."""

    def __init__(self, gt_file: Path) -> None:
        rows = np.loadtxt(gt_file, delimiter=",", ndmin=2)
        self.by_frame: dict[int, NDArray[np.float64]] = {}
        for f in np.unique(rows[:, 0]).astype(int):
            self.by_frame[int(f)] = rows[rows[:, 0] == f]
        self.k = 0

    def detect(self, images: list[NDArray[np.uint8]]) -> list[Detections]:
        self.k += 1  # frames are 1-based in the file
        r = self.by_frame.get(self.k, np.empty((0, 10)))
        xyxy = np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]])
        return [
            Detections(
                xyxy=np.clip(xyxy, 0, None).astype(np.float32),
                confidence=np.ones(len(r), np.float32),
                class_id=np.zeros(len(r), np.int64),
                tracker_id=r[:, 1].astype(np.int64),
            )
        ]

    def update(self, dets: Detections, timestamp: float, image: Any) -> Detections:
        return dets


def detector_and_tracker() -> tuple[Any, Any, str]:
    """The project's detector/tracker when present, else the fallbacks above."""
    try:
        from detectors.objects import ObjectDetector  # type: ignore[import-not-found]
        from pipeline.tracking import Tracker  # type: ignore[import-not-found]

        return ObjectDetector(), Tracker(), "detectors.objects + pipeline.tracking"
    except Exception as exc:  # any failure means: use the fallback
        print(f"[demo] project detector/tracker unavailable ({exc}); using fallbacks", flush=True)
        return DarknetDetector(), IouTracker(), "yolov4-tiny (cv2.dnn) + IoU tracker"


def draw(
    img: NDArray[np.uint8], engine: RuleEngine, dets: Detections, recent: list[AnomalyEvent]
) -> NDArray[np.uint8]:
    out = img.copy()
    for zid, poly in engine.zone_polygons.items():
        pts = poly.astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], zid != "crossing", COLOURS.get(zid, (255, 255, 0)), 2)
        cv2.putText(out, zid, tuple(pts[0, 0] + [4, 16]), 0, 0.5, COLOURS.get(zid, (0, 0, 0)), 2)
    hot = {t for e in recent for t in e.track_ids}
    for k in range(len(dets)):
        x1, y1, x2, y2 = dets.xyxy[k].astype(int)
        tid = int(dets.tracker_id[k])
        colour = (0, 0, 255) if tid in hot else (255, 200, 0)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(out, str(tid), (x1, y1 - 4), 0, 0.5, colour, 2)
    for j, e in enumerate(recent[-6:]):
        cv2.putText(out, e.describe(), (10, 24 + 22 * j), 0, 0.6, (0, 0, 255), 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="PETS09 S2L1 video")
    ap.add_argument("--out", type=Path, default=Path("/tmp/shouwang-pets-rules"), help="folder")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    ap.add_argument(
        "--ground-truth",
        type=Path,
        default=None,
        help="use this MOT gt.txt as the tracks instead of detection + tracking\n"
        "(e.g. ../shared/data/video/gt/PETS09-S2L1_gt.txt): the rules with perfect tracks",
    )
    args = ap.parse_args()
    if ROOT in args.out.resolve().parents or args.out.resolve() == ROOT:
        ap.error("--out must be outside the repository")
    cap = cv2.VideoCapture(str(args.video))
    if not cap.isOpened():
        ap.error(f"cannot open {args.video}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 7.0
    (args.out / "events").mkdir(parents=True, exist_ok=True)
    if args.ground_truth is not None:
        gt = GroundTruthTracks(args.ground_truth)
        detector, tracker, how = gt, gt, f"ground truth {args.ground_truth.name}"
    else:
        detector, tracker, how = detector_and_tracker()
    engine = RuleEngine(Camera.model_validate(PETS_CAMERA), timezone="Europe/London")
    writer: Any = None
    start = time.time()
    log: list[dict[str, Any]] = []
    recent: list[AnomalyEvent] = []
    k = 0
    while True:
        ok, raw = cap.read()
        if not ok or (args.max_frames and k >= args.max_frames):
            break
        t = start + k / fps
        frame = np.asarray(raw, dtype=np.uint8)
        dets = tracker.update(detector.detect([frame])[0], t, frame)
        events = engine.update(dets, t, frame)
        for e in events:
            name = f"{k:04d}_{e.rule}.jpg"
            (args.out / "events" / name).write_bytes(e.jpeg())
            log.append({"frame": k + 1, "second": round(k / fps, 1), "rule": e.rule,
                        "kind": e.kind, "zone": e.zone, "tracks": list(e.track_ids),
                        "value": round(e.value, 2), "unit": e.unit,
                        "direction": e.detail.get("direction"),
                        "image": f"events/{name}"})  # fmt: skip
            print(f"[demo] frame {k + 1:4d} ({k / fps:5.1f} s): {e.describe()}", flush=True)
        recent = [e for e in recent + events if t - e.timestamp < 3.0]
        img = draw(frame, engine, dets, recent)
        if writer is None:
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            writer = cv2.VideoWriter(str(args.out / "annotated.mp4"), fourcc, fps, img.shape[1::-1])
        writer.write(img)
        k += 1
    if writer is not None:
        writer.release()
    summary: dict[str, int] = {}
    for item in log:
        summary[item["rule"]] = summary.get(item["rule"], 0) + 1
    report = {"video": str(args.video), "frames": k, "fps": fps, "detection": how,
              "events_per_rule": summary, "events": log}  # fmt: skip
    (args.out / "events.json").write_text(json.dumps(report, indent=2))
    print(f"[demo] {k} frames, events per rule: {summary}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
