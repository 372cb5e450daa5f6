"""Rules about how tracks move: running, fall, abandoned object, no parking."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

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
    """A person who was standing is down within ``transition_s``, then stays down and still.

    With a calibration the posture is the person's height in metres: the box height over
    the image scale (pixels per metre) at their ground point, so a child far away and an
    adult near the camera are judged alike; stillness is the ground point moving less than
    ``max_motion_m``. Without one (the fallback) the box aspect (width / height) decides:
    at or below ``upright_aspect`` standing, at or above ``lying_aspect`` down, and still is
    the box centre moving less than ``max_motion`` of the box's longer side. Both need the
    transition *and* ``still_seconds`` down, which keeps people bending over, sitting down
    slowly or walking past out of it.
    """

    rule: FallRule

    def setup(self) -> None:
        self._upright_at: dict[int, float] = {}
        self._fell_at: dict[int, float] = {}
        self._still = Stillness()

    def _posture(self, view: FrameView, i: int) -> tuple[str, NDArray[np.float64], float, float]:
        """("up" / "down" / "between", stillness point, tolerance, height) of row ``i``."""
        r = self.rule
        x1, y1, x2, y2 = (float(v) for v in view.dets.xyxy[i])
        w, h = x2 - x1, y2 - y1
        if view.metres is not None and view.px_per_m is not None:
            scale, foot = float(view.px_per_m[i]), view.metres[i]
            if np.isfinite(scale) and scale > 0 and np.isfinite(foot).all():
                height = h / scale
                pose = "up" if height >= r.upright_min_m else "between"
                pose = "down" if height <= r.lying_max_m else pose
                return pose, foot, r.max_motion_m, height
        aspect = w / max(h, 1e-6)
        pose = "up" if aspect <= r.upright_aspect else "between"
        pose = "down" if aspect >= r.lying_aspect else pose
        return pose, view.centre[i], r.max_motion * max(w, h), aspect

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        r = self.rule
        due: dict[int, tuple[int, float, float]] = {}
        for i in np.flatnonzero(self.counted(view)):
            tid = int(view.dets.tracker_id[i])
            pose, point, tol, size = self._posture(view, int(i))
            if pose == "up":
                self._upright_at[tid] = t
                self._fell_at.pop(tid, None)
                continue
            if pose == "between":
                continue  # bending, sitting, or mid-fall
            if tid not in self._fell_at:
                up = self._upright_at.get(tid)
                if up is None or t - up > r.transition_s:
                    continue  # down since we first saw it: not a fall we witnessed
                self._fell_at[tid] = t
            still = self._still.since(tid, point, t, tol)
            lying_still = t - max(still, self._fell_at[tid])
            if lying_still >= r.still_seconds:
                due[tid] = (int(i), lying_still, size)
        out = []
        metric = view.metres is not None
        for k in self.latch.update(t, due):
            if isinstance(k, int):
                row, secs, size = due[k]
                measured = {"height_m": round(size, 2)} if metric else {"aspect": round(size, 2)}
                out.append(
                    self.event(view, [row], secs, "seconds", fell_at=self._fell_at[k], **measured)
                )
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

    "Near" is the distance between ground points (box bottom centres): in metres on the
    ground plane when the camera has a calibration (``owner_distance_m``; stillness within
    ``max_motion_m``), in pixels otherwise (the fallback keys). People anywhere in the
    frame count as owners, not only those inside the zone.
    """

    rule: AbandonedObjectRule

    def setup(self) -> None:
        self._still = Stillness()
        self._alone_since: dict[int, float] = {}

    def check(self, view: FrameView) -> list[AnomalyEvent]:
        t = view.timestamp
        r = self.rule
        metric = view.metres is not None
        points = view.metres if view.metres is not None else view.ground
        owner = r.owner_distance_m if metric else r.owner_distance_px
        tol = r.max_motion_m if metric else r.max_motion_px
        objects = np.flatnonzero(self.counted(view) & (view.dets.class_id != PERSON))
        people = points[view.dets.class_id == PERSON]
        due: dict[int, tuple[int, float, float]] = {}
        for i in objects:
            if not np.isfinite(points[i]).all():
                continue  # beyond the calibrated ground
            tid = int(view.dets.tracker_id[i])
            still = self._still.since(tid, points[i] if metric else view.centre[i], t, tol)
            gap = np.hypot(*(people - points[i]).T) if len(people) else np.array([np.inf])
            nearest = float(np.nan_to_num(gap, nan=np.inf).min())
            if nearest <= owner:
                self._alone_since.pop(tid, None)
                continue
            alone = t - max(still, self._alone_since.setdefault(tid, t))
            if alone >= r.seconds:
                due[tid] = (int(i), alone, nearest)
        out = []
        key = "nearest_person_m" if metric else "nearest_person_px"
        for k in self.latch.update(t, due):
            if isinstance(k, int):
                row, secs, nearest = due[k]
                out.append(self.event(view, [row], secs, "seconds", **{key: nearest}))
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
