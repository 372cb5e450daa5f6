"""What one frame shows the scene score: motion, moving regions and moving objects.

:func:`measure` turns a pair of grey frames (and, when a detector runs, the frame's
detections) into :class:`FrameCues`, the raw measurements of one frame with no state:

- the dense optical flow (Farnebäck) magnitude averaged over one or more cell grids;
- the median flow of the frame's moving pixels (the stream's speed scale);
- the moving regions (connected components of moving pixels): their areas;
- for every detection: its class, confidence, box height, the mean flow of the
  moving pixels inside its box, and, with a ground plane, its ground speed in m/s.

The stateful part (what is *typical* on this stream, and the score) is
:class:`pipeline.anomaly.scene.SceneScorer`; keeping the measurement apart lets
``shouwang eval anomaly`` measure each frame once and try several settings on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections
from pipeline.anomaly.geometry import GroundPlane

Grid = tuple[int, int]  # (cells across, cells down)
_OPEN = np.ones((3, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class ObjectCue:
    """One detection as the scene score sees it (working-width pixels)."""

    class_id: int
    confidence: float
    height_px: float
    speed_px: float  # mean flow of the moving pixels in the box, px/frame
    speed_mps: float | None  # ground speed through the calibration, None without one


@dataclass(frozen=True, slots=True)
class FrameCues:
    """The raw measurements of one frame (see the module docstring).

    Attributes:
        cells: grid → (rows, cols) mean flow magnitude per cell, px/frame.
        moving_median: median flow of moving pixels, None when too few pixels move.
        region_areas: areas (px, working width) of the moving regions.
        objects: the frame's detections with their measured speeds.
    """

    cells: dict[Grid, NDArray[np.float32]]
    moving_median: float | None
    region_areas: NDArray[np.float32]
    objects: list[ObjectCue] = field(default_factory=list)


def flow_magnitude(prev: NDArray[np.uint8], grey: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Dense Farnebäck flow between two grey frames: (h, w, 2) px/frame."""
    init = np.zeros((*grey.shape, 2), np.float32)  # ignored without USE_INITIAL_FLOW
    flow = cv2.calcOpticalFlowFarneback(prev, grey, init, 0.5, 3, 15, 3, 5, 1.2, 0)
    return np.asarray(flow, dtype=np.float32)


def measure(
    flow: NDArray[np.float32],
    grids: Sequence[Grid],
    *,
    moving_px: float,
    min_moving: int,
    min_region_px: int = 30,
    dets: Detections | None = None,
    scale: float = 1.0,
    ground: GroundPlane | None = None,
    dt: float = 0.0,
) -> FrameCues:
    """Measure one frame from its flow (see :class:`FrameCues`).

    Args:
        flow: (h, w, 2) flow at working width, px/frame.
        grids: the cell grids to average over (cols, rows).
        moving_px: flow magnitude that counts as motion.
        min_moving: moving pixels needed for ``moving_median``.
        min_region_px: smaller moving regions are noise.
        dets: the frame's detections in the original frame's pixels, or None.
        scale: working width / original width (maps boxes onto the flow).
        ground: the camera's ground plane (original pixels → metres), or None.
        dt: seconds since the previous frame (for m/s; 0 leaves ``speed_mps`` None).
    """
    mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    moving = mag > moving_px
    values = mag[moving]
    median = float(np.median(values)) if values.size >= min_moving else None
    h, w = mag.shape
    cells = {}
    for cols, rows in grids:
        ch, cw = h // rows, w // cols
        cells[(cols, rows)] = np.asarray(
            mag[: rows * ch, : cols * cw].reshape(rows, ch, cols, cw).mean(axis=(1, 3)),
            dtype=np.float32,
        )
    opened = cv2.morphologyEx(moving.astype(np.uint8), cv2.MORPH_OPEN, _OPEN)
    n, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    areas = stats[1:n, cv2.CC_STAT_AREA].astype(np.float32)
    areas = areas[areas >= min_region_px]
    objects = _objects(flow, mag, moving, dets, scale, ground, dt) if dets else []
    return FrameCues(cells, median, areas, objects)


def _objects(
    flow: NDArray[np.float32],
    mag: NDArray[np.float32],
    moving: NDArray[np.bool_],
    dets: Detections,
    scale: float,
    ground: GroundPlane | None,
    dt: float,
) -> list[ObjectCue]:
    h, w = mag.shape
    boxes = np.asarray(dets.xyxy, dtype=np.float64) * scale
    x1 = np.clip(np.floor(boxes[:, 0]), 0, w).astype(int)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, h).astype(int)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, w).astype(int)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, h).astype(int)
    # Sums over every box at once from integral images of the moving pixels, their
    # |flow| and (for m/s) their flow vector: O(1) per box, so 50 tracks cost what one does.
    m = moving.astype(np.float32)

    def box_sums(channel: NDArray[np.float32]) -> NDArray[np.float64]:
        ii = np.asarray(cv2.integral(channel), dtype=np.float64)
        return np.asarray(ii[y2, x2] - ii[y1, x2] - ii[y2, x1] + ii[y1, x1])

    count = box_sums(m)
    ok = count >= 10
    safe = np.where(ok, count, 1.0)
    speed = np.where(ok, box_sums(mag * m) / safe, 0.0)  # mean |flow| of the moving pixels
    mps: list[float | None] = [None] * len(dets)
    if ground is not None and dt > 0:
        step = np.column_stack([box_sums(flow[..., 0] * m), box_sums(flow[..., 1] * m)])
        step = np.where(ok[:, None], step / safe[:, None], 0.0) / scale  # original px
        foot = np.asarray(dets.bottom_center, dtype=np.float64)
        a, b = ground.to_metres(foot), ground.to_metres(foot + step)
        v = np.hypot(*(b - a).T) / dt
        mps = [float(x) if np.isfinite(x) and k else None for x, k in zip(v, ok, strict=True)]
    heights = (boxes[:, 3] - boxes[:, 1]).tolist()
    return [
        ObjectCue(class_id=c, confidence=f, height_px=hh, speed_px=sp, speed_mps=ms)
        for c, f, hh, sp, ms in zip(
            dets.class_id.tolist(), dets.confidence.tolist(), heights, speed.tolist(), mps,
            strict=True,
        )
    ]  # fmt: skip
