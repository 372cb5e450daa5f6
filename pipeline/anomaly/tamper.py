"""Camera tamper: covered lens, loss of focus, sudden change of view, loss of signal.

Every check works on a small grey copy of the frame and compares it with what this
camera normally looks like, learnt on the stream (no per-camera set-up):

- **signal loss**: no frame for ``no_signal_s`` (call ``update(None, now)`` from a
  watchdog), or a frame that is one flat colour (a decoder's blue/black screen);
- **covered**: very dark or nearly uniform (a hand, cloth, spray paint) but not
  perfectly flat, or the view lost together with nearly all texture (something close to
  the lens, far out of focus);
- **defocus**: sharpness (variance of the Laplacian) below ``defocus_ratio`` of its
  running baseline while the view still matches the reference;
- **view change**: the frame no longer correlates with the learnt reference view
  (normalised cross-correlation of blurred thumbnails below ``view_ncc``); people
  walking through change a few cells, a turned camera changes everything.

A condition must hold for ``persist_s`` to count (one glitchy frame is not tamper) and
raises one event per incident. Baselines learn only from frames judged normal; after
``relearn_s`` of a changed view the new view is adopted (someone re-aimed the camera;
one event was enough).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from pipeline.anomaly.base import Latch
from pipeline.anomaly.events import AnomalyError, AnomalyEvent, Unit

KINDS = ("signal_loss", "covered", "defocus", "view_change")


class TamperConfig(BaseModel):
    """Thresholds of the tamper checks; defaults hold for ordinary CCTV."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(default=320, ge=64, le=1920, description="working width in pixels")
    no_signal_s: float = Field(default=5.0, gt=0, le=3600, description="gap that is signal loss")
    flat_std: float = Field(default=2.0, ge=0, le=50, description="grey std of a flat frame")
    covered_std: float = Field(default=10.0, ge=0, le=100, description="std below = covered")
    dark_mean: float = Field(default=15.0, ge=0, le=255, description="mean below = covered")
    defocus_ratio: float = Field(
        default=0.35, gt=0, lt=1, description="sharpness below this × baseline = defocus"
    )
    covered_sharpness: float = Field(
        default=0.05, gt=0, lt=1, description="view lost and sharpness below this × baseline"
    )
    view_ncc: float = Field(
        default=0.5, ge=-1, lt=1, description="correlation with the reference below = moved"
    )
    persist_s: float = Field(default=1.0, ge=0, le=600, description="how long a condition holds")
    warmup_frames: int = Field(default=5, ge=1, le=10000, description="frames to learn a view")
    alpha: float = Field(default=0.05, gt=0, le=1, description="baseline learning rate per frame")
    relearn_s: float = Field(default=60.0, gt=0, le=86400, description="adopt a new view after")
    cooldown_s: float = Field(default=60.0, ge=0, le=86400, description="quiet time per kind")


class TamperDetector:
    """Watches one camera for tamper: ``update(image or None, timestamp) -> events``.

    Example:
        >>> tamper = TamperDetector(camera="north-gate")  # doctest: +SKIP
        >>> events = tamper.update(frame.image, frame.timestamp)  # doctest: +SKIP
        >>> events += tamper.update(None, time.time())  # a watchdog tick  # doctest: +SKIP
    """

    def __init__(self, config: TamperConfig | None = None, *, camera: str = "") -> None:
        self.config = config or TamperConfig()
        self.camera = camera
        self.sharpness: float | None = None
        self.reference: NDArray[np.float32] | None = None
        self.frames = 0
        self.last_frame_t: float | None = None
        self._since: dict[str, float] = {}
        self._latches = {k: Latch(self.config.cooldown_s) for k in KINDS}
        self.last_measures: dict[str, float] = {}

    def update(self, image: NDArray[np.uint8] | None, timestamp: float) -> list[AnomalyEvent]:
        """Check a frame, or with ``image=None`` only whether frames stopped coming.

        Raises:
            AnomalyError: the image is not a grey or BGR array.
        """
        t = timestamp
        if image is None:
            gap = t - self.last_frame_t if self.last_frame_t is not None else 0.0
            lost = gap >= self.config.no_signal_s
            return self._fire(
                t, {"signal_loss": (gap, "seconds")} if lost else {}, None, direct=True
            )
        self.last_frame_t = t
        grey = self._grey(image)
        m = self._measure(grey)
        self.last_measures = m
        c = self.config
        hits: dict[str, tuple[float, Unit]] = {}
        if m["std"] <= c.flat_std:
            hits["signal_loss"] = (m["std"], "score")
        elif m["std"] < c.covered_std or m["mean"] < c.dark_mean:
            hits["covered"] = (m["std"], "score")
        elif self.frames >= c.warmup_frames:
            if m["ncc"] < c.view_ncc and m["sharpness_ratio"] < c.covered_sharpness:
                # Neither the view nor any texture is left: something is on the lens.
                hits["covered"] = (m["std"], "score")
            elif m["ncc"] < c.view_ncc:
                hits["view_change"] = (m["ncc"], "score")
            elif m["sharpness_ratio"] < c.defocus_ratio:
                # Same view, fewer edges: the lens lost focus (or fogged up).
                hits["defocus"] = (m["sharpness_ratio"], "score")
        self._learn(grey, m, hits, t)
        return self._fire(t, hits, image)

    def _grey(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if image.ndim == 3 and image.shape[2] == 3:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif image.ndim == 2:
            grey = image
        else:
            raise AnomalyError(f"tamper: expected a grey or BGR image, got shape {image.shape}")
        h, w = grey.shape
        size = (self.config.width, max(8, round(h * self.config.width / w)))
        return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)

    def _measure(self, grey: NDArray[np.uint8]) -> dict[str, float]:
        sharp = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        thumb = self._thumb(grey)
        ncc = 1.0
        if self.reference is not None:
            a = thumb - thumb.mean()
            b = self.reference - self.reference.mean()
            denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
            ncc = float((a * b).sum() / denom) if denom > 0 else 0.0
        ratio = sharp / self.sharpness if self.sharpness else 1.0
        return {
            "mean": float(grey.mean()),
            "std": float(grey.std()),
            "sharpness": sharp,
            "sharpness_ratio": ratio,
            "ncc": ncc,
        }

    @staticmethod
    def _thumb(grey: NDArray[np.uint8]) -> NDArray[np.float32]:
        small = cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
        return np.asarray(cv2.GaussianBlur(small, (5, 5), 1.5), dtype=np.float32)

    def _learn(
        self,
        grey: NDArray[np.uint8],
        m: dict[str, float],
        hits: dict[str, tuple[float, Unit]],
        t: float,
    ) -> None:
        a = self.config.alpha
        thumb = self._thumb(grey)
        changed_for = t - self._since.get("view_change", t)
        if "view_change" in hits and changed_for >= self.config.relearn_s:
            self.reference = thumb  # the camera was re-aimed: this is the view now
            self.sharpness = m["sharpness"]
            self._since.pop("view_change", None)
            return
        if hits:
            return
        self.frames += 1
        self.sharpness = (
            m["sharpness"]
            if self.sharpness is None
            else (1 - a) * self.sharpness + a * m["sharpness"]
        )
        self.reference = thumb if self.reference is None else (1 - a) * self.reference + a * thumb

    def _fire(
        self,
        t: float,
        hits: dict[str, tuple[float, Unit]],
        image: NDArray[np.uint8] | None,
        *,
        direct: bool = False,
    ) -> list[AnomalyEvent]:
        # A watchdog tick (direct) speaks only about signal loss; a frame about all kinds.
        kinds = ("signal_loss",) if direct else KINDS
        events = []
        for kind in kinds:
            if kind not in hits:
                self._since.pop(kind, None)
                self._latches[kind].update(t, ())
                continue
            since = self._since.setdefault(kind, t)
            held = direct or t - since >= self.config.persist_s
            if not self._latches[kind].update(t, ("on",) if held else ()):
                continue
            value, unit = hits[kind]
            events.append(
                AnomalyEvent(
                    kind=f"tamper_{kind}",
                    camera=self.camera,
                    rule=f"tamper-{kind}".replace("_", "-"),
                    zone=None,
                    timestamp=t,
                    value=float(value),
                    unit=unit,
                    frame=image,
                    detail={"measures": dict(self.last_measures)},
                )
            )
        return events
