"""Plates: vehicle tracks (or the whole frame at a gate) → reader → per-track vote →
plate lists → ``plate.blacklist`` / ``plate.visitor``.

At a gate camera every decided pass, list hit or not, is also handed to ``on_read`` as
a :class:`PassRead` (the vehicle access log: "when did 宁A12345 last enter?").

The reader, voter and lists come from ``detectors.plates``; this module only needs
their shapes (the protocols below), so it holds no model and the composition root
decides which reader to use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from detectors.detections import NO_TRACK, Detections
from pipeline.events import Finding
from pipeline.stages.hires import MainStream
from streams.frame import Frame

log = logging.getLogger(__name__)

VEHICLES = frozenset({2, 3, 5, 7})  # COCO car, motorcycle, bus, truck
GATE_TRACK = 0  # the pass key of plates read on a gate camera outside any vehicle track


class PlateReadingLike(Protocol):
    """One plate read in one frame (``detectors.plates.reader.PlateReading``)."""

    @property
    def text(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def xyxy(self) -> tuple[float, float, float, float]: ...


class PassLike(Protocol):
    """A vehicle pass's voted reading (``detectors.plates.voting.PassReading``)."""

    @property
    def text(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def n_frames(self) -> int: ...
    @property
    def low_confidence(self) -> bool: ...


class ListMatchLike(Protocol):
    """A plate list hit (``detectors.plates.lists.ListMatch``)."""

    @property
    def list_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def entry(self) -> str: ...
    @property
    def distance(self) -> float: ...


class PlateReaderLike(Protocol):
    """Reads every plate in an image, inside vehicle boxes when given."""

    def read(
        self, image: NDArray[np.uint8], vehicles: Detections | None = None
    ) -> Sequence[PlateReadingLike]: ...


class VoterLike(Protocol):
    """Per-track voting over a vehicle's readings."""

    # ``reading`` is whatever the reader returned (typed loosely: a voter accepts only
    # its own reader's readings, which a protocol parameter cannot express).
    def add(self, track_id: int, reading: Any) -> PassLike | None: ...
    def finish(self, track_id: int) -> PassLike | None: ...


class PlateListsLike(Protocol):
    """The site's plate lists: every list's closest entry, blacklists first."""

    def match(self, plate: str) -> Sequence[ListMatchLike]: ...


@dataclass(frozen=True, slots=True)
class PassRead:
    """A decided vehicle pass at a gate camera: every one, list hit or not.

    Attributes:
        box: the plate's box in the analysis frame's pixels (last reading), if known.
        list_id, list_kind: the camera's list hit, when there was one.
    """

    camera_id: str
    text: str
    confidence: float
    low_confidence: bool
    n_frames: int
    captured_at: float
    box: tuple[float, float, float, float] | None
    track_id: int | None
    list_id: str | None
    list_kind: str | None


class PlateStage:
    """Reads plates on one camera and raises list hits once per vehicle pass.

    A pass is decided after ``decide_after`` readings of its track, or when the track
    has not been seen for ``finish_after_s`` (then with whatever readings it had). The
    voted text is matched against the camera's lists: a blacklist hit raises
    ``plate.blacklist``, a visitor list hit ``plate.visitor``; residents and unknown
    plates raise nothing. Passes the voter flags ``low_confidence`` raise nothing.

    Args:
        reader: the plate reader (one per worker thread: it is not thread-safe).
        make_voter: a fresh voter for this camera.
        lists: the site's plate lists.
        list_ids: the lists this camera checks (``Camera.plate_lists``).
        gate: read the whole frame when no vehicle is tracked (gate cameras look at
            plates up close, often with the vehicle larger than the frame).
        main: the camera's main stream, read instead when vehicles are small.
        every_s: at most one read per this many seconds per camera.
        on_read: called with every decided pass when ``gate`` is set (the access log);
            an exception it raises is logged, never the stage's end.
    """

    name = "plates"

    def __init__(
        self,
        reader: PlateReaderLike,
        make_voter: Callable[[], VoterLike],
        lists: PlateListsLike,
        list_ids: Collection[str],
        *,
        gate: bool = False,
        main: MainStream | None = None,
        decide_after: int = 3,
        finish_after_s: float = 1.5,
        every_s: float = 0.2,
        min_vehicle_px: float = 200.0,
        on_read: Callable[[Frame, PassRead], None] | None = None,
    ) -> None:
        self.reader = reader
        self.voter = make_voter()
        self.lists = lists
        self.list_ids = frozenset(list_ids)
        self.gate = gate
        self.main = main
        self.decide_after = decide_after
        self.finish_after_s = finish_after_s
        self.every_s = every_s
        self.min_vehicle_px = min_vehicle_px
        self.on_read = on_read
        self._last = -1e18
        self._count: dict[int, int] = {}
        self._seen: dict[int, tuple[float, tuple[float, float, float, float]]] = {}
        self._decided: set[int] = set()
        self.reads = 0

    def update(self, frame: Frame, dets: Detections) -> list[Finding]:
        """Read this frame's plates; findings for passes decided now."""
        out: list[Finding] = []
        now = frame.captured_at
        for gone in [t for t, (seen, _) in self._seen.items() if now - seen > self.finish_after_s]:
            out += self._decide(frame, gone)
            self._seen.pop(gone, None)
            self._count.pop(gone, None)
        vehicles = dets[np.isin(dets.class_id, list(VEHICLES)) & (dets.tracker_id != NO_TRACK)]
        open_v = vehicles[~np.isin(vehicles.tracker_id, list(self._decided))]
        if now - self._last < self.every_s or (not len(open_v) and not self.gate):
            return out
        self._last = now
        image, scale = frame.image, 1.0
        if self.main is not None and len(open_v):
            widths = open_v.xyxy[:, 2] - open_v.xyxy[:, 0]
            if float(widths.min()) < self.min_vehicle_px:
                image, scale = self.main.image_for(frame)
        scaled = None
        if len(open_v):
            scaled = Detections(
                xyxy=(open_v.xyxy * scale).astype(np.float32),
                confidence=open_v.confidence,
                class_id=open_v.class_id,
                tracker_id=open_v.tracker_id,
            )
        readings = self.reader.read(image, scaled)
        self.reads += 1
        for r in readings:
            box = tuple(float(v) / scale for v in r.xyxy)
            owner = self._track_of(box, open_v)
            if owner is None or owner in self._decided:
                continue
            tid = owner
            self.voter.add(tid, r)
            self._seen[tid] = (now, (box[0], box[1], box[2], box[3]))
            self._count[tid] = self._count.get(tid, 0) + 1
            if self._count[tid] >= self.decide_after:
                out += self._decide(frame, tid)
        return out

    def _track_of(self, box: tuple[float, ...], vehicles: Detections) -> int | None:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for i in range(len(vehicles)):
            x1, y1, x2, y2 = vehicles.xyxy[i]
            if x1 <= cx <= x2 and y1 <= cy <= y2:
                return int(vehicles.tracker_id[i])
        return GATE_TRACK if self.gate else None

    def _report(
        self,
        frame: Frame,
        tid: int,
        passed: PassLike,
        box: tuple[float, float, float, float] | None,
        hits: Sequence[ListMatchLike],
    ) -> None:
        if self.on_read is None:
            return
        hit = hits[0] if hits else None
        read = PassRead(
            camera_id=frame.camera_id,
            text=passed.text,
            confidence=float(min(1.0, max(0.0, passed.confidence))),
            low_confidence=passed.low_confidence,
            n_frames=passed.n_frames,
            captured_at=frame.captured_at,
            box=box,
            track_id=None if tid == GATE_TRACK else tid,
            list_id=hit.list_id if hit else None,
            list_kind=hit.kind if hit else None,
        )
        try:
            self.on_read(frame, read)
        except Exception:  # the access log must never stop plate alerts
            log.exception("camera %s: plate read not recorded", frame.camera_id)

    def _decide(self, frame: Frame, tid: int) -> list[Finding]:
        passed = self.voter.finish(tid)
        seen = self._seen.get(tid)
        if tid != GATE_TRACK:
            self._decided.add(tid)
        else:  # the gate lane takes the next vehicle
            self._seen.pop(tid, None)
            self._count.pop(tid, None)
        if passed is None:
            return []
        hits = [m for m in self.lists.match(passed.text) if m.list_id in self.list_ids]
        if self.gate and self.on_read is not None:
            self._report(frame, tid, passed, seen[1] if seen is not None else None, hits)
        if passed.low_confidence:
            return []
        hit = next((m for m in hits if m.kind in ("blacklist", "visitor")), None)
        if hit is None:
            return []
        kind = "plate.blacklist" if hit.kind == "blacklist" else "plate.visitor"
        return [
            Finding(
                kind=kind,
                severity="high" if kind == "plate.blacklist" else "info",
                camera_id=frame.camera_id,
                track_id=None if tid == GATE_TRACK else tid,
                box=seen[1] if seen is not None else None,
                subject={
                    "kind": "plate",
                    "plate": passed.text,
                    "confidence": float(min(1.0, max(0.0, passed.confidence))),
                    "list_id": hit.list_id,
                    "list_kind": hit.kind,
                    "list_entry": hit.entry,
                    "distance": float(hit.distance),
                    "track_id": None if tid == GATE_TRACK else tid,
                },
                measured={"confidence": float(passed.confidence), "frames": passed.n_frames},
                dedup_key=f"{kind}:{frame.camera_id}:{hit.entry}",
            )
        ]
