"""Detector outputs of a clip or a video kept in one ``.npz`` file.

The evaluations run the object detector once per footage and read the file back on the
next run, so trying several settings costs no detector time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.detections import Detections


def save_detections(path: Path, frames: Sequence[Detections]) -> None:
    """Write one ``Detections`` per frame (boxes, confidences, class ids)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        frames=len(frames),
        frame=np.concatenate([np.zeros(0), *(np.full(len(d), k) for k, d in enumerate(frames))]),
        xyxy=np.concatenate([np.zeros((0, 4)), *(d.xyxy for d in frames)]),
        conf=np.concatenate([np.zeros(0), *(d.confidence for d in frames)]),
        cls=np.concatenate([np.zeros(0, np.int64), *(d.class_id for d in frames)]),
    )


def load_detections(path: Path) -> list[Detections]:
    """The frames written by :func:`save_detections`."""
    z = np.load(path)
    frame = z["frame"]
    return [
        Detections(z["xyxy"][frame == k], z["conf"][frame == k], z["cls"][frame == k])
        for k in range(int(z["frames"]))
    ]
