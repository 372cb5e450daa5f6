"""The rule engine: one camera's rules, run on its tracked detections frame by frame."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from detectors.detections import NO_TRACK, Detections
from pipeline.anomaly.base import FrameView, RuleCheck, TrackState
from pipeline.anomaly.events import AnomalyError, AnomalyEvent
from pipeline.anomaly.geometry import GroundPlane, inside, zone_pixels
from pipeline.anomaly.motion_rules import (
    AbandonedObjectCheck,
    FallCheck,
    NoParkingCheck,
    RunningCheck,
)
from pipeline.anomaly.zone_rules import CrowdingCheck, DwellCheck, LineCrossingCheck
from shouwang.config import COCO_CLASSES, Camera

log = logging.getLogger(__name__)

# One explicit registry: rule type → the check that evaluates it.
CHECKS: dict[str, type[RuleCheck]] = {
    "intrusion": DwellCheck,
    "loitering": DwellCheck,
    "crowding": CrowdingCheck,
    "line_crossing": LineCrossingCheck,
    "running": RunningCheck,
    "fall": FallCheck,
    "abandoned_object": AbandonedObjectCheck,
    "no_parking": NoParkingCheck,
    "vehicle_in_zone": DwellCheck,
}


class RuleEngine:
    """Runs a camera's configured rules on tracked detections: ``update`` per frame.

    The engine keeps its own small per-track memory (last ground point, a few seconds
    of ground positions in metres), so it needs nothing from the tracker but
    ``Detections.tracker_id``. Boxes without a track id (``-1``) are ignored. A track
    not seen for ``forget_after_s`` is forgotten, with every timer the rules hold for it.

    Example:
        >>> engine = RuleEngine(site.camera("b3-entrance"))  # doctest: +SKIP
        >>> for frame, dets in stream:  # doctest: +SKIP
        ...     for event in engine.update(tracker.update(dets), frame.timestamp, frame.image):
        ...         publish(event)

    Raises:
        AnomalyError: unknown time zone, or a rule class the detector does not know.
    """

    def __init__(
        self,
        camera: Camera,
        *,
        timezone: str = "Asia/Shanghai",
        class_names: Sequence[str] = COCO_CLASSES,
        forget_after_s: float = 5.0,
        history_s: float = 3.0,
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise AnomalyError(f"unknown time zone {timezone!r}") from None
        self.camera = camera
        self.forget_after_s = forget_after_s
        self.history_s = history_s
        self.ground = (
            GroundPlane.from_calibration(camera.calibration) if camera.calibration else None
        )
        index = {name: i for i, name in enumerate(class_names)}
        zones = {z.id: z for z in camera.zones}
        self.zone_polygons = {z.id: zone_pixels(z, camera.calibration) for z in camera.zones}
        self.checks: list[RuleCheck] = []
        for rule in camera.rules:
            zone = zones[rule.zone]
            names = [c for c in rule.classes if not zone.classes or c in zone.classes]
            if not rule.classes:
                names = list(zone.classes)
            missing = [n for n in names if n not in index]
            if missing:
                raise AnomalyError(
                    f"camera {camera.id!r}, rule {rule.id!r}: the detector has no class "
                    f"{missing[0]!r}"
                )
            ids = frozenset(index[n] for n in names) if (rule.classes or zone.classes) else None
            check = CHECKS[rule.type](rule, zone, self.zone_polygons[zone.id], ids)
            self.checks.append(check)
        self._area_zones = [z.id for z in camera.zones if z.kind != "line"]
        self.tracks: dict[int, TrackState] = {}
        self._last_ground: dict[int, tuple[float, float]] = {}
        self._was_active = [True] * len(self.checks)

    def update(
        self, dets: Detections, timestamp: float, frame_image: NDArray[np.uint8] | None
    ) -> list[AnomalyEvent]:
        """Feed one frame's tracked detections; return the events it raises.

        Args:
            dets: this frame's detections with ``tracker_id`` set by the tracker.
            timestamp: capture time, seconds since the epoch (schedules use the site's
                time zone; timers use differences, so any monotonic clock works for them).
            frame_image: the frame (BGR), kept by reference as the proof in events.
        """
        dets = dets[dets.tracker_id != NO_TRACK] if len(dets) else dets
        view = self._view(dets, timestamp, frame_image)
        events: list[AnomalyEvent] = []
        for k, check in enumerate(self.checks):
            if not check.active(view.local_time):
                if self._was_active[k]:
                    check.reset()
                self._was_active[k] = False
                continue
            self._was_active[k] = True
            events.extend(check.check(view))
        self._expire(timestamp)
        for e in events:
            log.info(
                "anomaly %s on camera %s: %s",
                e.kind,
                e.camera,
                e.describe(),
                extra={"camera": e.camera, "rule": e.rule},
            )
        return events

    def _view(self, dets: Detections, t: float, image: NDArray[np.uint8] | None) -> FrameView:
        xyxy = dets.xyxy.astype(np.float64)
        ground = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]])
        centre = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2])
        tids = [int(x) for x in dets.tracker_id]
        prev = np.array(
            [self._last_ground.get(tid, (np.nan, np.nan)) for tid in tids], dtype=np.float64
        ).reshape(-1, 2)
        metres = self.ground.to_metres(ground) if self.ground is not None else None
        for k, tid in enumerate(tids):
            st = self.tracks.get(tid)
            if st is None:
                st = self.tracks[tid] = TrackState(first_seen=t, last_seen=t)
            st.last_seen = t
            self._last_ground[tid] = (float(ground[k, 0]), float(ground[k, 1]))
            if metres is not None and np.isfinite(metres[k]).all():
                st.metres.append((t, float(metres[k, 0]), float(metres[k, 1])))
                while st.metres and t - st.metres[0][0] > self.history_s:
                    st.metres.popleft()
        return FrameView(
            timestamp=t,
            local_time=datetime.fromtimestamp(t, self.tz).time(),
            dets=dets,
            image=image,
            ground=ground,
            prev_ground=prev,
            centre=centre,
            inside={z: inside(ground, self.zone_polygons[z]) for z in self._area_zones},
            tracks=self.tracks,
            camera=self.camera.id,
            metres=metres,
            px_per_m=self.ground.pixels_per_metre(ground) if self.ground is not None else None,
        )

    def _expire(self, t: float) -> None:
        gone = [tid for tid, st in self.tracks.items() if t - st.last_seen > self.forget_after_s]
        for tid in gone:
            del self.tracks[tid]
            self._last_ground.pop(tid, None)
            for check in self.checks:
                check.forget(tid)
