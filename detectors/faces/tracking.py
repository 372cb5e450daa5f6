"""Per-track matching: keep a track's best faces, match them, emit one event per track.

Matching every frame wastes CPU and raises false alarms (the worst frame of a track is
as likely to cross the threshold as the best). Instead each track keeps its ``top_k``
best-quality embeddings; whenever that set improves, their mean (re-normalised, the
usual template aggregation) is matched once. The first match emits one
:class:`MatchEvent` and the track is settled; later frames of it cost nothing.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from detectors.detections import NO_TRACK, Detections
from detectors.faces.analyzer import ACCEPTED
from detectors.faces.embedder import l2_normalise
from detectors.faces.matcher import FaceMatcherLike


class TrackMatchConfig(BaseModel):
    """How tracks are matched."""

    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(default=3, ge=1, le=32, description="best faces kept per track")
    min_faces: int = Field(default=1, ge=1, le=32, description="faces needed before matching")
    max_tracks: int = Field(
        default=4096, ge=1, description="tracks remembered; the least recently seen is dropped"
    )
    refresh_s: float = Field(
        default=5.0, ge=0, description="seconds between checks for watchlist changes"
    )


@dataclass(frozen=True, slots=True)
class MatchEvent:
    """One track recognised as a watchlist entry."""

    track_id: int
    list_id: str
    kind: str
    entry_id: int | str  # see Match.entry_id
    name: str
    similarity: float
    threshold: float
    n_faces: int  # faces aggregated for the decision
    best_quality: float


@dataclass(slots=True)
class _Track:
    best: list[tuple[float, int, NDArray[np.float32]]] = field(default_factory=list)
    counter: int = 0
    dirty: bool = False
    settled: bool = False


class TrackFaceMatcher:
    """Feeds tracked faces in, gets at most one match event per track out.

    Example:
        >>> tm = TrackFaceMatcher(WatchlistMatcher.from_store(store, "dlib-resnet-128"))
        >>> for faces in tracked_face_stream:      # Detections with tracker_id set
        ...     for event in tm.update(faces):
        ...         publish(event)
    """

    def __init__(self, matcher: FaceMatcherLike, config: TrackMatchConfig | None = None) -> None:
        self.matcher = matcher
        self.config = config or TrackMatchConfig()
        self._tracks: OrderedDict[int, _Track] = OrderedDict()
        self._checked = time.monotonic()
        self.searches = 0  # how many 1:N searches ran (for metrics and tests)

    def update(self, faces: Detections) -> list[MatchEvent]:
        """Add one frame's faces (from :class:`FaceAnalyzer`, with ``tracker_id`` set)."""
        now = time.monotonic()
        if now - self._checked >= self.config.refresh_s:
            self._checked = now
            # Enrolments, removals and watch orders reach a running worker; a person
            # already in view is matched again against what changed.
            if self.matcher.refresh():
                for tr in self._tracks.values():
                    tr.dirty = tr.dirty or (not tr.settled and bool(tr.best))
        if not len(faces):
            return []
        reasons = faces.data["skip_reason"]
        quality = faces.data["quality"]
        emb = faces.data["embedding"]
        touched: list[int] = []
        for i in range(len(faces)):
            tid = int(faces.tracker_id[i])
            if tid == NO_TRACK or reasons[i] != ACCEPTED:
                continue
            tr = self._track(tid)
            if tr.settled:
                continue
            tr.counter += 1
            item = (float(quality[i]), tr.counter, emb[i])
            if len(tr.best) < self.config.top_k:
                heapq.heappush(tr.best, item)
                tr.dirty = True
            elif item[0] > tr.best[0][0]:
                heapq.heapreplace(tr.best, item)
                tr.dirty = True
            touched.append(tid)
        events = []
        for tid in dict.fromkeys(touched):
            ev = self._decide(tid, self._tracks[tid])
            if ev is not None:
                events.append(ev)
        return events

    def forget(self, track_id: int) -> None:
        """Drop a finished track's faces."""
        self._tracks.pop(track_id, None)

    def _track(self, tid: int) -> _Track:
        tr = self._tracks.get(tid)
        if tr is None:
            tr = self._tracks[tid] = _Track()
            while len(self._tracks) > self.config.max_tracks:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(tid)
        return tr

    def _decide(self, tid: int, tr: _Track) -> MatchEvent | None:
        if not tr.dirty or len(tr.best) < self.config.min_faces:
            return None
        tr.dirty = False
        template = l2_normalise(np.mean([e for _, _, e in tr.best], axis=0, keepdims=True))[0]
        self.searches += 1
        m = self.matcher.match(template)
        if m is None:
            return None
        n_faces, best_q = len(tr.best), max(q for q, _, _ in tr.best)
        tr.settled = True
        tr.best.clear()  # nothing more of this person is needed
        return MatchEvent(
            track_id=tid,
            list_id=m.list_id,
            kind=m.kind,
            entry_id=m.entry_id,
            name=m.name,
            similarity=m.similarity,
            threshold=m.threshold,
            n_faces=n_faces,
            best_quality=best_q,
        )
