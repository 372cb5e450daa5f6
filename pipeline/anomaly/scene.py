"""Scene anomaly score: how much faster than usual something moves, calibrated online.

For cameras where no rule fits, each frame gets an unsupervised score from dense optical
flow (Farnebäck) on a downscaled grey image:

1. the flow magnitude (pixels per frame) is averaged over a grid of cells;
2. the stream's *typical speed* is a running (exponential) average of the per-frame
   median flow magnitude over moving pixels (those above ``moving_px``): among many
   walkers one cyclist barely shifts a median, so the calibration stays clean even when
   the stream starts with an anomaly;
3. the frame's score is its fastest cell divided by the typical speed, a unit-free
   ratio (2.0 = a cell moving on average twice as fast as the things that usually move
   here), so one set of parameters serves any camera, resolution and frame rate.

No labelled data is used; the scorer starts from nothing on every stream. A threshold on
the score raises ``scene`` events (one per incident, with a cooldown).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from pipeline.anomaly.base import Latch
from pipeline.anomaly.events import AnomalyError, AnomalyEvent


class SceneConfig(BaseModel):
    """Parameters of the scene scorer; the defaults are the ones every figure uses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(default=360, ge=64, le=1920, description="working width in pixels")
    grid: tuple[int, int] = Field(default=(15, 10), description="cells across and down")
    moving_px: float = Field(
        default=0.5, gt=0, le=10, description="flow (px/frame at working width) that is motion"
    )
    min_moving: int = Field(
        default=50, ge=1, description="moving pixels a frame needs to update the typical speed"
    )
    alpha: float = Field(
        default=0.02, gt=0, le=1, description="weight of each frame in the typical speed"
    )
    threshold: float = Field(
        default=2.0, gt=0, le=100, description="score at or above which an event is raised"
    )
    warmup_frames: int = Field(
        default=10, ge=0, le=10000, description="frames before events may be raised"
    )
    cooldown_s: float = Field(default=10.0, ge=0, le=86400, description="quiet time per event")


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
    """Scores each frame of one stream: ``update(image, timestamp) -> SceneScore``.

    Example:
        >>> scorer = SceneScorer(camera="b3-entrance")  # doctest: +SKIP
        >>> result = scorer.update(frame.image, frame.timestamp)  # doctest: +SKIP
        >>> result.score, [e.describe() for e in result.events]  # doctest: +SKIP
    """

    def __init__(self, config: SceneConfig | None = None, *, camera: str = "") -> None:
        self.config = config or SceneConfig()
        self.camera = camera
        self.typical: float | None = None  # px/frame at working width
        self.frames = 0
        self._prev: NDArray[np.uint8] | None = None
        self._latch = Latch(self.config.cooldown_s)

    def update(self, image: NDArray[np.uint8], timestamp: float) -> SceneScore:
        """Score one frame (BGR or grey) against the stream so far.

        Raises:
            AnomalyError: the image is not a 2-D grey or 3-channel array.
        """
        grey = self._grey(image)
        cols, rows = self.config.grid
        prev, self._prev = self._prev, grey
        self.frames += 1
        if prev is None or prev.shape != grey.shape:
            return SceneScore(0.0, np.zeros((rows, cols), np.float32))
        init = np.zeros((*grey.shape, 2), np.float32)  # ignored without USE_INITIAL_FLOW
        flow = cv2.calcOpticalFlowFarneback(prev, grey, init, 0.5, 3, 15, 3, 5, 1.2, 0)
        mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
        moving = mag[mag > self.config.moving_px]
        if moving.size >= self.config.min_moving:
            med = float(np.median(moving))
            a = self.config.alpha
            self.typical = med if self.typical is None else (1 - a) * self.typical + a * med
        h, w = mag.shape
        ch, cw = h // rows, w // cols
        cell = mag[: rows * ch, : cols * cw].reshape(rows, ch, cols, cw).mean(axis=(1, 3))
        if self.typical is None:
            return SceneScore(0.0, np.zeros((rows, cols), np.float32))
        ratios = (cell / self.typical).astype(np.float32)
        score = float(ratios.max())
        events = self._events(score, ratios, image, timestamp)
        return SceneScore(score, ratios, events)

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
        hot = score >= self.config.threshold and self.frames > self.config.warmup_frames
        if not self._latch.update(t, ("scene",) if hot else ()):
            return []
        rows, cols = ratios.shape
        r, c = np.unravel_index(int(ratios.argmax()), ratios.shape)
        h, w = image.shape[:2]
        box = np.array(
            [[c * w / cols, r * h / rows, (c + 1) * w / cols, (r + 1) * h / rows]], np.float32
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
                detail={"threshold": self.config.threshold, "typical_px": self.typical},
            )
        ]
