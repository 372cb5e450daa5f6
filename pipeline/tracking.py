"""Multi-object tracking: stable ids and per-track history on top of ByteTrack.

The association itself is Roboflow's ``trackers.ByteTrackTracker`` (the ByteTrack that
used to ship inside ``supervision`` as ``sv.ByteTrack`` and moved to the ``trackers``
package; supervision 0.31 no longer has it). This module adds what a security pipeline
needs around it:

- one verb, :meth:`Tracker.update`, on our :class:`~detectors.detections.Detections`
  (every ``data`` column stays aligned with its box through the library's re-ordering);
- a tracker per class group, so a person and a car never swap ids, with ids unique
  across groups;
- a :class:`Track` record per id: first and last seen, a bounded history of
  (timestamp, box, ground point), the best crop so far for recognition later, and its
  state (active, lost, finished); :meth:`Tracker.finished` hands over ended tracks once.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import supervision as sv
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from trackers import ByteTrackTracker

from detectors.detections import NO_TRACK, Detections

TrackState = Literal["active", "lost", "finished"]

# COCO ids: people apart from everything on wheels.
DEFAULT_CLASS_GROUPS: list[list[int]] = [[0], [1, 2, 3, 5, 7]]
_ROW = "_tracking_row"  # index column carried through the library to re-align ``data``
_BYTETRACK_FPS = 30.0  # the library counts its lost-track buffer in 30 fps frames


class TrackerConfig(BaseModel):
    """ByteTrack and history settings; defaults suit 5-30 fps street cameras."""

    model_config = ConfigDict(extra="forbid")

    frame_rate: float = Field(
        default=10.0, gt=0, le=240, description="camera frame rate (frames per second)"
    )
    track_activation_threshold: float = Field(
        default=0.5, ge=0, le=1, description="confidence a detection needs to start a track"
    )
    high_conf_det_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="ByteTrack's first-stage split: boxes at or above are matched first, "
        "the rest only rescue tracks left unmatched",
    )
    minimum_matching_iou: float = Field(
        default=0.1, ge=0, le=1, description="least IoU between a prediction and a detection"
    )
    lost_track_seconds: float = Field(
        default=1.5, ge=0, le=60, description="how long a lost track may be re-found"
    )
    minimum_consecutive_frames: int = Field(
        default=2, ge=1, le=30, description="matches in a row before a track gets an id"
    )
    class_groups: list[list[int]] = Field(
        default_factory=lambda: [list(g) for g in DEFAULT_CLASS_GROUPS],
        description="class ids tracked together; a class in no group is tracked alone",
    )
    history_length: int = Field(
        default=300, ge=1, le=100_000, description="positions kept per track (oldest dropped)"
    )
    crop_max_side: int = Field(
        default=256, ge=16, le=4096, description="best crops are shrunk to this longest side"
    )
    finished_buffer: int = Field(
        default=10_000,
        ge=1,
        description="ended tracks kept for finished(); when full the oldest is dropped",
    )

    @field_validator("class_groups")
    @classmethod
    def _disjoint(cls, groups: list[list[int]]) -> list[list[int]]:
        seen: set[int] = set()
        for g in groups:
            if not g:
                raise ValueError("class_groups: a group must name at least one class id")
            if seen & set(g):
                raise ValueError(
                    f"class_groups: class ids {sorted(seen & set(g))} are in two groups"
                )
            seen |= set(g)
        return groups


@dataclass
class Track:
    """One tracked object over time.

    Attributes:
        id: the tracker id, unique within one :class:`Tracker`.
        class_id: the class of the detection that confirmed the track.
        first_seen: timestamp (seconds) of the first detection with this id.
        last_seen: timestamp of the latest detection with this id.
        history: bounded (timestamp, xyxy, bottom-centre point) entries, oldest first.
        best_crop: BGR copy of the best-scoring view so far (confidence x area), or None.
        best_score: the score of ``best_crop``.
        state: ``active`` (seen this frame), ``lost`` (kept for re-finding) or ``finished``.
        hits: frames in which the track was matched.
        confidence: the detector's score at the latest match.
        extra: free room for later stages (a plate reading, a face match) to annotate
            the track; the tracker never reads it.
    """

    id: int
    class_id: int
    first_seen: float
    last_seen: float
    history: deque[tuple[float, NDArray[np.float32], NDArray[np.float32]]]
    best_crop: NDArray[np.uint8] | None = None
    best_score: float = -1.0
    state: TrackState = "active"
    hits: int = 0
    confidence: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last_box(self) -> NDArray[np.float32]:
        """The latest box, xyxy."""
        return self.history[-1][1]

    @property
    def points(self) -> NDArray[np.float32]:
        """(k, 2) bottom-centre points of the history, oldest first."""
        return np.asarray([p for _, _, p in self.history], dtype=np.float32).reshape(-1, 2)


class Tracker:
    """ByteTrack per class group with per-track history.

    Example:
        >>> tracker = Tracker(TrackerConfig(frame_rate=10))
        >>> tracked = tracker.update(dets, timestamp=0.1, image=frame)  # doctest: +SKIP
        >>> tracked.tracker_id  # doctest: +SKIP
        array([1, 2])
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._group_of: dict[int, int] = {
            c: gi for gi, g in enumerate(self.config.class_groups) for c in g
        }
        self._engines: dict[int, ByteTrackTracker] = {}
        self._ids: dict[tuple[int, int], int] = {}  # (group, library id) -> our id
        self._next_id = itertools.count(1)
        self.tracks: dict[int, Track] = {}
        self._finished: deque[Track] = deque(maxlen=self.config.finished_buffer)
        self._last_timestamp: float | None = None

    def update(
        self, dets: Detections, timestamp: float, image: NDArray[np.uint8] | None = None
    ) -> Detections:
        """Associate one frame's detections with the tracks.

        Args:
            dets: this frame's detections (any ``tracker_id`` they carry is replaced).
            timestamp: the frame time in seconds; must increase from call to call. Gaps
                (frames skipped by motion gating) are predicted over by the Kalman filter.
            image: the BGR frame, when best crops should be kept.

        Returns:
            The detections that belong to a confirmed track, ``tracker_id`` set and every
            ``data`` column still aligned; detections not (yet) in a track are left out.

        Raises:
            ValueError: the timestamp does not increase.
        """
        if self._last_timestamp is not None and timestamp <= self._last_timestamp:
            raise ValueError(
                f"timestamp: expected more than the previous {self._last_timestamp}, "
                f"got {timestamp}"
            )
        self._last_timestamp = timestamp
        rows = np.arange(len(dets))
        groups = np.array([self._group_key(int(c)) for c in dets.class_id], dtype=np.int64)
        parts: list[Detections] = []
        for key in sorted(set(groups.tolist()) | set(self._engines)):
            sel = rows[groups == key]
            parts.append(self._update_group(key, dets, sel, timestamp))
        out = Detections.merge(parts)
        if len(out):
            out = out[np.argsort(out.data[_ROW], kind="stable")]
        else:  # keep the caller's data columns, with no rows
            out = dets[np.zeros(len(dets), dtype=bool)]
        self._refresh(out, timestamp, image)
        if _ROW in out.data:
            out = Detections(
                xyxy=out.xyxy,
                confidence=out.confidence,
                class_id=out.class_id,
                tracker_id=out.tracker_id,
                data={k: v for k, v in out.data.items() if k != _ROW},
            )
        return out

    def finished(self) -> list[Track]:
        """Tracks that ended since the last call (each handed over once)."""
        done = list(self._finished)
        self._finished.clear()
        return done

    def close(self) -> list[Track]:
        """End every open track (the stream stopped) and return all unreported ends."""
        for track in list(self.tracks.values()):
            self._finish(track)
        return self.finished()

    def _group_key(self, class_id: int) -> int:
        g = self._group_of.get(class_id)
        return g if g is not None else len(self.config.class_groups) + class_id

    def _engine(self, key: int) -> ByteTrackTracker:
        engine = self._engines.get(key)
        if engine is None:
            c = self.config
            engine = ByteTrackTracker(
                lost_track_buffer=round(c.lost_track_seconds * _BYTETRACK_FPS),
                frame_rate=c.frame_rate,
                track_activation_threshold=c.track_activation_threshold,
                minimum_consecutive_frames=c.minimum_consecutive_frames,
                minimum_iou_threshold=c.minimum_matching_iou,
                high_conf_det_threshold=c.high_conf_det_threshold,
            )
            self._engines[key] = engine
        return engine

    def _update_group(
        self, key: int, dets: Detections, sel: NDArray[np.int64], timestamp: float
    ) -> Detections:
        engine = self._engine(key)
        svd = sv.Detections(
            xyxy=dets.xyxy[sel].astype(np.float64).reshape(-1, 4),
            confidence=dets.confidence[sel].astype(np.float64),
            class_id=dets.class_id[sel].astype(int),
            data={_ROW: sel.astype(np.int64)},
        )
        result = engine.update(svd, timestamp=timestamp)
        lib_ids = np.asarray(result.tracker_id, dtype=np.int64).reshape(-1)
        back = np.asarray(result.data.get(_ROW, np.empty(0)), dtype=np.int64).reshape(-1)
        confirmed = lib_ids != NO_TRACK
        back, lib_ids = back[confirmed], lib_ids[confirmed]
        alive = {int(t.tracker_id) for t in engine.tracks if t.tracker_id != NO_TRACK}
        for (g, lib_id), our in list(self._ids.items()):
            if g == key and lib_id not in alive:
                del self._ids[(g, lib_id)]
                if our in self.tracks:
                    self._finish(self.tracks[our])
        ours = np.array([self._our_id(key, int(i)) for i in lib_ids], dtype=np.int64)
        picked = dets[back]
        return Detections(
            xyxy=picked.xyxy,
            confidence=picked.confidence,
            class_id=picked.class_id,
            tracker_id=ours,
            data={**picked.data, _ROW: back},
        )

    def _our_id(self, group: int, lib_id: int) -> int:
        key = (group, lib_id)
        if key not in self._ids:
            self._ids[key] = next(self._next_id)
        return self._ids[key]

    def _refresh(self, out: Detections, ts: float, image: NDArray[np.uint8] | None) -> None:
        seen: set[int] = set()
        points = out.bottom_center
        scores = out.confidence * out.area
        for i in out:
            tid = int(out.tracker_id[i])
            seen.add(tid)
            box = out.xyxy[i].copy()
            track = self.tracks.get(tid)
            if track is None:
                track = Track(
                    id=tid,
                    class_id=int(out.class_id[i]),
                    first_seen=ts,
                    last_seen=ts,
                    history=deque(maxlen=self.config.history_length),
                )
                self.tracks[tid] = track
            track.last_seen = ts
            track.state = "active"
            track.hits += 1
            track.confidence = float(out.confidence[i])
            track.history.append((ts, box, points[i].copy()))
            if image is not None and float(scores[i]) > track.best_score:
                crop = _crop(image, box, self.config.crop_max_side)
                if crop is not None:
                    track.best_crop, track.best_score = crop, float(scores[i])
        for tid, track in self.tracks.items():
            if tid not in seen:
                track.state = "lost"

    def _finish(self, track: Track) -> None:
        track.state = "finished"
        self.tracks.pop(track.id, None)
        self._finished.append(track)


def _crop(
    image: NDArray[np.uint8], box: Sequence[float], max_side: int
) -> NDArray[np.uint8] | None:
    """A copy of the box's pixels, shrunk so its longest side is at most ``max_side``."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1:
        return None
    crop = image[y1:y2, x1:x2]
    side = max(crop.shape[:2])
    if side > max_side:
        scale = max_side / side
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        return np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return np.array(crop, dtype=np.uint8, copy=True)
