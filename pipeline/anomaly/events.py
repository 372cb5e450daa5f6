"""The event every anomaly source (rules, scene score, tamper) emits, and the root error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

Unit = Literal["seconds", "count", "m/s", "score", "none"]


class AnomalyError(Exception):
    """The anomaly stage was given something it cannot use (zone, calibration, image)."""


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """One incident: what happened, where, how much, and the frame that proves it.

    Attributes:
        kind: the rule type (``intrusion``, ``loitering``, ...), ``scene`` for the scene
            anomaly score, or ``tamper_<what>`` for camera tamper.
        camera: camera id.
        rule: id of the rule in the site file (the detector name for scene/tamper).
        zone: zone id, or ``None`` for whole-frame events.
        timestamp: seconds since the epoch of the frame that raised it.
        value: the measured quantity (time in zone, count, ground speed, score, ...).
        unit: the unit of ``value``.
        track_ids: the track(s) involved, empty for whole-frame events.
        boxes: (n, 4) float32 xyxy boxes of those tracks in that frame.
        frame: the image that proves it. A reference to the frame the stage was given,
            not a copy: a caller that reuses its buffers must copy it (or call
            :meth:`jpeg`) before the next frame.
        detail: small extra facts (``direction``, ``threshold``, ...).
    """

    kind: str
    camera: str
    rule: str
    zone: str | None
    timestamp: float
    value: float
    unit: Unit
    track_ids: tuple[int, ...] = ()
    boxes: NDArray[np.float32] = field(default_factory=lambda: np.empty((0, 4), np.float32))
    frame: NDArray[np.uint8] | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def jpeg(self, quality: int = 85) -> bytes:
        """The proving frame as JPEG bytes, with the event's boxes drawn in red.

        Raises:
            AnomalyError: the event carries no frame or it cannot be encoded.
        """
        if self.frame is None:
            raise AnomalyError(f"{self.kind} event on camera {self.camera!r} has no frame")
        img = np.ascontiguousarray(self.frame).copy()
        for x1, y1, x2, y2 in self.boxes.astype(int):
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (0, 0, 255), 2)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise AnomalyError(f"cannot encode the frame of a {self.kind} event as JPEG")
        return bytes(buf.tobytes())

    def describe(self) -> str:
        """One line for logs and the demo, e.g. ``loitering lobby-door track 7: 31.0 seconds``."""
        who = f" track {','.join(map(str, self.track_ids))}" if self.track_ids else ""
        where = f" {self.zone}" if self.zone else ""
        way = f" ({self.detail['direction']})" if "direction" in self.detail else ""
        return f"{self.kind}{where}{who}: {self.value:.1f} {self.unit}{way}"
