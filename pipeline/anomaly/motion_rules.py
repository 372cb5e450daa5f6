"""Rules about how tracks move: running, fall, abandoned object, no parking."""

from __future__ import annotations

import numpy as np

from pipeline.anomaly.base import FrameView, RuleCheck, Stillness
from pipeline.anomaly.events import AnomalyEvent
from shouwang.config.rules import AbandonedObjectRule, FallRule, NoParkingRule, RunningRule

PERSON = 0  # COCO class id of a person


class RunningCheck(RuleCheck):
    """Ground speed (m/s through the calibration) above a threshold for ``min_seconds``.

    The speed at a frame is the straight-line ground distance covered over the last
    second (at least half a second of track history), which smooths box jitter.
    """

    rule: RunningRule
    window_s = 1.0

    def setup(self) -> None:
        self._fast_since: dict[int, float] = {}

    def speed(self, view: FrameView, tid: int) -> float | None:
        """The track's current ground speed in m/s, or None without enough history."""
        hist = view.tracks[tid].metres
        if len(hist) < 2:
            return None
        t1, e1, n1 = hist[-1]
        for t0, e0, n0 in hist:  # noqa: B007  (the first sample in the window is kept)
            if t1 - t0 <= self.window_s:
                break
        if t1 - t0 < self.window_s / 2:
            return None
        return float(np.hypot(e1 - e0, n1 - n0) / (t1 - t0))

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        due: dict[int, tuple[int, float]] = {}
        rows = np.flatnonzero(self.counted(view))
        seen = set()
        for i in rows:
            tid = int(view.dets.tracker_id[i])
            v = self.speed(view, tid)
            if v is None or not v > self.rule.speed_mps:
                continue
            seen.add(tid)
            since = self._fast_since.setdefault(tid, t)
            if t - since >= self.rule.min_seconds:
                due[tid] = (int(i), v)
        for tid in set(self._fast_since) - seen:
            del self._fast_since[tid]
        out = []
        for k in self.latch.update(t, due):
            if isinstance(k, int):
                row, v = due[k]
                out.append(self.event(view, [row], v, "m/s", threshold=self.rule.speed_mps))
        return out

    def reset(self) -> None:
        self._fast_since.clear()

    def forget(self, tid: int) -> None:
        super().forget(tid)
        self._fast_since.pop(tid, None)


class FallCheck(RuleCheck):
    """A person's box going from upright to lying within ``transition_s``, then still.

    Box aspect (width / height) is the cue: at or below ``upright_aspect`` the person is
    standing, at or above ``lying_aspect`` lying. The event needs both the transition and
    ``still_seconds`` of lying without the box centre moving more than ``max_motion`` of
    the box's longer side, which keeps people bending over or sitting down out of it.
    """

    rule: FallRule

    def setup(self) -> None:
        self._upright_at: dict[int, float] = {}
        self._fell_at: dict[int, float] = {}
        self._still = Stillness()

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        r = self.rule
        xyxy = view.dets.xyxy
        due: dict[int, tuple[int, float]] = {}
        for i in np.flatnonzero(self.counted(view)):
            tid = int(view.dets.tracker_id[i])
            w, h = float(xyxy[i, 2] - xyxy[i, 0]), float(xyxy[i, 3] - xyxy[i, 1])
            aspect = w / max(h, 1e-6)
            if aspect <= r.upright_aspect:
                self._upright_at[tid] = t
                self._fell_at.pop(tid, None)
                continue
            if aspect < r.lying_aspect:
                continue  # in between: bending, sitting, or mid-fall
            if tid not in self._fell_at:
                up = self._upright_at.get(tid)
                if up is None or t - up > r.transition_s:
                    continue  # lying since we first saw it: not a fall we witnessed
                self._fell_at[tid] = t
            still = self._still.since(tid, view.centre[i], t, r.max_motion * max(w, h))
            lying_still = t - max(still, self._fell_at[tid])
            if lying_still >= r.still_seconds:
                due[tid] = (int(i), lying_still)
        out = []
        for k in self.latch.update(t, due):
            if isinstance(k, int):
                row, secs = due[k]
                out.append(self.event(view, [row], secs, "seconds", fell_at=self._fell_at[k]))
        return out

    def reset(self) -> None:
        self._upright_at.clear()
        self._fell_at.clear()
        self._still.clear()

    def forget(self, tid: int) -> None:
        super().forget(tid)
        self._upright_at.pop(tid, None)
        self._fell_at.pop(tid, None)
        self._still.forget(tid)


class AbandonedObjectCheck(RuleCheck):
    """A bag-like object stationary in the zone with no person near it for ``seconds``.

    "Near" is the distance between ground points (box bottom centres) in pixels; people
    anywhere in the frame count as owners, not only those inside the zone.
    """

    rule: AbandonedObjectRule

    def setup(self) -> None:
        self._still = Stillness()
        self._alone_since: dict[int, float] = {}

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        r = self.rule
        objects = np.flatnonzero(self.counted(view) & (view.dets.class_id != PERSON))
        people = view.ground[view.dets.class_id == PERSON]
        due: dict[int, tuple[int, float, float]] = {}
        for i in objects:
            tid = int(view.dets.tracker_id[i])
            still = self._still.since(tid, view.centre[i], t, r.max_motion_px)
            gap = np.hypot(*(people - view.ground[i]).T) if len(people) else np.array([np.inf])
            nearest = float(gap.min())
            if nearest <= r.owner_distance_px:
                self._alone_since.pop(tid, None)
                continue
            alone = t - max(still, self._alone_since.setdefault(tid, t))
            if alone >= r.seconds:
                due[tid] = (int(i), alone, nearest)
        out = []
        for k in self.latch.update(t, due):
            if isinstance(k, int):
                row, secs, nearest = due[k]
                out.append(self.event(view, [row], secs, "seconds", nearest_person_px=nearest))
        return out

    def reset(self) -> None:
        self._still.clear()
        self._alone_since.clear()

    def forget(self, tid: int) -> None:
        super().forget(tid)
        self._still.forget(tid)
        self._alone_since.pop(tid, None)


class NoParkingCheck(RuleCheck):
    """A vehicle whose box centre stays put inside the zone for ``seconds``."""

    rule: NoParkingRule

    def setup(self) -> None:
        self._still = Stillness()

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        due: dict[int, tuple[int, float]] = {}
        for i in np.flatnonzero(self.counted(view)):
            tid = int(view.dets.tracker_id[i])
            stopped = t - self._still.since(tid, view.centre[i], t, self.rule.max_motion_px)
            if stopped >= self.rule.seconds:
                due[tid] = (int(i), stopped)
        out = []
        for k in self.latch.update(t, due):
            if isinstance(k, int):
                row, secs = due[k]
                out.append(self.event(view, [row], secs, "seconds"))
        return out

    def reset(self) -> None:
        self._still.clear()

    def forget(self, tid: int) -> None:
        super().forget(tid)
        self._still.forget(tid)
