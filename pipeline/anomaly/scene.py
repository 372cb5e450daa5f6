"""Scene anomaly score: motion and what is moving, calibrated online per stream.

For cameras where no rule fits, each frame gets an unsupervised score built from cues
that are all unit-free ratios to what is *typical on this stream*, learnt online from
its own frames (no labels, no training set; every stream starts from nothing):

1. **motion**: the fastest cell of a grid of mean optical-flow magnitudes divided by the
   stream's typical speed (a running average of the median flow of moving pixels;
   among many walkers one cyclist barely shifts a median);
2. **object speed** (when detections are given): the fastest detected object's speed
   divided by the typical speed of the people on this stream, measured in m/s through
   the camera's calibration where it has one, in pixels per frame otherwise;
3. **odd class**: the detector's confidence that a bicycle, car, motorcycle, bus, truck or
   skateboard is on the scene (``odd_classes``), a cue that needs no calibration;
4. **region size**: the largest moving region's linear size (square root of its area)
   relative to the typical moving region's.

``score = (motion + w_o * object + w_s * size) / (1 + w_o + w_s) + w_c * odd_class``,
optionally averaged over the last ``smooth_frames`` frames (causal: no future frame is
used). 1 reads as ordinary motion. The weights' defaults were chosen by leave-one-clip-out
selection on the visible UCSD Ped2 clips (docs/anomaly.md): they are fixed, never fitted
to the stream being scored. A threshold on the score raises ``scene`` events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from detectors.detections import Detections
from pipeline.anomaly.base import Latch
from pipeline.anomaly.events import AnomalyError, AnomalyEvent
from pipeline.anomaly.geometry import GroundPlane
from pipeline.anomaly.scene_cues import FrameCues, ObjectCue, flow_magnitude, measure
from shouwang.config.rules import COCO_CLASSES

PERSON = 0
ODD_CLASSES = ("bicycle", "car", "motorcycle", "bus", "truck", "skateboard")
Weight = float


class SceneConfig(BaseModel):
    """Parameters of the scene scorer; the defaults are the ones every figure uses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(default=360, ge=64, le=1920, description="working width in pixels")
    grid: tuple[int, int] = Field(default=(12, 8), description="cells across and down")
    moving_px: float = Field(
        default=0.5, gt=0, le=10, description="flow (px/frame at working width) that is motion"
    )
    min_moving: int = Field(
        default=50, ge=1, description="moving pixels a frame needs to update the typical speed"
    )
    alpha: float = Field(
        default=0.02, gt=0, le=1, description="weight of each frame in the typical values"
    )
    object_weight: Weight = Field(
        default=0.0, ge=0, le=10, description="weight of the fastest object / typical person"
    )
    class_weight: Weight = Field(
        default=0.5, ge=0, le=10, description="weight of the detector's odd-class confidence"
    )
    size_weight: Weight = Field(
        default=0.0, ge=0, le=10, description="weight of the largest moving region's size ratio"
    )
    odd_classes: tuple[str, ...] = Field(
        default=ODD_CLASSES, description="COCO classes that do not belong on a walkway"
    )
    min_confidence: float = Field(
        default=0.3, ge=0, le=1, description="detections below this confidence are ignored"
    )
    cell_typical: bool = Field(
        default=True, description="each cell also learns its own typical speed (perspective)"
    )
    smooth_frames: int = Field(
        default=5, ge=1, le=100, description="causal mean of the score over this many frames"
    )
    threshold: float = Field(
        default=2.0, gt=0, le=100, description="score at or above which an event is raised"
    )
    warmup_frames: int = Field(
        default=10, ge=0, le=10000, description="frames before events may be raised"
    )
    cooldown_s: float = Field(default=10.0, ge=0, le=86400, description="quiet time per event")

    @field_validator("odd_classes")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in v if c not in COCO_CLASSES]
        if unknown:
            raise ValueError(f"unknown class {unknown[0]!r} in odd_classes (COCO names)")
        return v


@dataclass(frozen=True, slots=True)
class SceneScore:
    """One frame's score.

    Attributes:
        score: fastest cell / typical speed (0 until the scorer has seen motion).
        cells: (rows, cols) per-cell ratios, the localisation map.
        events: a ``scene`` event when the score crossed the threshold.
    """

    score: float
    cells: NDArray[np.float32]
    events: list[AnomalyEvent] = field(default_factory=list)

    def score_map(self, height: int, width: int) -> NDArray[np.float32]:
        """The cell ratios spread over a ``height`` x ``width`` image (nearest cell)."""
        rows, cols = self.cells.shape
        ys = np.minimum(np.arange(height) * rows // height, rows - 1)
        xs = np.minimum(np.arange(width) * cols // width, cols - 1)
        return np.asarray(self.cells[np.ix_(ys, xs)], dtype=np.float32)


class SceneScorer:
    """Scores each frame of one stream: ``update(image, timestamp, dets) -> SceneScore``.

    Args:
        config: the parameters (defaults when None).
        camera: camera id for the events.
        ground: the camera's ground plane; with it object speeds are compared in m/s.

    Example:
        >>> scorer = SceneScorer(camera="b3-entrance")  # doctest: +SKIP
        >>> result = scorer.update(frame.image, frame.timestamp, dets)  # doctest: +SKIP
        >>> result.score, [e.describe() for e in result.events]  # doctest: +SKIP
    """

    def __init__(
        self,
        config: SceneConfig | None = None,
        *,
        camera: str = "",
        ground: GroundPlane | None = None,
    ) -> None:
        self.config = config or SceneConfig()
        self.camera = camera
        self.ground = ground
        self.typical: float | None = None  # px/frame at working width
        self.typical_person: float | None = None  # px/frame, or m/s with a ground plane
        self.typical_region: float | None = None  # sqrt(px) at working width
        self._cell_typical: NDArray[np.float64] | None = None  # px/frame per cell
        self.frames = 0
        self._odd = frozenset(COCO_CLASSES.index(c) for c in self.config.odd_classes)
        self._prev: NDArray[np.uint8] | None = None
        self._prev_t: float | None = None
        self._recent: deque[float] = deque(maxlen=self.config.smooth_frames)
        self._latch = Latch(self.config.cooldown_s)
        self.last_cues: dict[str, float] = {}

    def update(
        self, image: NDArray[np.uint8], timestamp: float, dets: Detections | None = None
    ) -> SceneScore:
        """Score one frame (BGR or grey) against the stream so far.

        Args:
            image: the frame.
            timestamp: capture time in seconds.
            dets: the frame's detections (COCO class ids, the frame's pixels), or None
                when no detector runs: then only the motion and region cues count.

        Raises:
            AnomalyError: the image is not a 2-D grey or 3-channel array.
        """
        cues = self.measure(image, timestamp, dets)
        if cues is None:
            cols, rows = self.config.grid
            return SceneScore(0.0, np.zeros((rows, cols), np.float32))
        score, ratios = self.score(cues)
        return SceneScore(score, ratios, self._events(score, ratios, image, timestamp))

    def measure(
        self,
        image: NDArray[np.uint8],
        timestamp: float,
        dets: Detections | None = None,
        grids: Sequence[tuple[int, int]] = (),
    ) -> FrameCues | None:
        """The frame's raw cues against the previous frame (None on a stream's first).

        ``grids`` adds cell grids beyond the configured one (the evaluation tries several).
        """
        grey = self._grey(image)
        prev, self._prev = self._prev, grey
        prev_t, self._prev_t = self._prev_t, timestamp
        if prev is None or prev.shape != grey.shape:
            self.frames += 1
            return None
        if dets is not None and len(dets):
            dets = dets[dets.confidence >= self.config.min_confidence]
        return measure(
            flow_magnitude(prev, grey),
            [self.config.grid, *(g for g in grids if g != self.config.grid)],
            moving_px=self.config.moving_px,
            min_moving=self.config.min_moving,
            dets=dets,
            scale=grey.shape[1] / image.shape[1],
            ground=self.ground,
            dt=timestamp - (prev_t if prev_t is not None else timestamp),
        )

    def score(self, cues: FrameCues) -> tuple[float, NDArray[np.float32]]:
        """Update the stream's typical values with one frame's cues; its score and cells.

        Used by :meth:`update`, and directly by the evaluation, which measures each frame
        once and scores the same cues under several settings.
        """
        c = self.config
        self.frames += 1
        a = c.alpha
        if cues.moving_median is not None:
            self.typical = _ema(self.typical, cues.moving_median, a)
        cols, rows = c.grid
        if self.typical is None:
            return 0.0, np.zeros((rows, cols), np.float32)
        cells = cues.cells[c.grid]
        ref: NDArray[np.float64] | float = self.typical
        if c.cell_typical:
            # Each cell learns what usually moves there (perspective: walkers near the
            # camera move more pixels), never below the whole frame's typical speed.
            if self._cell_typical is None:
                self._cell_typical = np.full(cells.shape, self.typical)
            moving = cells > c.moving_px
            self._cell_typical[moving] += a * (cells[moving] - self._cell_typical[moving])
            ref = np.maximum(self._cell_typical, self.typical)
        ratios = (cells / ref).astype(np.float32)
        motion = float(ratios.max())
        obj = self._object_ratio(cues, a)
        size = 0.0
        if len(cues.region_areas):
            sizes = np.sqrt(cues.region_areas)
            self.typical_region = _ema(self.typical_region, float(np.median(sizes)), a)
            size = float(sizes.max()) / self.typical_region
        odd = self._odd_class(cues)
        w_o = c.object_weight if obj is not None else 0.0
        raw = (motion + w_o * (obj or 0.0) + c.size_weight * size) / (1 + w_o + c.size_weight)
        raw += c.class_weight * odd
        self._recent.append(raw)
        self.last_cues = {"motion": motion, "object": obj or 0.0, "odd_class": odd, "size": size}
        return float(np.mean(self._recent)), ratios

    def _odd_class(self, cues: FrameCues) -> float:
        """Highest confidence of an odd-class object that moves at least half as fast as
        people here: a car parked beside the walkway is not an anomaly, one driving is."""
        if self.typical_person is None:
            return 0.0
        metric = self.ground is not None
        best = 0.0
        for o in cues.objects:
            speed = (o.speed_mps if metric else o.speed_px) or 0.0
            if o.class_id in self._odd and speed >= 0.5 * self.typical_person:
                best = max(best, o.confidence)
        return best

    def _object_ratio(self, cues: FrameCues, a: float) -> float | None:
        metric = self.ground is not None

        def speed(o: ObjectCue) -> float | None:
            v = o.speed_mps if metric else o.speed_px
            return v if v else None

        people = [v for o in cues.objects if o.class_id == PERSON if (v := speed(o))]
        if people:
            self.typical_person = _ema(self.typical_person, float(np.median(people)), a)
        if self.typical_person is None or not cues.objects:
            return None
        speeds = [v for o in cues.objects if (v := speed(o))]
        return max(speeds, default=0.0) / self.typical_person

    def _grey(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if image.ndim == 3 and image.shape[2] == 3:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif image.ndim == 2:
            grey = image
        else:
            raise AnomalyError(f"scene scorer: expected a grey or BGR image, got {image.shape}")
        h, w = grey.shape
        if w != self.config.width:
            size = (self.config.width, max(8, round(h * self.config.width / w)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return np.asarray(grey, dtype=np.uint8)

    def _events(
        self, score: float, ratios: NDArray[np.float32], image: NDArray[np.uint8], t: float
    ) -> list[AnomalyEvent]:
        threshold = self.config.threshold
        hot = score >= threshold and self.frames > self.config.warmup_frames
        if not self._latch.update(t, ("scene",) if hot else ()):
            return []
        rows, cols = ratios.shape
        r, q = np.unravel_index(int(ratios.argmax()), ratios.shape)
        h, w = image.shape[:2]
        box = np.array(
            [[q * w / cols, r * h / rows, (q + 1) * w / cols, (r + 1) * h / rows]], np.float32
        )
        return [
            AnomalyEvent(
                kind="scene",
                camera=self.camera,
                rule="scene-motion",
                zone=None,
                timestamp=t,
                value=score,
                unit="score",
                boxes=box,
                frame=image,
                detail={
                    "threshold": threshold,
                    "typical_px": self.typical,
                    **{k: round(v, 3) for k, v in self.last_cues.items()},
                },
            )
        ]


def _ema(old: float | None, new: float, alpha: float) -> float:
    return new if old is None else (1 - alpha) * old + alpha * new
