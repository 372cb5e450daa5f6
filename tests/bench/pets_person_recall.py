"""Person recall and precision of the object detector on PETS09-S2L1, per input size.

Not a test: a measurement for docs/detectors.md (what each ``input_size`` buys on small
pedestrians). Every 5th frame, IoU >= 0.5, one-to-one matching (Hungarian)::

    .venv/bin/python -m tests.bench.pets_person_recall 416,608,640 0.25,0.1
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from detectors.detections import box_iou
from detectors.objects import ObjectDetectorConfig, load_object_detector
from tests.conftest import SHARED_DATA

STEP = 5


def main(sizes: list[int], confs: list[float], root: Path = SHARED_DATA / "video") -> None:
    """Print one line per (size, threshold)."""
    gt = np.loadtxt(root / "gt" / "PETS09-S2L1_gt.txt", delimiter=",")
    cap = cv2.VideoCapture(str(next(root.glob("*.avi"))))
    frames: dict[int, NDArray[np.uint8]] = {}
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        if index % STEP == 1:
            frames[index] = np.asarray(frame, np.uint8)
    keys = sorted(frames)
    for size in sizes:
        for conf in confs:
            cfg = ObjectDetectorConfig(input_size=size, conf_threshold=conf, classes=["person"])
            detector = load_object_detector(cfg)
            tp = fp = fn = 0
            start = time.perf_counter()
            for s in range(0, len(keys), 8):
                chunk = keys[s : s + 8]
                for k, d in zip(chunk, detector.detect([frames[k] for k in chunk]), strict=True):
                    g = gt[gt[:, 0] == k][:, 2:6].astype(np.float32)
                    g[:, 2:] += g[:, :2]
                    hits = 0
                    if len(d) and len(g):
                        m = box_iou(d.xyxy, g)
                        r, c = linear_sum_assignment(-m)
                        hits = int((m[r, c] >= 0.5).sum())
                    tp, fp, fn = tp + hits, fp + len(d) - hits, fn + len(g) - hits
            fps = len(keys) / (time.perf_counter() - start)
            print(
                f"input {size} conf {conf}: recall {tp / (tp + fn):.3f} precision "
                f"{tp / max(tp + fp, 1):.3f} ({tp + fn} boxes, {len(keys)} frames, {fps:.1f} fps)",
                flush=True,
            )


if __name__ == "__main__":
    main(
        [int(v) for v in sys.argv[1].split(",")] if len(sys.argv) > 1 else [416],
        [float(v) for v in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0.25],
    )
