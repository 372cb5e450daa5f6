"""What every rule check sees per frame, its contract, and the shared bookkeeping."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import time

import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections
from pipeline.anomaly.events import AnomalyEvent, Unit
from pipeline.anomaly.geometry import Points
from shouwang.config import Rule, Zone


@dataclass(slots=True)
class TrackState:
    """The engine's own memory of one track: enough for speeds and crossings."""

    first_seen: float
    last_seen: float
    # (t, east_m, north_m) samples over the last few seconds, only with a calibration.
    metres: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=64))


@dataclass(slots=True)
class FrameView:
    """One frame as the rules see it: tracked boxes with precomputed geometry.

    Attributes:
        timestamp: seconds since the epoch.
        local_time: wall-clock time in the site's time zone, for schedules.
        dets: the tracked detections of this frame (``tracker_id`` >= 0).
        image: the frame, kept by reference for the event.
        ground: (n, 2) ground contact points (box bottom centres), pixels.
        prev_ground: (n, 2) each track's ground point on its previous frame (NaN if new).
        centre: (n, 2) box centres, pixels.
        inside: zone id → (n,) mask of ground points inside that zone.
        tracks: tracker id → state.
        camera: camera id.
        metres: (n, 2) ground points in metres east/north, None without a calibration
            (NaN for points beyond the horizon).
        px_per_m: (n,) image scale at each ground point (pixels per metre), or None.
    """

    timestamp: float
    local_time: time
    dets: Detections
    image: NDArray[np.uint8] | None
    ground: Points
    prev_ground: Points
    centre: Points
    inside: dict[str, NDArray[np.bool_]]
    tracks: dict[int, TrackState]
    camera: str
    metres: Points | None = None
    px_per_m: NDArray[np.float64] | None = None


class Latch:
    """Turns a condition that holds over many frames into one event per incident.

    A key (a track id, or the zone) fires when its condition becomes true, then stays
    quiet while the condition holds; once it ends the key re-arms, but never fires again
    sooner than ``cooldown_s`` after its last event.
    """

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._holding: set[Hashable] = set()
        self._last: dict[Hashable, float] = {}

    def update(self, t: float, true_keys: Iterable[Hashable]) -> list[Hashable]:
        """Keys whose condition holds now; returns those that fire."""
        now = set(true_keys)
        self._holding &= now
        fire = []
        for k in now - self._holding:
            if t - self._last.get(k, -np.inf) >= self.cooldown_s:
                fire.append(k)
                self._holding.add(k)
                self._last[k] = t
        return fire

    def forget(self, key: Hashable) -> None:
        """Drop a key whose track has ended."""
        self._holding.discard(key)
        self._last.pop(key, None)


class RuleCheck(ABC):
    """One configured rule, evaluated frame by frame: ``check(view) -> events``."""

    def __init__(
        self,
        rule: Rule,
        zone: Zone,
        polygon: Points,
        class_ids: frozenset[int] | None,
    ) -> None:
        self.rule = rule
        self.zone = zone
        self.polygon = polygon
        self.class_ids = class_ids  # None: every class counts
        self.latch = Latch(rule.cooldown_s)
        self.setup()

    def setup(self) -> None:  # noqa: B027  (optional hook, not abstract)
        """Create the subclass's own timers (called once by ``__init__``)."""

    def active(self, t: time) -> bool:
        """Both the rule's and its zone's schedules allow it now."""
        return all(s is None or s.active(t) for s in (self.rule.schedule, self.zone.schedule))

    def counted(self, view: FrameView) -> NDArray[np.bool_]:
        """Boxes of a counted class whose ground point is in the zone."""
        mask = view.inside[self.zone.id].copy()
        if self.class_ids is not None:
            mask &= np.isin(view.dets.class_id, list(self.class_ids))
        return mask

    @abstractmethod
    def check(self, view: FrameView) -> list[AnomalyEvent]:
        """Events raised by this frame."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all timers (the schedule closed)."""

    def forget(self, tid: int) -> None:
        """Forget a track that ended; subclasses drop their per-track timers too."""
        self.latch.forget(tid)

    def event(
        self,
        view: FrameView,
        rows: list[int],
        value: float,
        unit: Unit,
        **detail: object,
    ) -> AnomalyEvent:
        """An event of this rule about the given rows of ``view.dets``."""
        return AnomalyEvent(
            kind=self.rule.type,
            camera=view.camera,
            rule=self.rule.id,
            zone=self.zone.id,
            timestamp=view.timestamp,
            value=float(value),
            unit=unit,
            track_ids=tuple(int(view.dets.tracker_id[i]) for i in rows),
            boxes=view.dets.xyxy[rows].copy(),
            frame=view.image,
            detail=dict(detail),
        )


class Stillness:
    """Per-key anchor point and the time since when a point stayed near it."""

    def __init__(self) -> None:
        self._anchor: dict[Hashable, tuple[float, float, float]] = {}

    def since(self, key: Hashable, p: NDArray[np.float64], t: float, tol: float) -> float:
        """When ``key`` arrived where it is now (within ``tol``); the anchor moves with it."""
        a = self._anchor.get(key)
        if a is None or np.hypot(p[0] - a[0], p[1] - a[1]) > tol:
            self._anchor[key] = (float(p[0]), float(p[1]), t)
            return t
        return a[2]

    def forget(self, key: Hashable) -> None:
        """Drop a key."""
        self._anchor.pop(key, None)

    def clear(self) -> None:
        """Drop every key."""
        self._anchor.clear()
