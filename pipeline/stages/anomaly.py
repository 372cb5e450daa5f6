"""Anomaly rules, camera tamper and the optional scene score, as findings."""

from __future__ import annotations

from collections.abc import Mapping

from detectors.detections import Detections
from pipeline.anomaly import AnomalyEvent, RuleEngine
from pipeline.anomaly.scene import SceneScorer
from pipeline.anomaly.tamper import TamperDetector
from pipeline.events import DEFAULT_SEVERITY, Finding
from streams.frame import Frame

# Rule type (``Camera.rules[].type``) → alert type. Line crossings become alerts only
# when the rule names a direction (the forbidden one); "any" is counting, not an alert.
ALERT_TYPES: dict[str, str] = {
    "intrusion": "zone.intrusion",
    "loitering": "zone.loitering",
    "crowding": "zone.crowding",
    "line_crossing": "line.wrong_way",
    "fall": "person.fall",
    "running": "person.running",
    "abandoned_object": "object.abandoned",
    "no_parking": "vehicle.no_parking",
    "vehicle_in_zone": "vehicle.pedestrian_zone",
}


class AnomalyStage:
    """Runs one camera's :class:`RuleEngine` (and tamper / scene checks) per frame.

    Args:
        engine: the camera's rule engine (``RuleEngine(site.camera(id), ...)``).
        class_names: detector class id → name, for the alert subject.
        tamper: covered / defocused / moved camera checks, or None.
        scene: the scene anomaly scorer, or None (it is optional per site).
    """

    name = "anomaly"

    def __init__(
        self,
        engine: RuleEngine,
        class_names: Mapping[int, str],
        *,
        tamper: TamperDetector | None = None,
        scene: SceneScorer | None = None,
    ) -> None:
        self.engine = engine
        self.class_names = dict(class_names)
        self.tamper = tamper
        self.scene = scene
        if scene is not None and scene.ground is None:
            scene.ground = engine.ground  # object speeds in m/s where the camera is calibrated
        self._directions = {
            r.id: getattr(r, "direction", "any")
            for r in engine.camera.rules
            if r.type == "line_crossing"
        }

    def update(self, frame: Frame, dets: Detections) -> list[Finding]:
        """Rule events, tamper and scene events of this frame, as findings."""
        events = self.engine.update(dets, frame.captured_at, frame.image)
        if self.tamper is not None:
            events += self.tamper.update(frame.image, frame.captured_at)
        if self.scene is not None:
            events += self.scene.update(frame.image, frame.captured_at, dets).events
        out: list[Finding] = []
        for ev in events:
            finding = self._finding(frame.camera_id, ev, dets)
            if finding is not None:
                out.append(finding)
        return out

    def _finding(self, camera: str, ev: AnomalyEvent, dets: Detections) -> Finding | None:
        if ev.kind.startswith("tamper_") or ev.kind == "scene":
            whole = "camera.tamper" if ev.kind != "scene" else "scene.anomaly"
            return Finding(
                kind=whole,
                severity=DEFAULT_SEVERITY[whole],
                camera_id=camera,
                subject={"kind": "scene", "rule": ev.kind, "score": float(ev.value)},
                measured={ev.unit: float(ev.value)},
                dedup_key=f"{whole}:{camera}:{ev.kind}",
            )
        alert_type = ALERT_TYPES.get(ev.kind)
        if alert_type is None:
            return None
        kind = alert_type
        if ev.kind == "line_crossing" and self._directions.get(ev.rule, "any") == "any":
            return None  # a counting line, not a wrong-way alert
        tid = ev.track_ids[0] if ev.track_ids else None
        box = tuple(float(v) for v in ev.boxes[0]) if len(ev.boxes) else None
        class_name = ""
        if tid is not None and len(dets):
            hit = dets.class_id[dets.tracker_id == tid]
            if len(hit):
                class_name = self.class_names.get(int(hit[0]), str(int(hit[0])))
        subject = {
            "kind": "track",
            "track_id": int(tid) if tid is not None else -1,
            "class_name": class_name or "object",
            "rule": ev.rule,
            "zone": ev.zone,
            "value": float(ev.value),
        }
        return Finding(
            kind=kind,
            severity=DEFAULT_SEVERITY[kind],
            camera_id=camera,
            track_id=tid,
            box=(box[0], box[1], box[2], box[3]) if box is not None else None,
            zone=ev.zone,
            subject=subject,
            measured={ev.unit: float(ev.value)},
            # One incident per rule (and zone) while it keeps firing: a guard wants "people
            # on the flower bed" once with updates, not one alert per (re-)tracked person.
            dedup_key=f"{kind}:{camera}:{ev.rule}",
        )
