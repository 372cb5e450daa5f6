"""Watchlist faces: person tracks → faces → per-track matching → ``face.watchlist``."""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from detectors.detections import NO_TRACK, Detections
from detectors.faces import FaceAnalyzer, TrackFaceMatcher
from pipeline.events import Finding
from pipeline.stages.hires import MainStream
from streams.frame import Frame

PERSON = 0  # COCO class id


class FaceStage:
    """Finds faces on a camera's person tracks and matches each track once.

    A face belongs to the person track whose box holds the face centre in its upper
    half (the smallest such box when people overlap); faces outside every person track
    are ignored, so a poster on a wall raises nothing. The analyzer runs at most every
    ``every_s`` seconds per camera, and only while some person track is unmatched.
    Only matches of kind ``persons_of_interest`` in ``lists`` become findings (a
    resident recognised is not an alert); the composition root adds the police watch
    list there, whose hits carry the watch order id as the entry.

    Args:
        analyzer: the shared face analyzer (detect, gate, embed).
        matcher: this camera's track matcher (over the shared watchlist matcher).
        lists: ids of the persons-of-interest watchlists this camera watches (and the
            police list id, ``alerts.keys.POLICE_FACE_LIST``, on a worker).
        main: the camera's main stream, when detection runs on a sub-stream.
        min_face_px: faces narrower than this on the detection stream are looked for on
            the main stream (when there is one).
        idle: when given and true, nothing could raise an alert now (e.g. a residents'
            face camera while no police face order is in force): the analyzer is not run.
    """

    name = "faces"

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        matcher: TrackFaceMatcher,
        lists: Collection[str],
        *,
        main: MainStream | None = None,
        every_s: float = 0.2,
        person_class: int = PERSON,
        min_face_px: float = 40.0,
        idle: Callable[[], bool] | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.matcher = matcher
        self.lists = frozenset(lists)
        self.main = main
        self.every_s = every_s
        self.person_class = person_class
        self.min_face_px = min_face_px
        self.idle = idle
        self._last = -1e18
        self._matched: set[int] = set()
        self.analyses = 0

    def update(self, frame: Frame, dets: Detections) -> list[Finding]:
        """Match this frame's faces to person tracks; a finding per newly matched track."""
        people = dets[(dets.class_id == self.person_class) & (dets.tracker_id != NO_TRACK)]
        open_tracks = [int(t) for t in people.tracker_id if int(t) not in self._matched]
        if not open_tracks or frame.captured_at - self._last < self.every_s:
            return []
        if self.idle is not None and self.idle():
            return []
        self._last = frame.captured_at
        image, scale = frame.image, 1.0
        if self.main is not None:
            small = people.xyxy[:, 2] - people.xyxy[:, 0]
            # a face is roughly a third of a person's width
            if len(small) and float(small.min()) / 3 < self.min_face_px:
                image, scale = self.main.image_for(frame)
        faces = self.analyzer.analyze(image)
        self.analyses += 1
        if not len(faces):
            return []
        boxes = faces.xyxy / scale
        faces = Detections(
            xyxy=boxes.astype(np.float32),
            confidence=faces.confidence,
            class_id=faces.class_id,
            tracker_id=self._assign(boxes, people),
            data=faces.data,
        )
        out: list[Finding] = []
        for ev in self.matcher.update(faces):
            self._matched.add(ev.track_id)
            if ev.kind != "persons_of_interest" or ev.list_id not in self.lists:
                continue
            row = int(np.flatnonzero(people.tracker_id == ev.track_id)[0])
            x1, y1, x2, y2 = (float(v) for v in people.xyxy[row])
            out.append(
                Finding(
                    kind="face.watchlist",
                    severity="high",
                    camera_id=frame.camera_id,
                    track_id=ev.track_id,
                    box=(x1, y1, x2, y2),
                    subject={
                        "kind": "face",
                        "watchlist_id": ev.list_id,
                        "person_id": str(ev.entry_id),
                        "person_label": ev.name,
                        "similarity": float(ev.similarity),
                        "threshold": float(ev.threshold),
                        "track_id": ev.track_id,
                    },
                    measured={"similarity": float(ev.similarity), "faces": float(ev.n_faces)},
                    dedup_key=f"face.watchlist:{frame.camera_id}:{ev.list_id}:{ev.entry_id}",
                )
            )
        return out

    @staticmethod
    def _assign(faces: np.ndarray, people: Detections) -> np.ndarray:
        """Person track id for every face (``NO_TRACK`` when none holds it)."""
        ids = np.full(len(faces), NO_TRACK, dtype=np.int64)
        if not len(people):
            return ids
        p = people.xyxy.astype(np.float64)
        cx = (faces[:, 0] + faces[:, 2]) / 2
        cy = (faces[:, 1] + faces[:, 3]) / 2
        upper = p[:, 1] + (p[:, 3] - p[:, 1]) * 0.5
        area = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
        for i in range(len(faces)):
            inside = (cx[i] >= p[:, 0]) & (cx[i] <= p[:, 2]) & (cy[i] >= p[:, 1])
            inside &= cy[i] <= upper
            if inside.any():
                cand = np.flatnonzero(inside)
                ids[i] = int(people.tracker_id[cand[np.argmin(area[cand])]])
        return ids
