"""Rules about presence in a zone: intrusion, loitering, crowding, line crossing."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pipeline.anomaly.base import FrameView, RuleCheck
from pipeline.anomaly.events import AnomalyEvent
from pipeline.anomaly.geometry import crossing, side
from shouwang.config.rules import (
    CrowdingRule,
    IntrusionRule,
    LineCrossingRule,
    LoiteringRule,
    VehicleInZoneRule,
)


class DwellCheck(RuleCheck):
    """Intrusion, loitering, vehicle in a pedestrian zone: a track inside long enough.

    Time in the zone counts from the first frame the track's ground point was seen
    inside; a frame where the track is missing (occlusion) does not reset it, a frame
    where it is seen outside does.
    """

    rule: IntrusionRule | LoiteringRule | VehicleInZoneRule

    def setup(self) -> None:
        self._entered: dict[int, float] = {}
        r = self.rule
        self.threshold = r.seconds if isinstance(r, LoiteringRule) else r.min_seconds

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        mask = self.counted(view)
        tids = view.dets.tracker_id
        for i in np.flatnonzero(~mask):
            self._entered.pop(int(tids[i]), None)
        due: dict[int, int] = {}
        for i in np.flatnonzero(mask):
            tid = int(tids[i])
            since = self._entered.setdefault(tid, t)
            if t - since >= self.threshold:
                due[tid] = int(i)
        return [
            self.event(view, [due[k]], t - self._entered[k], "seconds")
            for k in self.latch.update(t, due)
            if isinstance(k, int)
        ]

    def reset(self) -> None:
        self._entered.clear()

    def forget(self, tid: int) -> None:
        super().forget(tid)
        self._entered.pop(tid, None)


class CrowdingCheck(RuleCheck):
    """At least ``count`` counted objects in the zone together for ``seconds``."""

    rule: CrowdingRule

    def setup(self) -> None:
        self._since: float | None = None

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        rows = np.flatnonzero(self.counted(view))
        if len(rows) < self.rule.count:
            self._since = None
            self.latch.update(t, ())
            return []
        if self._since is None:
            self._since = t
        if t - self._since < self.rule.seconds or not self.latch.update(t, ("zone",)):
            return []
        return [
            self.event(view, [int(i) for i in rows], len(rows), "count", seconds=t - self._since)
        ]

    def reset(self) -> None:
        self._since = None


class LineCrossingCheck(RuleCheck):
    """A track's ground point stepping across the line, in the configured direction."""

    rule: LineCrossingRule

    def setup(self) -> None:
        self._last: dict[int, float] = {}
        # Each track's last ground point that was off the line: a point exactly on it
        # belongs to neither side, so a step onto the line and off again still counts.
        self._off: dict[int, NDArray[np.float64]] = {}

    def counted(self, view: FrameView) -> NDArray[np.bool_]:
        # A line has no inside: every box of a counted class may cross it.
        if self.class_ids is None:
            return np.ones(len(view.dets), dtype=bool)
        return np.isin(view.dets.class_id, list(self.class_ids))

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        a, b = self.polygon[0], self.polygon[1]
        rows = np.flatnonzero(self.counted(view))
        sides = side(a, b, view.ground[rows])
        events = []
        for i, s in zip(rows, sides, strict=True):
            if s == 0:
                continue
            tid = int(view.dets.tracker_id[i])
            p0 = self._off.get(tid)
            p1 = self._off[tid] = view.ground[i]
            way = None if p0 is None else crossing(a, b, p0, p1)
            if way is None or self.rule.direction not in ("any", way):
                continue
            if t - self._last.get(tid, -np.inf) < self.rule.cooldown_s:
                continue
            self._last[tid] = t
            events.append(self.event(view, [int(i)], 1, "count", direction=way))
        return events

    def reset(self) -> None:
        """Crossings are instantaneous; there is no timer to reset."""

    def forget(self, tid: int) -> None:
        super().forget(tid)
        self._last.pop(tid, None)
        self._off.pop(tid, None)
