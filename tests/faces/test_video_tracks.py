"""End to end on a real clip: enrol from a still, match per track, one event per track."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from detectors.detections import Detections
from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.enrol import enrol
from detectors.faces.matcher import WatchlistMatcher
from detectors.faces.tracking import TrackFaceMatcher
from detectors.faces.watchlist import WatchlistStore
from shouwang.config.site import WatchlistRef


class _IouTracks:
    """The smallest tracker that can drive the test (the real one lives in pipeline/)."""

    def __init__(self) -> None:
        self.boxes: dict[int, np.ndarray] = {}
        self.next_id = 1

    def update(self, faces: Detections) -> Detections:
        ids = []
        for box in faces.xyxy:
            best, best_iou = None, 0.3
            for tid, prev in self.boxes.items():
                iou = _iou(box, prev)
                if iou > best_iou and tid not in ids:
                    best, best_iou = tid, iou
            if best is None:
                best, self.next_id = self.next_id, self.next_id + 1
            ids.append(best)
            self.boxes[best] = box
        return Detections(faces.xyxy, faces.confidence, faces.class_id, np.array(ids), faces.data)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.timeout(600)  # the default embedder runs four models per face
def test_one_event_per_track_on_the_hamilton_clip(
    shared_data: Path, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    faces_dir = shared_data / "faces"
    store = WatchlistStore(tmp_path)
    store.ensure_list(WatchlistRef(id="poi", kind="persons_of_interest"))
    enrol(store, analyzer, "poi", "lin", [faces_dir / "face_recognition/lin_manuel_miranda_01.jpg"])
    wm = WatchlistMatcher.from_store(store, analyzer.embedder.name)
    tm = TrackFaceMatcher(wm)
    tracks = _IouTracks()
    events, accepted = [], 0
    with av.open(str(faces_dir / "video/short_hamilton_clip.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 6:  # every 6th frame (5 per second) keeps the test short
                continue
            image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            faces = tracks.update(analyzer.analyze(image))
            accepted += int((faces.data["skip_reason"] == "").sum())
            events += tm.update(faces)
    assert events, "Lin-Manuel Miranda appears in the clip and should be matched"
    assert all(e.name == "lin" and e.list_id == "poi" for e in events)
    assert len({e.track_id for e in events}) == len(events)  # one event per track
    assert tm.searches < accepted  # matched per track, not per face
    # the default embedder end to end: removal takes him out of the running matcher
    matched = next(e for e in events)
    store.remove_entry("poi", "lin")
    assert tm.matcher.refresh()
    assert wm.best(np.ones(analyzer.embedder.dim, np.float32)) is None
    assert matched.threshold == wm.default_threshold
